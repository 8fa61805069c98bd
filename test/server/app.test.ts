import { afterEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { HookRoute } from '../../hooks/server/routes.ts';
import { environmentRequest, testApp, type TestApp } from '../support/app.ts';

let current: TestApp | undefined;
afterEach(async () => {
  await current?.app.close();
  current = undefined;
});

function start(options: Parameters<typeof testApp>[0] = {}): TestApp {
  current = testApp(options);
  return current;
}

describe('hook routes', () => {
  it('answers an Environment sync with the Deployment, Service, Ingress and Certificate', async () => {
    const { app } = start();
    const response = await app.inject({ method: 'POST', url: '/hooks/environment/sync', payload: environmentRequest });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/application\/json/);
    const body = response.json() as { children: Array<{ kind: string }>; status: Record<string, unknown> };
    expect(body.children.map((child) => child.kind)).toEqual(['Deployment', 'Service', 'Ingress', 'Certificate']);
    expect(Object.keys(body).sort()).toEqual(['children', 'status']);
  });

  it('keeps unknown fields of the objects it receives (no stripping by the envelope schema)', async () => {
    const seen: unknown[] = [];
    const routes: HookRoute[] = [
      { controller: 'echo', hook: 'sync', envelope: 'composite', handle: (body) => (seen.push(body), { status: {}, children: [] }) },
    ];
    const { app } = start({ routes });
    const payload = {
      ...environmentRequest,
      parent: { ...environmentRequest.parent, spec: { ...environmentRequest.parent.spec, futureField: { nested: [1, 'two'] } }, extra: true },
      unknownEnvelopeField: 'kept',
    };
    const response = await app.inject({ method: 'POST', url: '/hooks/echo/sync', payload });
    expect(response.statusCode).toBe(200);
    expect(seen[0]).toEqual(payload);
  });

  it('sends only the fields Metacontroller accepts in a reply', async () => {
    const routes: HookRoute[] = [
      { controller: 'echo', hook: 'sync', envelope: 'composite', handle: () => ({ status: { a: 1 }, children: [], debug: 'x', resyncAfterSeconds: 5 }) },
      { controller: 'echo', hook: 'customize', envelope: 'customize', handle: () => ({ relatedResources: [], status: {} }) },
    ];
    const { app } = start({ routes });
    const sync = await app.inject({ method: 'POST', url: '/hooks/echo/sync', payload: environmentRequest });
    expect(sync.json()).toEqual({ status: { a: 1 }, children: [], resyncAfterSeconds: 5 });
    const customize = await app.inject({ method: 'POST', url: '/hooks/echo/customize', payload: { parent: environmentRequest.parent } });
    expect(customize.json()).toEqual({ relatedResources: [] });
  });

  it('gives 400 with a one-line message for malformed JSON', async () => {
    const { app } = start();
    const response = await app.inject({
      method: 'POST',
      url: '/hooks/environment/sync',
      headers: { 'content-type': 'application/json' },
      payload: '{"parent": ',
    });
    expect(response.statusCode).toBe(400);
    const body = response.json() as { message: string };
    expect(body.message).toMatch(/JSON/);
    expect(body.message).not.toMatch(/\n/);
  });

  it.each([
    ['no parent', {}, /body must have required property 'parent'/],
    ['parent without metadata', { parent: { apiVersion: 'v1', kind: 'X' } }, /body\.parent must have required property 'metadata'/],
    ['parent name not a string', { parent: { apiVersion: 'v1', kind: 'X', metadata: { name: 5 } } }, /body\.parent\.metadata\.name must be string/],
    ['children not an object', { ...environmentRequest, children: [] }, /body\.children must be object/],
  ])('gives 400 for an envelope that does not fit: %s', async (_name, payload, message) => {
    const { app } = start();
    const response = await app.inject({ method: 'POST', url: '/hooks/environment/sync', payload });
    expect(response.statusCode).toBe(400);
    expect((response.json() as { message: string }).message).toMatch(message);
  });

  it('gives 415 for a body that is not JSON and 404 for an unknown hook', async () => {
    const { app } = start();
    const text = await app.inject({ method: 'POST', url: '/hooks/environment/sync', headers: { 'content-type': 'text/plain' }, payload: 'hello' });
    expect(text.statusCode).toBe(415);
    const unknown = await app.inject({ method: 'POST', url: '/hooks/nothing/sync', payload: environmentRequest });
    expect(unknown.statusCode).toBe(404);
  });

  it('gives 413 above the body limit', async () => {
    const { app } = start({ config: { bodyLimitBytes: 2048 } });
    const payload = { ...environmentRequest, parent: { ...environmentRequest.parent, metadata: { ...environmentRequest.parent.metadata, annotations: { big: 'x'.repeat(4096) } } } };
    const response = await app.inject({ method: 'POST', url: '/hooks/environment/sync', payload });
    expect(response.statusCode).toBe(413);
  });

  it('answers an unexpected failure with 500 and a generic message; the detail goes only to the log', async () => {
    const routes: HookRoute[] = [
      {
        controller: 'broken',
        hook: 'sync',
        envelope: 'composite',
        handle: () => {
          throw new Error('database password is hunter2');
        },
      },
    ];
    const { app, logs } = start({ routes });
    const response = await app.inject({ method: 'POST', url: '/hooks/broken/sync', payload: environmentRequest });
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('hunter2');
    expect(response.json()).toEqual({ error: 'Internal Server Error', message: 'the hook failed; see the service log' });
    expect(logs.join('')).toContain('hunter2');
  });

  it('binds each request log line to controller, hook, parent and generation', async () => {
    const { app, logs } = start();
    await app.inject({ method: 'POST', url: '/hooks/environment/sync', payload: environmentRequest });
    const line = logs.map((text) => JSON.parse(text) as Record<string, unknown>).find((entry) => entry.msg === 'hook answered');
    expect(line).toMatchObject({ controller: 'environment', hook: 'sync', parent: 'shop/dev', generation: 1 });
  });
});

describe('ETag', () => {
  it('answers 304 without a body when If-None-Match is the ETag of the reply it would give', async () => {
    const { app, metrics } = start();
    const first = await app.inject({ method: 'POST', url: '/hooks/environment/sync', payload: environmentRequest });
    const etag = first.headers.etag;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    const second = await app.inject({ method: 'POST', url: '/hooks/environment/sync', payload: environmentRequest, headers: { 'if-none-match': String(etag) } });
    expect(second.statusCode).toBe(304);
    expect(second.body).toBe('');
    const changed = { ...environmentRequest, parent: { ...environmentRequest.parent, spec: { ...environmentRequest.parent.spec, image: 'registry.example.com/shop:def' } } };
    const third = await app.inject({ method: 'POST', url: '/hooks/environment/sync', payload: changed, headers: { 'if-none-match': String(etag) } });
    expect(third.statusCode).toBe(200);
    expect(third.headers.etag).not.toBe(etag);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/kapsa_hook_requests_total\{controller="environment",hook="sync",outcome="not_modified"\} 1/);
  });
});

describe('webhook authentication', () => {
  it('refuses hook calls without the bearer token and leaves health and metrics open', async () => {
    const { app } = start({ token: 's3cret-token' });
    const none = await app.inject({ method: 'POST', url: '/hooks/environment/sync', payload: environmentRequest });
    expect(none.statusCode).toBe(401);
    expect(none.body).not.toContain('token');
    const wrong = await app.inject({ method: 'POST', url: '/hooks/environment/sync', payload: environmentRequest, headers: { authorization: 'Bearer s3cret-tokeN' } });
    expect(wrong.statusCode).toBe(401);
    const prefix = await app.inject({ method: 'POST', url: '/hooks/environment/sync', payload: environmentRequest, headers: { authorization: 'Bearer s3cret' } });
    expect(prefix.statusCode).toBe(401);
    const right = await app.inject({ method: 'POST', url: '/hooks/environment/sync', payload: environmentRequest, headers: { authorization: 'Bearer s3cret-token' } });
    expect(right.statusCode).toBe(200);
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(200);
  });
});

describe('health and metrics', () => {
  it('serves /healthz, /readyz (503 once shutting down) and /metrics with the Kapsa metrics', async () => {
    const { app } = start();
    expect((await app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
    await app.inject({ method: 'POST', url: '/hooks/environment/sync', payload: environmentRequest });
    await app.inject({ method: 'POST', url: '/hooks/environment/sync', payload: {} });
    const metrics = await app.inject({ url: '/metrics' });
    expect(metrics.headers['content-type']).toMatch(/text\/plain/);
    for (const name of [
      'kapsa_projects_total',
      'kapsa_project_reconcile_total',
      'kapsa_project_reconcile_duration_seconds',
      'kapsa_environments_total',
      'kapsa_builds_total',
      'kapsa_git_poll_total',
      'kapsa_hook_requests_total',
      'kapsa_hook_request_duration_seconds',
      'kapsa_hook_request_bytes_total',
    ]) {
      expect(metrics.body).toContain(`# TYPE ${name}`);
    }
    expect(metrics.body).toMatch(/kapsa_hook_requests_total\{controller="environment",hook="sync",outcome="ok"\} 1/);
    expect(metrics.body).toMatch(/kapsa_hook_requests_total\{controller="environment",hook="sync",outcome="bad_request"\} 1/);
    expect(metrics.body).toMatch(/kapsa_environments_total\{phase="Deploying"\} 1/);
    // Only the request the hook accepted is counted, by its body size.
    expect(metrics.body).toContain(`kapsa_hook_request_bytes_total{controller="environment",hook="sync"} ${Buffer.byteLength(JSON.stringify(environmentRequest))}`);
    app.markShuttingDown();
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(503);
  });

  it('leaves /metrics out when metrics are disabled', async () => {
    const { app } = start({ config: { metricsEnabled: false } });
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(404);
  });
});

describe('a real listening server', () => {
  it('serves a sync over HTTP (supertest)', async () => {
    const { app } = start();
    await app.listen({ port: 0, host: '127.0.0.1' });
    const response = await request(app.server).post('/hooks/environment/sync').send(environmentRequest).expect(200);
    expect((response.body as { children: unknown[] }).children).toHaveLength(4);
    await request(app.server).get('/healthz').expect(200, { status: 'ok' });
  });
});

describe('Metacontroller v2 envelopes (pkg/controller/*/api/v2/hooks.go)', () => {
  const project = {
    apiVersion: 'kapsa-project.io/v1alpha1',
    kind: 'Project',
    metadata: { name: 'shop', uid: 'u-1', creationTimestamp: '2026-11-01T00:00:00Z' },
    spec: { domain: { subdomain: 'shop', domainPoolRef: { name: 'apps' } } },
  };

  it('answers a decorator request, which names the decorated object `object` and its attachments `attachments`', async () => {
    const { app } = start();
    const response = await app.inject({
      method: 'POST',
      url: '/hooks/project-claims/sync',
      payload: { controller: { metadata: { name: 'kapsa-project-claims' } }, object: project, attachments: {}, related: {}, finalizing: false },
    });
    expect(response.statusCode).toBe(200);
    expect((response.json() as { labels: Record<string, string> }).labels['kapsa-project.io/domain-pool']).toBe('apps');
  });

  it('refuses a decorator request in the composite shape, logging controller, hook, object and reason and counting it', async () => {
    const { app, logs, metrics } = start();
    const response = await app.inject({ method: 'POST', url: '/hooks/git-poller/sync', payload: { parent: project, children: {} } });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: 'Bad Request', message: "body must have required property 'object'" });
    const refused = logs.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.msg === 'hook request refused');
    expect(refused).toMatchObject({ controller: 'git-poller', hook: 'sync', parent: 'shop', statusCode: 400, reason: "body must have required property 'object'" });
    const counted = (await metrics.hookRequests.get()).values.find((value) => value.labels.outcome === 'bad_request');
    expect(counted).toMatchObject({ labels: { controller: 'git-poller', hook: 'sync' }, value: 1 });
  });

  it('refuses a composite request in the decorator shape', async () => {
    const { app } = start();
    const response = await app.inject({ method: 'POST', url: '/hooks/environment/sync', payload: { object: environmentRequest.parent, attachments: {} } });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ message: "body must have required property 'parent'" });
  });
});

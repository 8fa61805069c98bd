// A marker Secret value goes through every hook path. It must never reach a log line (captured at
// debug level), a status, or an error message; in a reply it may appear only base64-encoded inside
// the `data` of the Secret children Kapsa is meant to copy into the project namespace.

import { afterEach, describe, expect, it } from 'vitest';
import { loadCases } from '../support/golden.ts';
import { testApp, type TestApp } from '../support/app.ts';
import { hookRoutes, type HookRoute } from '../../hooks/server/routes.ts';
import { defaultConfig } from '../../hooks/server/config.ts';
import { createMetrics } from '../../hooks/server/metrics.ts';
import { controllerDefinitions } from '../../hooks/metacontroller/definitions.ts';

type Json = Record<string, unknown>;

const MARKER = 'kapsa-marker-8c1f';
const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/**
 * True when `text` holds the marker raw or under any number (up to 4) of base64 layers, in any
 * alignment (base64 of `user:marker` or of a JSON document around it included).
 */
export function revealsMarker(text: string, depth = 0): boolean {
  if (text.includes(MARKER)) return true;
  if (depth >= 4) return false;
  for (const token of text.match(/[A-Za-z0-9+/_-]{12,}={0,2}/g) ?? []) {
    // Try the token at every 4-character alignment offset, so a marker inside a longer base64 run is found too.
    for (let offset = 0; offset < 4; offset += 1) {
      const decoded = Buffer.from(token.slice(offset).replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('latin1');
      if (revealsMarker(decoded, depth + 1)) return true;
    }
  }
  return false;
}

function secretsOf(project: Json): Json {
  return (project.related as Record<string, Record<string, Json>>)['Secret.v1'] ?? {};
}

/** The golden request with a git credential Secret shared from Kapsa's namespace, with marker values everywhere. */
function projectRequest(): Json {
  const golden = loadCases('project').find((item) => item.name === 'git-secret-shared-from-kapsa-namespace');
  if (!golden) throw new Error('golden case git-secret-shared-from-kapsa-namespace is missing');
  const request = structuredClone(golden.request) as Json;
  const secrets = secretsOf(request);
  const push = secrets['kapsa-system/registry-push'] as Json;
  push.data = { username: b64('kapsa-bot'), password: b64(MARKER) };
  const git = secrets['kapsa-system/git-creds'] as Json;
  git.data = { username: b64('bot'), password: b64(MARKER), token: b64(`ghp_${MARKER}`) };
  // The marker also rides in annotations and stringData a careless log would print.
  push.stringData = { note: MARKER };
  return request;
}

/** Secret children Kapsa copies into project namespaces: their `data` may carry the marker, encoded. */
const COPIED_SECRETS = new Set(['kapsa-registry-push', 'kapsa-git', 'kapsa-registry']);

interface Checked {
  copies: number;
}

/** Checks a reply: marker only inside `data` of copied Secret children, never raw there either. */
function checkReply(body: string): Checked {
  expect(body.includes(MARKER), 'the raw marker is in the reply').toBe(false);
  if (body === '') return { copies: 0 };
  const reply = JSON.parse(body) as Json;
  let copies = 0;
  const children = Array.isArray(reply.children) ? (reply.children as Json[]) : [];
  const rest = { ...reply, children: children.map((child) => {
    const metadata = (child.metadata ?? {}) as Json;
    if (child.kind === 'Secret' && COPIED_SECRETS.has(String(metadata.name))) {
      const data = (child.data ?? {}) as Record<string, string>;
      for (const value of Object.values(data)) {
        expect(value, 'Secret data is base64').toMatch(/^[A-Za-z0-9+/]*={0,2}$/);
        if (revealsMarker(value)) copies += 1;
      }
      expect(child.stringData, 'copies never use stringData').toBeUndefined();
      const { data: _data, ...others } = child;
      return others;
    }
    return child;
  }) };
  expect(revealsMarker(JSON.stringify(rest)), `the marker is in the reply outside copied Secret data: ${JSON.stringify(rest).slice(0, 400)}`).toBe(false);
  return { copies };
}

let current: TestApp | undefined;
afterEach(async () => {
  if (current) {
    const logs = current.logs.join('');
    current = undefined;
    expect(revealsMarker(logs), `the marker reached the log:\n${logs.slice(0, 2000)}`).toBe(false);
  }
});

function app(options: Parameters<typeof testApp>[0] = {}): TestApp {
  current = testApp({ level: 'trace', config: { gitTimeoutSeconds: 2, registryProbeTimeoutSeconds: 2 }, ...options });
  return current;
}

async function post(test: TestApp, url: string, payload: unknown, headers: Record<string, string> = {}) {
  return test.app.inject({ method: 'POST', url, payload: payload as string, headers });
}

describe('a Secret value never leaks through a hook', () => {
  it('self-check: the detector sees the marker raw, base64, double base64 and inside a dockerconfigjson', () => {
    expect(revealsMarker(MARKER)).toBe(true);
    expect(revealsMarker(b64(MARKER))).toBe(true);
    expect(revealsMarker(b64(`user:${MARKER}`))).toBe(true);
    expect(revealsMarker(b64(JSON.stringify({ auths: { 'r.example.com': { auth: b64(`u:${MARKER}`) } } })))).toBe(true);
    expect(revealsMarker('[REDACTED] nothing here c2hvcA==')).toBe(false);
  });

  it('project sync (valid): copies carry it base64-encoded in data, nowhere else', async () => {
    const test = app();
    const response = await post(test, '/hooks/project/sync', projectRequest());
    expect(response.statusCode).toBe(200);
    expect(test.logs.join(''), 'debug logging was captured').toMatch(/"level":"debug"/);
    const { copies } = checkReply(response.body);
    // Both the registry push Secret and the git credentials were copied (so the check above saw them).
    expect(copies).toBeGreaterThanOrEqual(2);
    const names = (JSON.parse(response.body) as { children: Json[] }).children.filter((child) => child.kind === 'Secret').map((child) => (child.metadata as Json).name);
    expect(names).toEqual(expect.arrayContaining(['kapsa-registry-push', 'kapsa-git']));
  });

  it('project sync (invalid spec, and a broken dockerconfigjson): status and messages stay clean', async () => {
    const test = app();
    const invalid = projectRequest();
    ((invalid.parent as Json).spec as Json).repository = { url: `not a url ${MARKER}` };
    const first = await post(test, '/hooks/project/sync', invalid);
    expect(first.statusCode).toBe(200);
    checkReply(first.body);

    const broken = projectRequest();
    const push = secretsOf(broken)['kapsa-system/registry-push'] as Json;
    push.type = 'kubernetes.io/dockerconfigjson';
    push.data = { '.dockerconfigjson': b64(`{"auths": ${MARKER}`) };
    const second = await post(test, '/hooks/project/sync', broken);
    expect(second.statusCode).toBe(200);
    checkReply(second.body);
  });

  it('project customize and git-poller customize', async () => {
    const test = app();
    const request = projectRequest();
    for (const url of ['/hooks/project/customize', '/hooks/git-poller/customize']) {
      const response = await post(test, url, { controller: {}, parent: request.parent });
      expect(response.statusCode, url).toBe(200);
      checkReply(response.body);
    }
  });

  it('git-poller sync with credentials (the poll fails; the error names no credential)', async () => {
    const test = app();
    const request = projectRequest();
    const parent = request.parent as Json;
    (((parent.spec as Json).repository as Json) as Json).url = 'https://git.example.invalid/acme/shop.git';
    const response = await post(test, '/hooks/git-poller/sync', { controller: {}, object: parent, attachments: {}, related: request.related, finalizing: false });
    expect(response.statusCode).toBe(200);
    checkReply(response.body);
    const annotations = ((JSON.parse(response.body) as Json).annotations ?? {}) as Record<string, string>;
    expect(annotations['kapsa-project.io/poll-error']).toBeTruthy();
  });

  it('registry sync (the probe fails; status stays clean), valid and with a broken Secret', async () => {
    const test = app();
    const registry = {
      apiVersion: 'kapsa-project.io/v1alpha1',
      kind: 'Registry',
      metadata: { name: 'main', generation: 1, uid: 'r-1' },
      spec: { endpoint: 'https://registry.example.invalid', auth: { secretRef: { name: 'registry-push' } } },
    };
    const secret = (data: Json, type = 'kubernetes.io/basic-auth') => ({
      'Secret.v1': { 'kapsa-system/registry-push': { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'registry-push', namespace: 'kapsa-system' }, type, data } },
    });
    for (const related of [
      secret({ username: b64('robot'), password: b64(MARKER) }),
      secret({ '.dockerconfigjson': b64(`{"auths":{"registry.example.invalid":{"auth":"${b64(`robot:${MARKER}`)}"}}}`) }, 'kubernetes.io/dockerconfigjson'),
      secret({ '.dockerconfigjson': b64(`{"auths": ${MARKER}`) }, 'kubernetes.io/dockerconfigjson'),
    ]) {
      const response = await post(test, '/hooks/registry/sync', { controller: {}, parent: registry, children: {}, related, finalizing: false });
      expect(response.statusCode).toBe(200);
      const { copies } = checkReply(response.body);
      expect(copies).toBe(0);
    }
  });

  it('environment sync with unexpected Secret children and env values', async () => {
    const test = app();
    const golden = loadCases('environment').find((item) => item.name === 'config-and-secret-refs') ?? loadCases('environment')[0];
    const request = structuredClone(golden?.request) as Json;
    request.children = {
      ...(request.children as Json),
      'Secret.v1': { 'shop/stray': { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'stray', namespace: 'shop' }, data: { password: b64(MARKER) } } },
    };
    const response = await post(test, '/hooks/environment/sync', request);
    expect(response.statusCode).toBe(200);
    const { copies } = checkReply(response.body);
    expect(copies).toBe(0);
  });

  it('requests the server refuses: invalid JSON, a bad envelope, a non-JSON body', async () => {
    const test = app();
    const invalidJson = await post(test, '/hooks/project/sync', `{"related": {"Secret.v1": "${MARKER}"`, { 'content-type': 'application/json' });
    expect(invalidJson.statusCode).toBe(400);
    checkReply(invalidJson.body);
    const badToken = await post(test, '/hooks/project/sync', `{"parent": ${MARKER}}`, { 'content-type': 'application/json' });
    expect(badToken.statusCode).toBe(400);
    checkReply(badToken.body);
    const badEnvelope = await post(test, '/hooks/project/sync', { parent: MARKER, related: { 'Secret.v1': { x: { data: { password: b64(MARKER) } } } } });
    expect(badEnvelope.statusCode).toBe(400);
    checkReply(badEnvelope.body);
    const text = await post(test, '/hooks/project/sync', MARKER, { 'content-type': 'text/plain' });
    expect(text.statusCode).toBe(415);
    checkReply(text.body);
  });

  // pino's redaction works on paths, not on text: the error handler scrubs every Secret value of
  // the request from an error's message and stack before logging it.
  it('a hook that crashes on Secret data: 500 with a generic message, and the log keeps the secret out', async () => {
    // A hook bug that trips over credential data: V8's JSON.parse error quotes its input.
    const crashing: HookRoute = {
      controller: 'crash',
      hook: 'sync',
      envelope: 'composite',
      handle: (body) => {
        const secret = secretsOf(body as Json)['kapsa-system/registry-push'] as { data: Record<string, string> };
        return JSON.parse(Buffer.from(secret.data.password ?? '', 'base64').toString('utf8')) as unknown;
      },
    };
    const test = app({ routes: [crashing] });
    const response = await post(test, '/hooks/crash/sync', projectRequest());
    expect(response.statusCode).toBe(500);
    checkReply(response.body);
    expect(response.json()).toEqual({ error: 'Internal Server Error', message: 'the hook failed; see the service log' });
  });
});

describe('unauthenticated hook calls are refused', () => {
  const TOKEN = 'kapsa-test-token-5b7e';

  it('every hook route answers 401 without the token, or with a wrong one; health and metrics stay open', async () => {
    const test = testApp({ token: TOKEN });
    // Every route the service really serves, plus every hook URL the Metacontroller definitions call.
    const served = hookRoutes({ config: defaultConfig(), metrics: createMetrics(false) }).map((route) => `/hooks/${route.controller}/${route.hook}`);
    const called = controllerDefinitions().flatMap(({ object }) =>
      Object.values(((object.spec as Json).hooks ?? {}) as Record<string, { webhook: { url: string } }>).map((hook) => new URL(hook.webhook.url).pathname),
    );
    const expected = [...new Set([...served, ...called])].sort();
    expect(served.length).toBeGreaterThanOrEqual(8);
    for (const url of expected) {
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Basic ${b64(`x:${TOKEN}`)}` }, { authorization: TOKEN }, { authorization: `Bearer ${TOKEN}x` }]) {
        const response = await test.app.inject({ method: 'POST', url, payload: { parent: {} }, headers });
        expect(response.statusCode, `${url} ${JSON.stringify(headers)}`).toBe(401);
        expect(response.body).not.toContain(TOKEN);
      }
    }
    // An unknown hook path is refused before routing, too.
    expect((await test.app.inject({ method: 'POST', url: '/hooks/unknown/sync', payload: {} })).statusCode).toBe(401);
    for (const url of ['/healthz', '/readyz', '/metrics']) expect((await test.app.inject({ url })).statusCode, url).toBe(200);
    // The right token gets through to validation.
    const ok = await test.app.inject({ method: 'POST', url: '/hooks/environment/sync', payload: {}, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.statusCode).toBe(400);
    expect(test.logs.join('')).not.toContain(TOKEN);
  });
});

// Issue 12, defect 1: the webhook token was checked against the raw request URL while the router
// decodes and normalises it, so `/%68ooks/...` or an absolute-form target reached a hook without
// the token. The token is now checked against the route the router matched. These tests spell the
// hook paths every way an attacker can, through app.inject and, since HTTP clients (and inject)
// normalise request targets, through raw sockets against a listening server.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { defaultConfig } from '../../hooks/server/config.ts';
import { createMetrics } from '../../hooks/server/metrics.ts';
import { hookRoutes } from '../../hooks/server/routes.ts';
import { environmentRequest, rawExchange, rawPost, testApp, type TestApp } from '../support/app.ts';

const TOKEN = 's3cret-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };

/**
 * How each spelling of `POST /hooks/environment/sync` fares once the token is right: 200 where the
 * router takes it for the route, 404 where it does not. light-my-request (app.inject) resolves
 * `.`, `..` (encoded or not) and absolute-form targets before fastify sees them; a raw socket
 * sends them as written.
 */
const SPELLINGS: ReadonlyArray<{ name: string; target: (port: number) => string; raw: 200 | 404; inject: 200 | 404 }> = [
  { name: 'as written', target: () => '/hooks/environment/sync', raw: 200, inject: 200 },
  { name: 'query string', target: () => '/hooks/environment/sync?x=1', raw: 200, inject: 200 },
  { name: 'query string with a path in it', target: () => '/hooks/environment/sync?/healthz', raw: 200, inject: 200 },
  { name: 'fragment', target: () => '/hooks/environment/sync#x', raw: 200, inject: 200 },
  { name: 'percent-encoded first segment', target: () => '/%68ooks/environment/sync', raw: 200, inject: 200 },
  { name: 'percent-encoded second segment', target: () => '/hooks/%65nvironment/sync', raw: 200, inject: 200 },
  { name: 'percent-encoded hook segment', target: () => '/hooks/environment/%73ync', raw: 200, inject: 200 },
  { name: 'percent-encoded everything, lower and upper hex', target: () => '/%68%6F%6f%6B%73/%65%6E%76ironment/%73%79%6e%63', raw: 200, inject: 200 },
  { name: 'encoded slash between segments', target: () => '/hooks%2Fenvironment%2Fsync', raw: 404, inject: 404 },
  { name: 'encoded slash before the hook', target: () => '/hooks/environment%2fsync', raw: 404, inject: 404 },
  { name: 'double percent-encoding', target: () => '/%2568ooks/environment/sync', raw: 404, inject: 404 },
  { name: 'encoded NUL', target: () => '/hooks/environment/sync%00', raw: 404, inject: 404 },
  { name: 'absolute form, the server address', target: (port) => `http://127.0.0.1:${port}/hooks/environment/sync`, raw: 200, inject: 200 },
  { name: 'absolute form, another host', target: () => 'http://kapsa.invalid/hooks/environment/sync', raw: 200, inject: 200 },
  { name: 'absolute form, https and percent-encoded', target: () => 'https://kapsa.invalid/%68ooks/environment/sync', raw: 200, inject: 200 },
  { name: 'absolute form with a query string', target: () => 'http://kapsa.invalid/hooks/environment/sync?x=1', raw: 200, inject: 200 },
  { name: 'leading double slash', target: () => '//hooks/environment/sync', raw: 404, inject: 404 },
  { name: 'inner double slash', target: () => '/hooks//environment/sync', raw: 404, inject: 404 },
  { name: 'trailing slash', target: () => '/hooks/environment/sync/', raw: 404, inject: 404 },
  { name: 'upper-case prefix (the router is case-sensitive)', target: () => '/HOOKS/environment/sync', raw: 404, inject: 404 },
  { name: 'upper-case hook', target: () => '/hooks/environment/SYNC', raw: 404, inject: 404 },
  { name: 'dot-dot segment', target: () => '/x/../hooks/environment/sync', raw: 404, inject: 200 },
  { name: 'encoded dot-dot segment', target: () => '/x/%2e%2e/hooks/environment/sync', raw: 404, inject: 200 },
  { name: 'dot segment', target: () => '/hooks/./environment/sync', raw: 404, inject: 200 },
  { name: 'semicolon parameter', target: () => '/hooks/environment/sync;x=1', raw: 404, inject: 404 },
  { name: 'unknown hook', target: () => '/hooks/nothing/sync', raw: 404, inject: 404 },
  { name: 'asterisk form', target: () => '*', raw: 404, inject: 404 },
];

describe('the webhook token, whatever the spelling of the hook path', () => {
  let current: TestApp;
  let port: number;
  beforeAll(async () => {
    current = testApp({ token: TOKEN });
    await current.app.listen({ port: 0, host: '127.0.0.1' });
    port = (current.app.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await current.app.close();
  });

  describe.each(SPELLINGS)('$name', ({ target, raw, inject }) => {
    it('app.inject: 401 without the token or with a wrong one; with it, the route answers', async () => {
      const url = target(port);
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: TOKEN }]) {
        const refused = await current.app.inject({ method: 'POST', url, payload: environmentRequest, headers });
        expect(refused.statusCode).toBe(401);
        expect(refused.body).not.toContain('children');
      }
      const allowed = await current.app.inject({ method: 'POST', url, payload: environmentRequest, headers: AUTH });
      expect(allowed.statusCode).toBe(inject);
      if (inject === 200) expect((allowed.json() as { children: unknown[] }).children).toHaveLength(4);
    });

    it('raw socket: 401 without the token or with a wrong one; with it, the route answers', async () => {
      const text = target(port);
      for (const headers of [{}, { Authorization: 'Bearer wrong' }] as Array<Record<string, string>>) {
        const refused = await rawExchange(port, rawPost(text, environmentRequest, headers));
        expect(refused.status).toBe(401);
        expect(refused.body).not.toContain('children');
      }
      const allowed = await rawExchange(port, rawPost(text, environmentRequest, { Authorization: `Bearer ${TOKEN}` }));
      expect(allowed.status).toBe(raw);
      if (raw === 200) expect((JSON.parse(allowed.body) as { children: unknown[] }).children).toHaveLength(4);
    });
  });

  it('covers every hook route of the service, percent-encoded and in absolute form', async () => {
    const routes = hookRoutes({ config: defaultConfig(), metrics: createMetrics(false) });
    expect(routes.length).toBeGreaterThan(5);
    for (const route of routes) {
      const path = `/hooks/${route.controller}/${route.hook}`;
      const encoded = `/%68ooks/${route.controller}/%${route.hook.charCodeAt(0).toString(16)}${route.hook.slice(1)}`;
      for (const target of [path, encoded, `http://kapsa.invalid${path}`, `http://kapsa.invalid${encoded}`]) {
        expect((await rawExchange(port, rawPost(target, { parent: {} }))).status, target).toBe(401);
        // With the token the route is reached (it refuses the empty envelope, but no longer with 401).
        expect((await rawExchange(port, rawPost(target, { parent: {} }, { Authorization: `Bearer ${TOKEN}` }))).status, target).not.toBe(401);
      }
      expect((await current.app.inject({ method: 'POST', url: encoded, payload: {} })).statusCode, encoded).toBe(401);
    }
  });

  it('needs the token for other methods on a hook path too', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'OPTIONS'] as const) {
      expect((await current.app.inject({ method, url: '/%68ooks/environment/sync' })).statusCode, method).toBe(401);
    }
  });

  it('leaves /healthz, /readyz and /metrics open in any spelling that reaches them', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      for (const url of [path, `${path}?x=1`, `/%${path.charCodeAt(1).toString(16)}${path.slice(2)}`]) {
        expect((await current.app.inject({ url })).statusCode, url).toBe(200);
      }
      expect((await current.app.inject({ method: 'HEAD', url: path })).statusCode, `HEAD ${path}`).toBe(200);
      const raw = await rawExchange(port, `GET http://kapsa.invalid${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(raw.status, `absolute-form ${path}`).toBe(200);
    }
  });

  it('counts refused calls by the route matched, and under "unknown" when none matched', async () => {
    const { app, metrics } = testApp({ token: TOKEN });
    await app.inject({ method: 'POST', url: '/%68ooks/environment/sync', payload: environmentRequest });
    await app.inject({ method: 'POST', url: '/hooks/environment/sync?x=1', payload: environmentRequest });
    await app.inject({ method: 'POST', url: '/hooks/nothing/sync', payload: environmentRequest });
    await app.inject({ method: 'POST', url: '/HOOKS/environment/sync', payload: environmentRequest });
    const unauthorized = (await metrics.hookRequests.get()).values.filter((value) => value.labels.outcome === 'unauthorized');
    expect(unauthorized).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ labels: { controller: 'environment', hook: 'sync', outcome: 'unauthorized' }, value: 2 }),
        expect.objectContaining({ labels: { controller: 'unknown', hook: 'unknown', outcome: 'unauthorized' }, value: 2 }),
      ]),
    );
    expect(unauthorized).toHaveLength(2);
    await app.close();
  });

  it('counts a bad request under the route matched, whatever its spelling', async () => {
    const { app, metrics } = testApp({ token: TOKEN });
    const response = await app.inject({ method: 'POST', url: '/%68ooks/environment/sync', payload: {}, headers: AUTH });
    expect(response.statusCode).toBe(400);
    const counted = (await metrics.hookRequests.get()).values.find((value) => value.labels.outcome === 'bad_request');
    expect(counted).toMatchObject({ labels: { controller: 'environment', hook: 'sync' }, value: 1 });
    await app.close();
  });
});

describe('without a token configured', () => {
  it('serves every spelling that reaches a route, as before', async () => {
    const { app } = testApp();
    expect((await app.inject({ method: 'POST', url: '/%68ooks/environment/sync', payload: environmentRequest })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/hooks/nothing/sync', payload: environmentRequest })).statusCode).toBe(404);
    await app.close();
  });
});

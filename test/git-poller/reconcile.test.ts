/**
 * "Reconcile now" against the real git smart-HTTP server: the reconcile-requested-at annotation
 * forces a poll, the reply marks it handled, and however many requests arrive the server sees at
 * most one forced poll per repository per window. Polls are counted as requests for the ref
 * advertisement (`/info/refs`) the server received.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ANNOTATION_OBSERVED_REFS, ANNOTATION_POLL_ERROR, gitPollerSync, MAX_RECONCILE_REQUEST_BYTES } from '../../hooks/git-poller/sync.ts';
import type { DecoratorResponse, GitPollerDeps } from '../../hooks/git-poller/sync.ts';
import { PollScheduler } from '../../hooks/git-poller/scheduler.ts';
import type { KubeObject } from '../../hooks/lib/objects.ts';
import { ANNOTATION_RECONCILE_HANDLED, ANNOTATION_RECONCILE_REQUESTED } from '../../hooks/lib/repository-identity.ts';
import { ConfigError, loadConfig } from '../../hooks/server/config.ts';
import { testApp } from '../support/app.ts';
import { applyReply as apply, pollerRequest as request } from '../support/decorator.ts';
import { createBareRepo, startGitServer } from '../support/git-server.ts';
import type { BareRepo, GitServer } from '../support/git-server.ts';

let server: GitServer;
let repo: BareRepo;

beforeAll(async () => {
  server = await startGitServer();
  repo = await createBareRepo(server.root, 'shop.git');
  await repo.commit('main');
});
afterAll(async () => {
  await server?.close();
});
beforeEach(() => {
  server.resetRequests();
});

const polls = () => server.count('/shop.git/info/refs');

function project(name: string, annotations: Record<string, string> = {}, url = server.url('shop.git')): KubeObject {
  return {
    apiVersion: 'kapsa-project.io/v1alpha1',
    kind: 'Project',
    metadata: { name, uid: `uid-${name}`, generation: 1, annotations },
    spec: { repository: { url, branch: 'main', pollInterval: '10m' }, environments: [{ name: 'production' }] },
  };
}



function requested(object: KubeObject, value: string): KubeObject {
  return { ...object, metadata: { ...object.metadata, annotations: { ...object.metadata.annotations, [ANNOTATION_RECONCILE_REQUESTED]: value } } };
}

const mainOf = (object: KubeObject) => (JSON.parse(object.metadata.annotations?.[ANNOTATION_OBSERVED_REFS] ?? '{}') as Record<string, string>).main;

function setup(overrides: Partial<GitPollerDeps> = {}) {
  let t = 1_700_000_000_000;
  const clock = { now: () => t, advance: (seconds: number) => (t += seconds * 1000) };
  const scheduler = new PollScheduler({ now: clock.now, jitterRatio: 0, maxConcurrent: 4, reconcileMinIntervalSeconds: 5 });
  const deps: GitPollerDeps = {
    scheduler,
    policy: { allowHttp: true, allowedHosts: [server.hostPort] },
    defaultPollIntervalSeconds: 60,
    timeoutMs: 5000,
    maxTracked: 50,
    resolveCredentials: () => undefined,
    ...overrides,
  };
  const sync = async (object: KubeObject) => apply(object, await gitPollerSync(request(object), deps));
  return { deps, clock, sync };
}

describe('reconcile-requested-at against a real git server', () => {
  it('forces a poll inside the interval, sees the push, and marks the request handled', async () => {
    const { clock, sync } = setup();
    let p = await sync(project('shop'));
    expect(polls()).toBe(1);
    const pushed = await repo.commit('main');
    clock.advance(30);
    p = await sync(p);
    expect(polls()).toBe(1); // the interval (10m) is not up
    expect(mainOf(p)).not.toBe(pushed);

    p = await sync(requested(p, '2026-12-02T06:00:00Z'));
    expect(polls()).toBe(2);
    expect(mainOf(p)).toBe(pushed);
    expect(p.metadata.annotations?.[ANNOTATION_RECONCILE_HANDLED]).toBe('2026-12-02T06:00:00Z');
    expect(p.metadata.annotations?.[ANNOTATION_POLL_ERROR]).toBeUndefined();

    // Handled: the next calls are ordinary ones, served from the cache.
    clock.advance(60);
    p = await sync(p);
    expect(polls()).toBe(2);
    // The same value set again changes nothing in the object, so nothing happens (documented).
    p = await sync(requested(p, '2026-12-02T06:00:00Z'));
    expect(polls()).toBe(2);
  });

  it('an absent, empty or already handled request forces nothing and writes no handled annotation', async () => {
    const { clock, deps, sync } = setup();
    await sync(project('quiet'));
    clock.advance(30);
    const cases: Array<Record<string, string>> = [{}, { [ANNOTATION_RECONCILE_REQUESTED]: '' }, { [ANNOTATION_RECONCILE_REQUESTED]: 'x', [ANNOTATION_RECONCILE_HANDLED]: 'x' }];
    for (const annotations of cases) {
      const reply = await gitPollerSync(request(project('quiet', annotations)), deps);
      expect(reply.annotations).not.toHaveProperty(ANNOTATION_RECONCILE_HANDLED);
    }
    expect(polls()).toBe(1);
  });

  it('a burst of 50 requests from 20 Projects of one repository: one poll per window, a push between two requests is seen', async () => {
    const { clock, deps, sync } = setup();
    const projects = await Promise.all(Array.from({ length: 20 }, (_, i) => sync(project(`tenant-${i}`))));
    expect(polls()).toBe(1);
    clock.advance(60);
    const first = await repo.commit('main');
    // 50 requests: each Project's annotation changed, some of them twice before the call came.
    const burst = Array.from({ length: 50 }, (_, i) => requested(projects[i % 20]!, `push-1-${i}`));
    const answered = await Promise.all(burst.map(sync));
    expect(polls()).toBe(2);
    expect(answered.every((p, i) => p.metadata.annotations?.[ANNOTATION_RECONCILE_HANDLED] === `push-1-${i}` && mainOf(p) === first)).toBe(true);

    // Two seconds later, another push and another burst: not answered with the poll before it.
    clock.advance(2);
    const second = await repo.commit('main');
    const early = await Promise.all(answered.map((p, i) => gitPollerSync(request(requested(p, `push-2-${i}`)), deps)));
    expect(polls()).toBe(2);
    for (const reply of early) {
      expect(reply.annotations).not.toHaveProperty(ANNOTATION_RECONCILE_HANDLED);
      expect(reply.resyncAfterSeconds).toBe(3);
      expect(reply.annotations[ANNOTATION_OBSERVED_REFS]).toBe(`{"main":"${first}"}`);
    }
    // Metacontroller comes back when the window ends: one poll answers them all, with the new commit.
    clock.advance(3);
    const late = await Promise.all(answered.map((p, i) => sync(requested(p, `push-2-${i}`))));
    expect(polls()).toBe(3);
    expect(late.every((p, i) => p.metadata.annotations?.[ANNOTATION_RECONCILE_HANDLED] === `push-2-${i}` && mainOf(p) === second)).toBe(true);
  });

  it('a failing forced poll is handled too, and reports its failure in poll-error', async () => {
    const broken = await createBareRepo(server.root, 'broken.git');
    await broken.commit('main');
    const { clock, sync } = setup();
    let p = await sync(project('broken', {}, server.url('broken.git')));
    server.garbage.add('/broken.git/');
    try {
      clock.advance(10);
      p = await sync(requested(p, 'now'));
      expect(p.metadata.annotations?.[ANNOTATION_RECONCILE_HANDLED]).toBe('now');
      expect(p.metadata.annotations?.[ANNOTATION_POLL_ERROR]).toMatch(/^InvalidResponse: /);
      expect(server.count('/broken.git/info/refs')).toBe(2);
    } finally {
      server.garbage.delete('/broken.git/');
    }
  });

  it('a request the poll cannot finish in time stays unhandled and comes back', async () => {
    const stuck = await createBareRepo(server.root, 'stuck-forced.git');
    await stuck.commit('main');
    const { clock, sync, deps } = setup({ timeoutMs: 300 });
    const p = await sync(project('stuck', {}, server.url('stuck-forced.git')));
    server.hang.add('/stuck-forced.git/');
    try {
      clock.advance(10);
      const reply = await gitPollerSync(request(requested(p, 'now')), deps);
      expect(reply.annotations).not.toHaveProperty(ANNOTATION_RECONCILE_HANDLED);
      expect(reply.annotations[ANNOTATION_POLL_ERROR]).toMatch(/^Timeout: /);
      expect(reply.resyncAfterSeconds).toBe(5);
    } finally {
      server.hang.clear();
    }
  });

  it('echoes any value up to 1 KiB exactly; a larger one is refused with a note and polls nothing', async () => {
    const { clock, sync } = setup();
    let p = await sync(project('odd'));
    const odd = ['ünïcödé 🚀', 'line one\nline two', '{"json":true}', ' ', 'x'.repeat(MAX_RECONCILE_REQUEST_BYTES)];
    for (const value of odd) {
      clock.advance(6);
      p = await sync(requested(p, value));
      expect(p.metadata.annotations?.[ANNOTATION_RECONCILE_HANDLED]).toBe(value);
    }
    expect(polls()).toBe(1 + odd.length);

    clock.advance(6);
    const huge = 'é'.repeat(MAX_RECONCILE_REQUEST_BYTES); // 2 KiB in UTF-8
    const before = p.metadata.annotations?.[ANNOTATION_RECONCILE_HANDLED];
    p = await sync(requested(p, huge));
    expect(polls()).toBe(1 + odd.length);
    expect(p.metadata.annotations?.[ANNOTATION_RECONCILE_HANDLED]).toBe(before);
    const note = p.metadata.annotations?.[ANNOTATION_POLL_ERROR] ?? '';
    expect(note).toMatch(/^InvalidReconcileRequest: kapsa-project.io\/reconcile-requested-at is 2048 bytes/);
    expect(note.length).toBeLessThan(300);
    // A sane value afterwards clears the note.
    clock.advance(6);
    p = await sync(requested(p, 'fixed'));
    expect(p.metadata.annotations?.[ANNOTATION_POLL_ERROR]).toBeUndefined();
    expect(p.metadata.annotations?.[ANNOTATION_RECONCILE_HANDLED]).toBe('fixed');
  });

  it('a Project without a URL or with unusable credentials gets its request handled with the finding', async () => {
    const { deps } = setup({ resolveCredentials: () => ({ error: 'Secret shop/git not found' }) });
    const noUrl = await gitPollerSync(request({ ...project('nourl', { [ANNOTATION_RECONCILE_REQUESTED]: 'a' }), spec: { repository: {} } }), deps);
    expect(noUrl.annotations).toMatchObject({ [ANNOTATION_RECONCILE_HANDLED]: 'a', [ANNOTATION_POLL_ERROR]: 'InvalidSpec: spec.repository.url is required' });
    const noCredentials = await gitPollerSync(request(project('creds', { [ANNOTATION_RECONCILE_REQUESTED]: 'b' })), deps);
    expect(noCredentials.annotations).toMatchObject({ [ANNOTATION_RECONCILE_HANDLED]: 'b', [ANNOTATION_POLL_ERROR]: 'CredentialsUnavailable: Secret shop/git not found' });
    expect(polls()).toBe(0);
  });
});

describe('through the service', () => {
  it('the git-poller route answers requests with the configured window (KAPSA_RECONCILE_MIN_INTERVAL)', async () => {
    const { app } = testApp({ config: { gitAllowHttp: true, gitAllowedHosts: [server.hostPort], reconcileMinIntervalSeconds: 30 } });
    try {
      const call = async (object: KubeObject) => {
        const response = await app.inject({ method: 'POST', url: '/hooks/git-poller/sync', payload: request(object) });
        expect(response.statusCode).toBe(200);
        return response.json<DecoratorResponse>();
      };
      await call(project('routed'));
      const first = await call(project('routed', { [ANNOTATION_RECONCILE_REQUESTED]: 'one' }));
      expect(first.annotations[ANNOTATION_RECONCILE_HANDLED]).toBe('one');
      const second = await call(project('routed', { [ANNOTATION_RECONCILE_REQUESTED]: 'two', [ANNOTATION_RECONCILE_HANDLED]: 'one' }));
      expect(second.annotations).not.toHaveProperty(ANNOTATION_RECONCILE_HANDLED);
      expect(second.resyncAfterSeconds).toBe(30); // the app's clock stands still
      expect(polls()).toBe(2);
    } finally {
      await app.close();
    }
  });

  it('checks the receiver settings at start', () => {
    expect(loadConfig({}).reconcileMinIntervalSeconds).toBe(5);
    expect(loadConfig({}).receiverKey).toBe('');
    expect(loadConfig({ KAPSA_RECEIVER_URL: 'https://kapsa.example.com/base/' }).receiverUrl).toBe('https://kapsa.example.com/base');
    expect(loadConfig({ KAPSA_RECEIVER_URL: 'http://127.0.0.1:8080' }).receiverUrl).toBe('http://127.0.0.1:8080');
    expect(loadConfig({ KAPSA_RECEIVER_KEY: 'k'.repeat(32) }).receiverKey).toBe('k'.repeat(32));
    for (const [variable, value, message] of [
      ['KAPSA_RECEIVER_KEY', 'short', /KAPSA_RECEIVER_KEY: must be at least 32 characters/],
      ['KAPSA_RECEIVER_URL', 'kapsa.example.com', /KAPSA_RECEIVER_URL: must be an absolute https URL/],
      ['KAPSA_RECEIVER_URL', 'http://kapsa.example.com', /KAPSA_RECEIVER_URL: must be an https URL/],
      ['KAPSA_RECEIVER_URL', 'https://user:pw@kapsa.example.com', /no credentials, query or fragment/],
      ['KAPSA_RECEIVER_URL', 'https://kapsa.example.com/?x=1', /no credentials, query or fragment/],
      ['KAPSA_RECONCILE_MIN_INTERVAL', '0s', /KAPSA_RECONCILE_MIN_INTERVAL: must be at least 1s/],
      ['KAPSA_RECONCILE_MIN_INTERVAL', 'soon', /KAPSA_RECONCILE_MIN_INTERVAL: must be a duration/],
    ] as const) {
      expect(() => loadConfig({ [variable]: value }), `${variable}=${value}`).toThrow(ConfigError);
      expect(() => loadConfig({ [variable]: value })).toThrow(message);
    }
    expect(() => loadConfig({ KAPSA_RECEIVER_URL: 'https://user:pw@kapsa.example.com' })).not.toThrow(/pw/);
    expect(() => loadConfig({ KAPSA_RECEIVER_KEY: 'a-secret-but-short' })).not.toThrow(/a-secret-but-short/);
  });
});

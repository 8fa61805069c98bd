import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ANNOTATION_OBSERVED_REFS,
  ANNOTATION_OBSERVED_REFS_TRUNCATED,
  ANNOTATION_POLL_ERROR,
  formatObservedRefs,
  gitPollerSync,
} from '../../hooks/git-poller/sync.ts';
import type { DecoratorResponse, GitPollerDeps } from '../../hooks/git-poller/sync.ts';
import { PollScheduler } from '../../hooks/git-poller/scheduler.ts';
import type { KubeObject, ObjectsByType, Secret } from '../../hooks/lib/objects.ts';
import { applyReply as apply, pollerRequest as request } from '../support/decorator.ts';
import { createBareRepo, startGitServer } from '../support/git-server.ts';
import type { BareRepo, GitServer } from '../support/git-server.ts';

let server: GitServer;

beforeAll(async () => {
  server = await startGitServer();
});
afterAll(async () => {
  await server?.close();
});
beforeEach(() => {
  server.resetRequests();
});

function project(name: string, spec: Record<string, unknown>, annotations?: Record<string, string>): KubeObject {
  return {
    apiVersion: 'kapsa-project.io/v1alpha1',
    kind: 'Project',
    metadata: { name, uid: `uid-${name}`, generation: 1, ...(annotations ? { annotations } : {}) },
    spec,
  };
}


/** The credential resolver someone else owns, reduced to what the tests need: Secret username/password or token. */
function resolveCredentials(p: KubeObject, related: ObjectsByType | undefined) {
  const spec = p.spec as { repository?: { credentials?: { secretRef?: { name?: string; namespace?: string } } } };
  const ref = spec.repository?.credentials?.secretRef;
  if (!ref?.name) return undefined;
  const secret = related?.['Secret.v1']?.[`${ref.namespace}/${ref.name}`] as Secret | undefined;
  if (!secret) return { error: `Secret ${ref.namespace}/${ref.name} not found` };
  const decode = (key: string) => (secret.data?.[key] ? Buffer.from(secret.data[key], 'base64').toString('utf8') : undefined);
  const token = decode('token');
  const password = decode('password') ?? token;
  if (!password) return { error: 'Secret has neither password nor token' };
  return { username: decode('username') ?? 'x-access-token', password };
}

function secret(namespace: string, name: string, data: Record<string, string>): Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
}

function setup(overrides: Partial<GitPollerDeps> = {}) {
  let t = 1_700_000_000_000;
  const clock = { now: () => t, advance: (seconds: number) => (t += seconds * 1000) };
  const scheduler = new PollScheduler({ now: clock.now, jitterRatio: 0, maxConcurrent: 4 });
  const deps: GitPollerDeps = {
    scheduler,
    policy: { allowHttp: true, allowedHosts: [server.hostPort] },
    defaultPollIntervalSeconds: 60,
    timeoutMs: 5000,
    maxTracked: 50,
    resolveCredentials,
    ...overrides,
  };
  return { deps, clock, scheduler };
}


const refsOf = (r: DecoratorResponse | KubeObject): Record<string, string> => {
  const value = 'annotations' in r && !('metadata' in r) ? r.annotations[ANNOTATION_OBSERVED_REFS] : (r as KubeObject).metadata.annotations?.[ANNOTATION_OBSERVED_REFS];
  return JSON.parse(value as string) as Record<string, string>;
};

describe('gitPollerSync against a real git server', () => {
  let repo: BareRepo;
  let main: string;
  beforeAll(async () => {
    repo = await createBareRepo(server.root, 'shop.git');
    main = await repo.commit('main');
    await repo.commit('feature/cart');
    await repo.commit('wip/spike');
  });

  const spec = (extra: Record<string, unknown> = {}) => ({
    repository: { url: server.url('shop.git'), branch: 'main', pollInterval: '1m' },
    environments: [{ name: 'production' }],
    previewEnvironments: { enabled: true, branches: { include: ['feature/*'], exclude: [] } },
    ...extra,
  });

  it('first poll: observed-refs of tracked branches only, no error, resync after the interval; spec/status untouched', async () => {
    const { deps } = setup();
    const p = project('shop', spec());
    const response = await gitPollerSync(request(p), deps);
    expect(refsOf(response)).toEqual({ 'feature/cart': await repo.head('feature/cart'), main });
    expect(response.annotations[ANNOTATION_POLL_ERROR]).toBeNull();
    expect(response.annotations[ANNOTATION_OBSERVED_REFS_TRUNCATED]).toBeNull();
    expect(response.resyncAfterSeconds).toBe(60);
    expect(response.attachments).toEqual([]);
    expect('status' in response).toBe(false);
    expect('labels' in response).toBe(false);
    expect(server.count('/shop.git/')).toBe(2);
  });

  it('a second call within the interval does not hit the server; after it, new commits/branches/deletions show', async () => {
    const repo2 = await createBareRepo(server.root, 'blog.git');
    const first = await repo2.commit('main');
    const { deps, clock } = setup();
    let p = project('blog', { repository: { url: server.url('blog.git'), pollInterval: '30s' }, previewEnvironments: { enabled: true } });
    p = apply(p, await gitPollerSync(request(p), deps));
    expect(refsOf(p)).toEqual({ main: first });
    const afterFirst = server.count('/blog.git/');

    const second = await repo2.commit('main');
    await repo2.commit('feature/comments');
    clock.advance(10);
    const cached = await gitPollerSync(request(p), deps);
    expect(server.count('/blog.git/')).toBe(afterFirst); // no request at all
    expect(refsOf(cached)).toEqual({ main: first }); // still the cached observation
    expect(cached.resyncAfterSeconds).toBe(20);

    clock.advance(20);
    p = apply(p, await gitPollerSync(request(p), deps));
    expect(server.count('/blog.git/')).toBe(afterFirst * 2);
    expect(refsOf(p)).toEqual({ 'feature/comments': await repo2.head('feature/comments'), main: second });

    await repo2.deleteBranch('feature/comments');
    clock.advance(30);
    p = apply(p, await gitPollerSync(request(p), deps));
    expect(refsOf(p)).toEqual({ main: second });
  });

  it('two Projects sharing a repository cause one poll', async () => {
    const { deps } = setup();
    const a = project('shop-a', spec());
    const b = project('shop-b', spec({ environments: [{ name: 'staging', branch: 'main' }] }));
    const [ra, rb] = await Promise.all([gitPollerSync(request(a), deps), gitPollerSync(request(b), deps)]);
    expect(server.count('/shop.git/info/refs')).toBe(1);
    expect(refsOf(ra).main).toBe(main);
    expect(refsOf(rb).main).toBe(main);
    await gitPollerSync(request(b), deps);
    expect(server.count('/shop.git/info/refs')).toBe(1);
  });

  it('annotations are byte-identical for the same observation (no timestamps), and keys are sorted', async () => {
    const one = setup();
    const two = setup();
    two.clock.advance(3600);
    const p = project('shop', spec({ environments: [{ name: 'z', branch: 'main' }, { name: 'a', branch: 'feature/cart' }] }));
    const r1 = await gitPollerSync(request(p), one.deps);
    const r2 = await gitPollerSync(request(p), two.deps);
    expect(JSON.stringify(r2.annotations)).toBe(JSON.stringify(r1.annotations));
    const raw = r1.annotations[ANNOTATION_OBSERVED_REFS] as string;
    expect(raw).toBe(formatObservedRefs({ main, 'feature/cart': (await repo.head('feature/cart')) as string }));
    expect(raw.startsWith('{"feature/cart":')).toBe(true);
    expect(raw).not.toContain(' ');
    expect(formatObservedRefs({ b: '2', a: '1' })).toBe('{"a":"1","b":"2"}');
  });

  it('on failure keeps the last good observed-refs and reports poll-error; recovery clears the error', async () => {
    const flaky = await createBareRepo(server.root, 'flaky.git');
    const head = await flaky.commit('main');
    const { deps, clock } = setup();
    let p = project('flaky', { repository: { url: server.url('flaky.git') }, environments: [{ name: 'prod' }] });
    p = apply(p, await gitPollerSync(request(p), deps));
    const good = p.metadata.annotations?.[ANNOTATION_OBSERVED_REFS];
    expect(JSON.parse(good as string)).toEqual({ main: head });

    server.garbage.add('/flaky.git/');
    clock.advance(61);
    const failed = await gitPollerSync(request(p), deps);
    expect(failed.annotations[ANNOTATION_OBSERVED_REFS]).toBe(good);
    expect(failed.annotations[ANNOTATION_POLL_ERROR]).toMatch(/^InvalidResponse: /);
    expect(failed.resyncAfterSeconds).toBe(60); // first failure: normal interval
    p = apply(p, failed);
    expect(p.metadata.annotations?.[ANNOTATION_OBSERVED_REFS]).toBe(good);

    // backoff: the second failure doubles the delay
    clock.advance(61);
    const failedAgain = await gitPollerSync(request(p), deps);
    expect(failedAgain.resyncAfterSeconds).toBe(120);
    expect(failedAgain.annotations[ANNOTATION_OBSERVED_REFS]).toBe(good);
    const requestsSoFar = server.count('/flaky.git/');
    clock.advance(61); // inside the backoff window: the failing server is left alone
    await gitPollerSync(request(p), deps);
    expect(server.count('/flaky.git/')).toBe(requestsSoFar);

    server.garbage.delete('/flaky.git/');
    clock.advance(60);
    const recovered = await gitPollerSync(request(p), deps);
    expect(recovered.annotations[ANNOTATION_POLL_ERROR]).toBeNull();
    expect(recovered.resyncAfterSeconds).toBe(60);
    p = apply(p, recovered);
    expect(p.metadata.annotations?.[ANNOTATION_POLL_ERROR]).toBeUndefined();
  });

  it('an emptied repository (valid, empty advertisement) is NoBranches: the last good refs are kept, no backoff, recovery clears it', async () => {
    const emptied = await createBareRepo(server.root, 'emptied.git');
    const head = await emptied.commit('main');
    const preview = await emptied.commit('feature/cart');
    const { deps, clock } = setup();
    let p = project('emptied', {
      repository: { url: server.url('emptied.git'), pollInterval: '1m' },
      environments: [{ name: 'prod' }],
      previewEnvironments: { enabled: true, branches: { include: ['feature/*'] } },
    });
    p = apply(p, await gitPollerSync(request(p), deps));
    const good = p.metadata.annotations?.[ANNOTATION_OBSERVED_REFS];
    expect(JSON.parse(good as string)).toEqual({ 'feature/cart': preview, main: head });

    await emptied.deleteBranch('main');
    await emptied.deleteBranch('feature/cart');
    for (const protocolV2 of [true, false]) {
      server.protocolV2 = protocolV2;
      clock.advance(61);
      const empty = await gitPollerSync(request(p), deps);
      expect(empty.annotations[ANNOTATION_OBSERVED_REFS], `v2 ${protocolV2}`).toBe(good); // not '{}'
      expect(empty.annotations[ANNOTATION_POLL_ERROR]).toMatch(/^NoBranches: .*emptied\.git advertised no branches/);
      expect(empty.resyncAfterSeconds).toBe(60); // the server answered: no failure backoff
      p = apply(p, empty);
    }
    server.protocolV2 = true;
    expect(p.metadata.annotations?.[ANNOTATION_OBSERVED_REFS]).toBe(good);

    const pushed = await emptied.commit('main');
    clock.advance(61);
    p = apply(p, await gitPollerSync(request(p), deps));
    expect(refsOf(p)).toEqual({ main: pushed });
    expect(p.metadata.annotations?.[ANNOTATION_POLL_ERROR]).toBeUndefined();
  });

  it('a repository that was never pushed to gets only NoBranches, and its first push is seen at the next interval', async () => {
    const fresh = await createBareRepo(server.root, 'fresh.git');
    const { deps, clock } = setup();
    let p = project('fresh', { repository: { url: server.url('fresh.git'), pollInterval: '1m' }, environments: [{ name: 'prod' }] });
    const first = await gitPollerSync(request(p), deps);
    expect(first.annotations).toEqual({ [ANNOTATION_POLL_ERROR]: expect.stringMatching(/^NoBranches: /) });
    expect(first.annotations[ANNOTATION_POLL_ERROR]).not.toContain('kept');
    p = apply(p, first);
    const head = await fresh.commit('main');
    clock.advance(60);
    p = apply(p, await gitPollerSync(request(p), deps));
    expect(refsOf(p)).toEqual({ main: head });
    expect(p.metadata.annotations?.[ANNOTATION_POLL_ERROR]).toBeUndefined();
  });

  it('the default branch missing from an otherwise normal answer: previews still follow it, BranchNotFound names the branch', async () => {
    const moved = await createBareRepo(server.root, 'moved.git');
    const head = await moved.commit('main');
    const cart = await moved.commit('feature/cart');
    const { deps, clock } = setup();
    let p = project('moved', {
      repository: { url: server.url('moved.git'), branch: 'main', pollInterval: '1m' },
      environments: [{ name: 'production' }],
      previewEnvironments: { enabled: true, branches: { include: ['feature/*'] } },
    });
    p = apply(p, await gitPollerSync(request(p), deps));
    expect(refsOf(p)).toEqual({ 'feature/cart': cart, main: head });

    await moved.deleteBranch('main');
    const login = await moved.commit('feature/login');
    await moved.commit('trunk');
    clock.advance(61);
    const response = await gitPollerSync(request(p), deps);
    expect(refsOf(response)).toEqual({ 'feature/cart': cart, 'feature/login': login });
    expect(response.annotations[ANNOTATION_POLL_ERROR]).toBe('BranchNotFound: environment branch "main" is not in the repository (3 branches advertised)');
    expect(response.resyncAfterSeconds).toBe(60);
  });

  it('no tracked branch left in a non-empty answer: BranchNotFound, the last good refs are kept', async () => {
    const renamed = await createBareRepo(server.root, 'renamed.git');
    const head = await renamed.commit('main');
    const { deps, clock } = setup();
    let p = project('renamed', { repository: { url: server.url('renamed.git'), pollInterval: '1m' }, environments: [{ name: 'prod' }, { name: 'qa', branch: 'qa' }] });
    p = apply(p, await gitPollerSync(request(p), deps));
    const good = p.metadata.annotations?.[ANNOTATION_OBSERVED_REFS];
    expect(JSON.parse(good as string)).toEqual({ main: head });
    expect(p.metadata.annotations?.[ANNOTATION_POLL_ERROR]).toBe('BranchNotFound: environment branch "qa" is not in the repository (1 branch advertised)');

    await renamed.commit('trunk');
    await renamed.deleteBranch('main');
    clock.advance(61);
    const response = await gitPollerSync(request(p), deps);
    expect(response.annotations[ANNOTATION_OBSERVED_REFS]).toBe(good);
    expect(response.annotations[ANNOTATION_POLL_ERROR]).toBe(
      'BranchNotFound: environment branches "main", "qa" are not in the repository (1 branch advertised); the last observed branch heads are kept',
    );
  });

  it('a failure with no previous observation writes only the error', async () => {
    const { deps } = setup();
    const p = project('ghost', { repository: { url: server.url('ghost.git') } });
    const response = await gitPollerSync(request(p), deps);
    expect(response.annotations).toEqual({ [ANNOTATION_POLL_ERROR]: expect.stringMatching(/^NotFound: /) });
  });

  it('credentials from a related Secret: right password works, wrong one is Unauthorized without leaking it', async () => {
    const priv = await createBareRepo(server.root, 'private.git');
    const head = await priv.commit('main');
    server.auth = { 'private.git': { username: 'deploy', password: 'correct-horse' } };
    const withRef = (name: string) =>
      project(name, { repository: { url: server.url('private.git'), credentials: { secretRef: { name: 'git', namespace: 'team' } } } });

    const good = await gitPollerSync(request(withRef('ok'), { 'Secret.v1': { 'team/git': secret('team', 'git', { username: 'deploy', password: 'correct-horse' }) } }), setup().deps);
    expect(refsOf(good)).toEqual({ main: head });

    const bad = await gitPollerSync(request(withRef('bad'), { 'Secret.v1': { 'team/git': secret('team', 'git', { username: 'deploy', password: 'battery-staple' }) } }), setup().deps);
    expect(bad.annotations[ANNOTATION_POLL_ERROR]).toMatch(/^Unauthorized: /);
    expect(JSON.stringify(bad)).not.toContain('battery-staple');

    const missing = await gitPollerSync(request(withRef('missing')), setup().deps);
    expect(missing.annotations[ANNOTATION_POLL_ERROR]).toBe('CredentialsUnavailable: Secret team/git not found');
    server.auth = {};
  });

  it('a shared scheduler does not hand one Project the answer another got with different credentials', async () => {
    const priv = await createBareRepo(server.root, 'private2.git');
    await priv.commit('main');
    server.auth = { 'private2.git': { username: 'deploy', password: 'pw' } };
    const { deps } = setup();
    const authed = project('authed', { repository: { url: server.url('private2.git'), credentials: { secretRef: { name: 'git', namespace: 'a' } } } });
    const anonymous = project('anon', { repository: { url: server.url('private2.git') } });
    const ok = await gitPollerSync(request(authed, { 'Secret.v1': { 'a/git': secret('a', 'git', { username: 'deploy', password: 'pw' }) } }), deps);
    expect(ok.annotations[ANNOTATION_POLL_ERROR]).toBeNull();
    const denied = await gitPollerSync(request(anonymous), deps);
    expect(denied.annotations[ANNOTATION_POLL_ERROR]).toMatch(/^Unauthorized: /);
    server.auth = {};
  });

  it('reports truncation when more branches match than maxTracked, and clears it when they do not', async () => {
    const many = await createBareRepo(server.root, 'monorepo.git');
    const sha = await many.commit('main');
    await many.createRefs(Array.from({ length: 10_000 }, (_, i) => ({ ref: `refs/heads/feature/f-${String(i).padStart(5, '0')}`, sha })));
    const { deps, clock } = setup({ maxTracked: 25 });
    let p = project('mono', { repository: { url: server.url('monorepo.git') }, environments: [{ name: 'prod' }], previewEnvironments: { enabled: true, branches: { include: ['feature/**'] } } });
    const response = await gitPollerSync(request(p), deps);
    expect(Object.keys(refsOf(response))).toHaveLength(25);
    expect(refsOf(response).main).toBe(sha);
    expect(response.annotations[ANNOTATION_OBSERVED_REFS_TRUNCATED]).toBe(String(10_001 - 25));
    p = apply(p, response);

    p = { ...p, spec: { ...(p.spec as object), previewEnvironments: { enabled: false } } };
    clock.advance(61);
    const later = apply(p, await gitPollerSync(request(p), deps));
    expect(later.metadata.annotations?.[ANNOTATION_OBSERVED_REFS_TRUNCATED]).toBeUndefined();
    expect(refsOf(later)).toEqual({ main: sha });
  });

  it('a hanging server gives Timeout within the hook budget and keeps the refs', async () => {
    const { deps } = setup({ timeoutMs: 300 });
    server.hang.add('/stuck.git/');
    const p = project('stuck', { repository: { url: server.url('stuck.git') } }, { [ANNOTATION_OBSERVED_REFS]: '{"main":"' + 'c'.repeat(40) + '"}' });
    const started = Date.now();
    const response = await gitPollerSync(request(p), deps);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(response.annotations[ANNOTATION_POLL_ERROR]).toMatch(/^Timeout: /);
    expect(response.annotations[ANNOTATION_OBSERVED_REFS]).toBe('{"main":"' + 'c'.repeat(40) + '"}');
    server.hang.clear();
  });

  it('Blocked repositories (SSRF) never reach the network', async () => {
    const { deps } = setup({ policy: { allowHttp: true, allowedHosts: [] } });
    for (const url of ['http://169.254.169.254/latest/meta-data/x.git', server.url('shop.git'), 'http://kubernetes.default.svc/x.git']) {
      const response = await gitPollerSync(request(project('evil', { repository: { url } })), deps);
      expect(response.annotations[ANNOTATION_POLL_ERROR], url).toMatch(/^Blocked: /);
    }
    expect(server.requests).toEqual([]);
  });

  it('validates the spec: missing url, bad pollInterval (falls back to the default)', async () => {
    const { deps } = setup();
    const noUrl = await gitPollerSync(request(project('nourl', { repository: {} })), deps);
    expect(noUrl.annotations[ANNOTATION_POLL_ERROR]).toBe('InvalidSpec: spec.repository.url is required');
    const badInterval = await gitPollerSync(request(project('bad', { repository: { url: server.url('shop.git'), pollInterval: 'soon' } })), deps);
    expect(badInterval.annotations[ANNOTATION_POLL_ERROR]).toMatch(/^InvalidSpec: spec.repository.pollInterval/);
    expect(refsOf(badInterval).main).toBe(main);
    expect(badInterval.resyncAfterSeconds).toBe(60);
  });

});

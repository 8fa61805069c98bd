import http from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listBranchHeads } from '../../hooks/git-poller/remote.ts';
import { pinnedLookup } from '../../hooks/git-poller/egress.ts';
import type { EgressPolicy } from '../../hooks/git-poller/egress.ts';
import { createBareRepo, startGitServer } from '../support/git-server.ts';
import type { BareRepo, GitServer } from '../support/git-server.ts';

let server: GitServer;
let other: GitServer; // a second "host" (localhost:<other port>) serving the same repositories
let app: BareRepo;
let policy: EgressPolicy;

beforeAll(async () => {
  server = await startGitServer();
  other = await startGitServer({ root: server.root });
  app = await createBareRepo(server.root, 'app.git');
  await app.commit('main');
  policy = { allowHttp: true, allowedHosts: [server.hostPort, `localhost:${other.port}`] };
});

afterAll(async () => {
  await other?.close();
  await server?.close();
});

beforeEach(() => {
  server.resetRequests();
  other.resetRequests();
  server.auth = {};
  other.auth = {};
  server.protocolV2 = true;
});

describe('listBranchHeads against a real git http-backend', () => {
  it('lists the branch heads with protocol v2 (first poll)', async () => {
    const main = await app.head('main');
    const outcome = await listBranchHeads({ url: server.url('app.git'), policy, timeoutMs: 5000 });
    expect(outcome).toEqual({ ok: true, heads: { main }, protocolVersion: 2 });
    // discovery + one ls-refs POST, both announcing v2
    expect(server.requests.map((r) => [r.method, r.path, r.gitProtocol])).toEqual([
      ['GET', '/app.git/info/refs', 'version=2'],
      ['POST', '/app.git/git-upload-pack', 'version=2'],
    ]);
  });

  it('sees a new commit, a new branch and a deleted branch', async () => {
    const repo = await createBareRepo(server.root, 'moving.git');
    const first = await repo.commit('main');
    const before = await listBranchHeads({ url: server.url('moving.git'), policy, timeoutMs: 5000 });
    expect(before).toMatchObject({ ok: true, heads: { main: first } });

    const second = await repo.pushFromWorkTree('main', 'index.html', 'hello');
    expect(second).not.toBe(first);
    const feature = await repo.commit('feature/login');
    const afterCommit = await listBranchHeads({ url: server.url('moving.git'), policy, timeoutMs: 5000 });
    expect(afterCommit).toMatchObject({ ok: true, heads: { main: second, 'feature/login': feature } });

    await repo.deleteBranch('feature/login');
    const afterDelete = await listBranchHeads({ url: server.url('moving.git'), policy, timeoutMs: 5000 });
    expect(afterDelete).toEqual({ ok: true, heads: { main: second }, protocolVersion: 2 });
  });

  it('ignores tags and other refs (v2 ref-prefix)', async () => {
    const repo = await createBareRepo(server.root, 'tagged.git');
    const sha = await repo.commit('main');
    await repo.tag('v1.0.0', sha);
    await repo.createRefs([{ ref: 'refs/pull/1/head', sha }]);
    const outcome = await listBranchHeads({ url: server.url('tagged.git'), policy, timeoutMs: 5000 });
    expect(outcome).toEqual({ ok: true, heads: { main: sha }, protocolVersion: 2 });
  });

  it('falls back to v1 when the server does not speak v2', async () => {
    server.protocolV2 = false;
    const main = await app.head('main');
    const outcome = await listBranchHeads({ url: server.url('app.git'), policy, timeoutMs: 5000 });
    expect(outcome).toEqual({ ok: true, heads: { main }, protocolVersion: 1 });
    expect(server.requests.map((r) => r.method)).toEqual(['GET']);
  });

  it('an empty repository has no heads', async () => {
    await createBareRepo(server.root, 'empty.git');
    expect(await listBranchHeads({ url: server.url('empty.git'), policy, timeoutMs: 5000 })).toMatchObject({ ok: true, heads: {} });
  });

  it('handles 10,000 branches (and 2,000 tags it does not ask for), bounded by size and count', async () => {
    const repo = await createBareRepo(server.root, 'many.git');
    const sha = await repo.commit('main');
    const refs = Array.from({ length: 10_000 }, (_, i) => ({ ref: `refs/heads/feature/b-${String(i).padStart(5, '0')}`, sha }));
    const tags = Array.from({ length: 2_000 }, (_, i) => ({ ref: `refs/tags/t-${i}`, sha }));
    await repo.createRefs([...refs, ...tags]);
    const outcome = await listBranchHeads({ url: server.url('many.git'), policy, timeoutMs: 20_000 });
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(Object.keys(outcome.heads)).toHaveLength(10_001);
    expect(outcome.protocolVersion).toBe(2);
    expect(outcome.heads['feature/b-09999']).toBe(sha);
    expect(Object.keys(outcome.heads).some((name) => name.startsWith('t-'))).toBe(false);

    const tooBig = await listBranchHeads({ url: server.url('many.git'), policy, timeoutMs: 20_000, maxResponseBytes: 64 * 1024 });
    expect(tooBig).toMatchObject({ ok: false, reason: 'InvalidResponse', message: expect.stringContaining('larger than') });
    const tooMany = await listBranchHeads({ url: server.url('many.git'), policy, timeoutMs: 20_000, maxBranches: 5_000, protocolVersion: 2 });
    expect(tooMany).toMatchObject({ ok: false, reason: 'InvalidResponse', message: expect.stringContaining('more than 5000 branches') });
  });

  describe('basic auth', () => {
    const creds = { username: 'alice', password: 's3cr3t-Pa55' };
    beforeEach(() => {
      server.auth = { 'app.git': creds };
    });

    it('succeeds with the right credentials', async () => {
      const outcome = await listBranchHeads({ url: server.url('app.git'), policy, timeoutMs: 5000, credentials: creds });
      expect(outcome).toMatchObject({ ok: true, protocolVersion: 2 });
      const expected = `Basic ${Buffer.from('alice:s3cr3t-Pa55').toString('base64')}`;
      expect(server.requests.every((r) => r.authorization === expected)).toBe(true);
    });

    it('is Unauthorized with wrong or missing credentials, and never echoes the secret', async () => {
      const wrong = { username: 'alice', password: 'wrong-password-xyz' };
      const outcome = await listBranchHeads({ url: server.url('app.git'), policy, timeoutMs: 5000, credentials: wrong });
      expect(outcome).toMatchObject({ ok: false, reason: 'Unauthorized' });
      expect(JSON.stringify(outcome)).not.toContain('wrong-password-xyz');
      expect(JSON.stringify(outcome)).not.toContain(Buffer.from('alice:wrong-password-xyz').toString('base64'));
      // no retry loop on a refused password
      expect(server.count('/app.git/')).toBe(1);
      const anonymous = await listBranchHeads({ url: server.url('app.git'), policy, timeoutMs: 5000 });
      expect(anonymous).toMatchObject({ ok: false, reason: 'Unauthorized' });
    });

    it('sends a bare token as the password of x-access-token (when the resolver maps it so)', async () => {
      server.auth = { 'app.git': { username: 'x-access-token', password: 'ghp_token123' } };
      const outcome = await listBranchHeads({
        url: server.url('app.git'),
        policy,
        timeoutMs: 5000,
        credentials: { username: 'x-access-token', password: 'ghp_token123' },
      });
      expect(outcome.ok).toBe(true);
    });
  });

  it('unknown repository is NotFound', async () => {
    const outcome = await listBranchHeads({ url: server.url('does-not-exist.git'), policy, timeoutMs: 5000 });
    expect(outcome).toMatchObject({ ok: false, reason: 'NotFound' });
  });

  it('a server that never answers is a Timeout within the time budget', async () => {
    server.hang.add('/hang.git/');
    const started = Date.now();
    const outcome = await listBranchHeads({ url: server.url('hang.git'), policy, timeoutMs: 300 });
    expect(outcome).toMatchObject({ ok: false, reason: 'Timeout' });
    expect(Date.now() - started).toBeLessThan(5000);
    server.hang.clear();
  });

  it('a server that starts answering and then stalls is a Timeout too (the budget covers the body)', async () => {
    server.stall.add('/stall.git/');
    const started = Date.now();
    const outcome = await listBranchHeads({ url: server.url('stall.git'), policy, timeoutMs: 300 });
    expect(outcome).toMatchObject({ ok: false, reason: 'Timeout' });
    expect(Date.now() - started).toBeLessThan(5000);
    server.stall.clear();
  });

  it('pinnedLookup works with node:http: the connection goes to the checked address whatever the name', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        `http://rebind.example.com:${server.port}/app.git/info/refs?service=git-upload-pack`,
        { lookup: pinnedLookup([{ address: '127.0.0.1', family: 4 }]) as unknown as http.RequestOptions['lookup'], agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(body).toContain('# service=git-upload-pack');
  });

  it('garbage is an InvalidResponse', async () => {
    server.garbage.add('/garbage.git/');
    const outcome = await listBranchHeads({ url: server.url('garbage.git'), policy, timeoutMs: 5000 });
    expect(outcome).toMatchObject({ ok: false, reason: 'InvalidResponse' });
    server.garbage.clear();
  });

  it('a connection refused is Unreachable', async () => {
    const closed = await startGitServer();
    const url = closed.url('x.git');
    const hostPort = closed.hostPort;
    await closed.close();
    const outcome = await listBranchHeads({ url, policy: { allowHttp: true, allowedHosts: [hostPort] }, timeoutMs: 5000 });
    expect(outcome).toMatchObject({ ok: false, reason: 'Unreachable' });
  });

  describe('redirects', () => {
    it('follows a redirect to another host without forwarding the credentials', async () => {
      const creds = { username: 'alice', password: 'do-not-forward' };
      server.redirects = { '/moved.git': `http://localhost:${other.port}/app.git` };
      const main = await app.head('main');
      const outcome = await listBranchHeads({ url: server.url('moved.git'), policy, timeoutMs: 5000, credentials: creds });
      expect(outcome).toEqual({ ok: true, heads: { main }, protocolVersion: 2 });
      // The original host got the credentials (it is the repository's origin)...
      expect(server.requests.length).toBeGreaterThan(0);
      expect(server.requests.every((r) => r.authorization !== undefined)).toBe(true);
      // ...the redirect target never did, for the discovery nor for the ls-refs POST.
      expect(other.requests.map((r) => r.method)).toEqual(['GET', 'POST']);
      expect(other.requests.every((r) => r.authorization === undefined)).toBe(true);
      server.redirects = {};
    });

    it('a redirect target that needs the credentials is then Unauthorized (not leaked)', async () => {
      other.auth = { 'app.git': { username: 'alice', password: 'do-not-forward' } };
      server.redirects = { '/moved.git': `http://localhost:${other.port}/app.git` };
      const outcome = await listBranchHeads({
        url: server.url('moved.git'),
        policy,
        timeoutMs: 5000,
        credentials: { username: 'alice', password: 'do-not-forward' },
      });
      expect(outcome).toMatchObject({ ok: false, reason: 'Unauthorized' });
      expect(other.requests.every((r) => r.authorization === undefined)).toBe(true);
      server.redirects = {};
    });

    it('a redirect to a host outside the allow list is Blocked before connecting', async () => {
      server.redirects = { '/evil.git': `http://localhost:${other.port}/app.git` };
      const outcome = await listBranchHeads({ url: server.url('evil.git'), policy: { allowHttp: true, allowedHosts: [server.hostPort] }, timeoutMs: 5000 });
      expect(outcome).toMatchObject({ ok: false, reason: 'Blocked' });
      expect(other.requests).toEqual([]);
      server.redirects = {};
    });

    it('a redirect to the metadata endpoint is Blocked', async () => {
      server.redirects = { '/meta.git': 'http://169.254.169.254/latest/meta-data' };
      const outcome = await listBranchHeads({ url: server.url('meta.git'), policy, timeoutMs: 5000 });
      expect(outcome).toMatchObject({ ok: false, reason: 'Blocked', message: expect.stringContaining('link-local') });
      server.redirects = {};
    });
  });

  describe('egress policy on real polls', () => {
    it('refuses http://169.254.169.254/x.git before any connection (no DNS, no socket)', async () => {
      const resolve = async (): Promise<never> => {
        throw new Error('DNS must not be used');
      };
      const started = Date.now();
      const outcome = await listBranchHeads({ url: 'http://169.254.169.254/x.git', policy: { allowHttp: true, allowedHosts: [] }, timeoutMs: 60_000, resolve });
      expect(outcome).toMatchObject({ ok: false, reason: 'Blocked' });
      expect(Date.now() - started).toBeLessThan(1000); // a connection attempt to a black hole would take the full timeout
    });

    it('refuses the real server on 127.0.0.1 without the allow list (server sees nothing)', async () => {
      for (const url of [
        server.url('app.git'),
        `http://localhost:${server.port}/app.git`,
        `http://2130706433:${server.port}/app.git`,
        `http://0x7f000001:${server.port}/app.git`,
        `http://0177.0.0.1:${server.port}/app.git`,
        `http://127.1:${server.port}/app.git`,
        `http://[::ffff:127.0.0.1]:${server.port}/app.git`,
      ]) {
        const outcome = await listBranchHeads({ url, policy: { allowHttp: true, allowedHosts: [] }, timeoutMs: 5000 });
        expect(outcome, url).toMatchObject({ ok: false, reason: 'Blocked' });
      }
      expect(server.requests).toEqual([]);
    });

    it('refuses a name that resolves to the server address (DNS answer checked)', async () => {
      const resolve = async () => [{ address: '127.0.0.1', family: 4 }];
      const outcome = await listBranchHeads({ url: `http://git.example.com:${server.port}/app.git`, policy: { allowHttp: true, allowedHosts: [] }, timeoutMs: 5000, resolve });
      expect(outcome).toMatchObject({ ok: false, reason: 'Blocked', message: expect.stringContaining('127.0.0.1') });
      expect(server.requests).toEqual([]);
    });

    it('refuses http without allowHttp', async () => {
      const outcome = await listBranchHeads({ url: server.url('app.git'), policy: { allowHttp: false, allowedHosts: [server.hostPort] }, timeoutMs: 5000 });
      expect(outcome).toMatchObject({ ok: false, reason: 'Blocked', message: expect.stringContaining('http:') });
      expect(server.requests).toEqual([]);
    });

    it('refuses a URL with userinfo without echoing it', async () => {
      const url = `http://alice:pw-in-url@127.0.0.1:${server.port}/app.git`;
      const outcome = await listBranchHeads({ url, policy, timeoutMs: 5000 });
      expect(outcome).toMatchObject({ ok: false, reason: 'Blocked' });
      expect(JSON.stringify(outcome)).not.toContain('pw-in-url');
      expect(server.requests).toEqual([]);
    });
  });
});

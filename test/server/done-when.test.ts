import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBareRepo, startGitServer, type BareRepo, type GitServer } from '../support/git-server.ts';
import { startRegistryServer, type RegistryServer } from '../support/registry-server.ts';
import { testApp, type TestApp } from '../support/app.ts';

/**
 * The "done when" checks of the Project, git polling and DomainPool/Registry issues, through the
 * real HTTP app with the real git and registry servers behind it.
 */

const b64 = (text: string) => Buffer.from(text).toString('base64');

function project(refs: Record<string, string> | undefined, repositoryUrl = 'https://git.example.com/acme/shop.git') {
  return {
    apiVersion: 'kapsa-project.io/v1alpha1',
    kind: 'Project',
    metadata: {
      name: 'shop',
      generation: 1,
      creationTimestamp: '2026-01-05T10:00:00Z',
      ...(refs ? { annotations: { 'kapsa-project.io/observed-refs': JSON.stringify(refs) } } : {}),
    },
    spec: {
      repository: { url: repositoryUrl, branch: 'main', pollInterval: '30s' },
      registry: { name: 'main', imageRepository: 'acme/shop' },
      domain: { subdomain: 'shop', domainPoolRef: { name: 'apps' } },
      environments: [{ name: 'dev', branch: 'main' }, { name: 'staging', branch: 'release' }, { name: 'prod', branch: 'release', autoSync: false }],
    },
  };
}

const pool = {
  apiVersion: 'kapsa-project.io/v1alpha1',
  kind: 'DomainPool',
  metadata: { name: 'apps', generation: 1 },
  spec: { baseDomains: ['apps.example.com'], certManager: { issuerRef: { name: 'letsencrypt-prod', kind: 'ClusterIssuer' } } },
};

describe('Project sync over HTTP', () => {
  it('returns Namespace, ServiceAccount, Secrets, pinned kpack Images and three Environments with the right hosts', async () => {
    const { app } = testApp();
    const main = '9f4b2c1d8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c';
    const release = '1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b';
    const response = await app.inject({
      method: 'POST',
      url: '/hooks/project/sync',
      payload: {
        controller: { metadata: { name: 'kapsa-project' } },
        parent: project({ main, release }),
        children: {},
        related: {
          'DomainPool.kapsa-project.io/v1alpha1': { apps: pool },
          'Registry.kapsa-project.io/v1alpha1': {
            main: {
              apiVersion: 'kapsa-project.io/v1alpha1',
              kind: 'Registry',
              metadata: { name: 'main' },
              spec: { endpoint: 'https://registry.example.com', auth: { secretRef: { name: 'registry-push' } } },
            },
          },
          'Secret.v1': {
            'kapsa-system/registry-push': {
              apiVersion: 'v1',
              kind: 'Secret',
              metadata: { name: 'registry-push', namespace: 'kapsa-system', labels: { 'kapsa-project.io/registry': 'main' } },
              type: 'kubernetes.io/basic-auth',
              data: { username: b64('bot'), password: b64('push-password') },
            },
          },
        },
        finalizing: false,
      },
    });
    expect(response.statusCode).toBe(200);
    const body = response.json() as { children: Array<{ kind: string; metadata: { name: string }; spec?: Record<string, any>; type?: string }> };
    const byKind = (kind: string) => body.children.filter((child) => child.kind === kind);
    expect(byKind('Namespace').map((child) => child.metadata.name)).toEqual(['shop']);
    expect(byKind('ServiceAccount').map((child) => child.metadata.name)).toEqual(['kapsa-build']);
    expect(byKind('Secret').map((child) => [child.metadata.name, child.type])).toEqual([
      ['kapsa-registry-push', 'kubernetes.io/dockerconfigjson'],
      ['kapsa-registry', 'kubernetes.io/dockerconfigjson'],
    ]);
    expect(byKind('Image').map((child) => [child.metadata.name, child.spec?.source.git.revision, child.spec?.tag])).toEqual([
      ['main', main, 'registry.example.com/acme/shop:main'],
      ['release', release, 'registry.example.com/acme/shop:release'],
    ]);
    expect(byKind('Environment').map((child) => [child.metadata.name, child.spec?.ingress.host])).toEqual([
      ['dev', 'dev.shop.apps.example.com'],
      ['staging', 'staging.shop.apps.example.com'],
      ['prod', 'shop.apps.example.com'],
    ]);
  });
});

describe('git poller over HTTP against a real git server', () => {
  let server: GitServer;
  let repo: BareRepo;
  let current: TestApp | undefined;
  beforeAll(async () => {
    server = await startGitServer();
    repo = await createBareRepo(server.root, 'shop.git');
    await repo.commit('main');
    await repo.commit('release');
  });
  afterAll(async () => {
    await current?.app.close();
    await server.close();
  });

  it('writes the branch heads, sees a pushed commit after the interval, and refuses the metadata address', async () => {
    let now = Date.parse('2026-11-26T12:00:00Z');
    current = testApp({ config: { gitAllowHttp: true, gitAllowedHosts: [server.hostPort], defaultPollIntervalSeconds: 30 }, clock: () => new Date(now) });
    const { app } = current;
    const call = (url: string) =>
      app.inject({ method: 'POST', url: '/hooks/git-poller/sync', payload: { object: project(undefined, url), attachments: {}, related: {} } });

    const first = await call(server.url('shop.git'));
    expect(first.statusCode).toBe(200);
    const firstRefs = JSON.parse((first.json() as { annotations: Record<string, string> }).annotations['kapsa-project.io/observed-refs'] ?? '{}') as Record<string, string>;
    expect(firstRefs).toEqual({ main: await repo.head('main'), release: await repo.head('release') });

    const pushed = await repo.pushFromWorkTree('main', 'index.html', '<h1>v2</h1>');
    const refsOf = async (reply: Promise<{ json(): unknown }>) =>
      JSON.parse(((await reply).json() as { annotations: Record<string, string> }).annotations['kapsa-project.io/observed-refs'] ?? '{}') as Record<string, string>;
    // Within the interval the repository is not polled again: the answer is the cached one.
    const requestsBefore = server.count('/shop.git/');
    expect((await refsOf(call(server.url('shop.git')))).main).toBe(firstRefs.main);
    expect(server.count('/shop.git/')).toBe(requestsBefore);
    // After the interval (30s, at most +10% jitter) the new commit shows.
    now += 40_000;
    expect((await refsOf(call(server.url('shop.git')))).main).toBe(pushed);

    const blocked = await app.inject({
      method: 'POST',
      url: '/hooks/git-poller/sync',
      payload: { object: project(undefined, 'http://169.254.169.254/latest/meta-data.git'), attachments: {}, related: {} },
    });
    expect((blocked.json() as { annotations: Record<string, string> }).annotations['kapsa-project.io/poll-error']).toMatch(/^Blocked: /);
  });
});

describe('DomainPool and Registry over HTTP', () => {
  let registry: RegistryServer;
  beforeAll(async () => {
    registry = await startRegistryServer();
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('allocates subdomains and names the older Project as winner of a conflict', async () => {
    const { app } = testApp();
    const claim = (name: string, subdomain: string, created: string) => ({
      apiVersion: 'kapsa-project.io/v1alpha1',
      kind: 'Project',
      metadata: { name, creationTimestamp: created, labels: { 'kapsa-project.io/domain-pool': 'apps' } },
      spec: { domain: { subdomain, domainPoolRef: { name: 'apps' } } },
    });
    const response = await app.inject({
      method: 'POST',
      url: '/hooks/domainpool/sync',
      payload: {
        parent: pool,
        children: {},
        related: {
          'Project.kapsa-project.io/v1alpha1': {
            newer: claim('newer', 'shop', '2026-06-01T00:00:00Z'),
            older: claim('older', 'shop', '2026-01-01T00:00:00Z'),
            blog: claim('blog', 'blog', '2026-03-01T00:00:00Z'),
          },
        },
      },
    });
    const status = (response.json() as { status: Record<string, unknown> }).status;
    expect(status.allocations).toEqual([
      { subdomain: 'blog', baseDomain: 'apps.example.com', project: 'blog' },
      { subdomain: 'shop', baseDomain: 'apps.example.com', project: 'older' },
    ]);
    expect(status.conflicts).toEqual([{ host: 'shop.apps.example.com', winner: 'older', losers: ['newer'] }]);
  });

  it('verifies a Registry against the real local registry with good credentials and reports Unauthorized with bad ones', async () => {
    const { app } = testApp();
    const user = registry.users[0];
    if (!user) throw new Error('the registry server has no user');
    const sync = (password: string) =>
      app.inject({
        method: 'POST',
        url: '/hooks/registry/sync',
        payload: {
          parent: { apiVersion: 'kapsa-project.io/v1alpha1', kind: 'Registry', metadata: { name: 'local', generation: 1 }, spec: { endpoint: registry.endpoint, auth: { secretRef: { name: 'push' } } } },
          children: {},
          related: {
            'Secret.v1': {
              'kapsa-system/push': {
                apiVersion: 'v1',
                kind: 'Secret',
                metadata: { name: 'push', namespace: 'kapsa-system' },
                type: 'kubernetes.io/basic-auth',
                data: { username: b64(user.username), password: b64(password) },
              },
            },
          },
        },
      });
    const good = (await sync(user.password)).json() as { status: { verified: boolean; conditions: Array<{ reason: string }> } };
    expect(good.status.verified).toBe(true);
    expect(good.status.conditions[0]?.reason).toBe('Verified');
    const bad = (await sync('wrong-password')).json() as { status: { verified: boolean; conditions: Array<{ reason: string }> } };
    expect(bad.status.verified).toBe(false);
    expect(bad.status.conditions[0]?.reason).toBe('Unauthorized');
    expect(JSON.stringify(bad)).not.toContain('wrong-password');
  });
});

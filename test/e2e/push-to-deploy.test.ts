// Push-to-deploy on the real engine: the real Metacontroller calls the real Kapsa service, whose
// poller reads a real git smart-HTTP server; Deployments roll out through the real
// controller-manager and scheduler onto a kwok node. Only kpack, cert-manager and the ingress
// controller are stand-ins (test/e2e/stand-ins.ts). Every assertion reads the API server.
//
// The scenarios share one Project and run in order, as a user's day would: each one starts from
// the state the previous one left. Each prints how long the engine took to converge.

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LABEL_PROJECT } from '../../hooks/lib/labels.ts';
import { hasCondition, KubeClient, waitFor, type KubeObject } from '../k8s/client.ts';
import { createBareRepo, startGitServer, type BareRepo, type GitServer } from '../support/git-server.ts';
import { startRegistryServer, type RegistryServer } from '../support/registry-server.ts';
import { KAPSA_NAMESPACE, logLines } from './engine.ts';
import { CertManagerStandIn, IngressControllerStandIn, KpackStandIn } from './stand-ins.ts';

const engine = inject('engine');
const MANAGER = 'kapsa-e2e-user';
const API = 'kapsa-project.io/v1alpha1';
const BASE_DOMAIN = 'apps.e2e.test';

let client: KubeClient;
let git: GitServer;
let repo: BareRepo;
let registry: RegistryServer;
let kpack: KpackStandIn;
const standIns: Array<{ stop(): Promise<void> }> = [];
const heads: Record<string, string> = {};

/** Waits for `predicate` and prints how long the engine took, the figure the issue asks to see. */
async function converge<T>(what: string, predicate: () => T | Promise<T>, timeoutMs = 60_000): Promise<NonNullable<T>> {
  const started = Date.now();
  const result = await waitFor(predicate, { timeoutMs, intervalMs: 200, description: what });
  console.log(`[e2e] ${what}: converged in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

const apply = (object: KubeObject) => client.apply(object, { fieldManager: MANAGER, force: true });
const get = (apiVersion: string, kind: string, name: string, namespace?: string) =>
  client.tryGet({ apiVersion, kind, name, ...(namespace ? { namespace } : {}) });
const project = (name = 'shop') => get(API, 'Project', name);
const environment = (name: string, namespace = 'shop') => get(API, 'Environment', name, namespace);
const deployment = (name: string, namespace = 'shop') => get('apps/v1', 'Deployment', name, namespace);

type Condition = { type: string; status?: string; reason?: string; message?: string };

function condition(object: KubeObject | undefined, type: string): Condition | undefined {
  const conditions = (object?.status as { conditions?: Condition[] } | undefined)?.conditions ?? [];
  return conditions.find((c) => c.type === type);
}

function imageOf(object: KubeObject | undefined): string | undefined {
  return (object?.spec as { template?: { spec?: { containers?: Array<{ image?: string }> } } } | undefined)?.template?.spec?.containers?.[0]?.image;
}

function available(object: KubeObject | undefined): boolean {
  return hasCondition(object, 'Available');
}

/** The image kpack reports for `commit` of the Image `name`, once that very revision is built. */
async function builtImage(name: string, commit: string): Promise<string | undefined> {
  const image = await get('kpack.io/v1alpha2', 'Image', name, 'shop');
  const spec = image?.spec as { source: { git: { revision: string } } } | undefined;
  const status = image?.status as { latestBuildImageGeneration?: number; latestImage?: string } | undefined;
  if (spec?.source.git.revision !== commit || status?.latestBuildImageGeneration !== image?.metadata.generation) return undefined;
  return hasCondition(image, 'Ready') ? status?.latestImage : undefined;
}

/** The Deployments of the Project's namespace as name → image, for "nothing running was lost". */
async function runningImages(namespace = 'shop'): Promise<Record<string, string | undefined>> {
  const list = await client.list('apps/v1', 'Deployment', { namespace });
  return Object.fromEntries(list.items.map((item) => [item.metadata.name ?? '', imageOf(item)]));
}

const SHOP_ACCESS = { admins: [{ kind: 'User', name: 'ana' }], viewers: [{ kind: 'Group', name: 'auditors' }] };

function shopProject(overrides: { spec?: Record<string, unknown>; name?: string; subdomain?: string } = {}): KubeObject {
  return {
    apiVersion: API,
    kind: 'Project',
    metadata: { name: overrides.name ?? 'shop' },
    spec: {
      repository: { url: git.url('shop.git'), branch: 'main', pollInterval: '10s' },
      build: { strategy: 'buildpacks' },
      registry: { name: 'local', imageRepository: 'e2e/shop' },
      domain: { subdomain: overrides.subdomain ?? 'shop', domainPoolRef: { name: 'apps' } },
      runtime: { ports: [{ name: 'http', containerPort: 8080 }] },
      environments: [
        { name: 'dev', branch: 'main' },
        { name: 'prod', branch: 'main', autoSync: false },
      ],
      previewEnvironments: { enabled: true, ttl: '1m', branches: { include: ['feature/*'] } },
      access: SHOP_ACCESS,
      ...overrides.spec,
    },
  };
}

beforeAll(async () => {
  client = new KubeClient(engine.kube);
  git = await startGitServer();
  repo = await createBareRepo(git.root, 'shop.git');
  heads.main = await repo.commit('main', 'first commit');
  heads['feature/ttl'] = await repo.commit('feature/ttl', 'a short-lived preview');
  registry = await startRegistryServer({ auth: 'htpasswd' });
  kpack = new KpackStandIn(client).start();
  standIns.push(kpack, new CertManagerStandIn(client).start(), new IngressControllerStandIn(client).start());

  const user = registry.users[0];
  if (!user) throw new Error('the registry has no user');
  await apply({ apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'e2e-issuer' }, spec: { selfSigned: {} } });
  await apply({
    apiVersion: API,
    kind: 'DomainPool',
    metadata: { name: 'apps' },
    spec: {
      baseDomains: [BASE_DOMAIN],
      certManager: { issuerRef: { name: 'e2e-issuer', kind: 'ClusterIssuer' } },
      allocationPolicy: { reservedSubdomains: ['admin'] },
    },
  });
  await apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'registry-push', namespace: KAPSA_NAMESPACE, labels: { 'kapsa-project.io/registry': 'local' } },
    type: 'kubernetes.io/basic-auth',
    stringData: { username: user.username, password: user.password },
  });
  await apply({
    apiVersion: API,
    kind: 'Registry',
    metadata: { name: 'local' },
    spec: {
      type: 'generic',
      endpoint: registry.endpoint,
      auth: { secretRef: { name: 'registry-push' } },
      imagePullSecret: { name: 'kapsa-registry', generatePerNamespace: true },
    },
  });
}, 120_000);

afterAll(async () => {
  await Promise.all(standIns.map((standIn) => standIn.stop()));
  await registry?.stop();
  await git?.close();
  client?.close();
});

describe.sequential('push to deploy on the real engine', () => {
  /** The shop's Secrets Role as first written; every later sync must leave it as it is. */
  let secretsRoleVersion: string | undefined;
  it('the Registry reports Verified against the real distribution registry', async () => {
    const verified = await converge('Registry Verified', async () => {
      const object = await get(API, 'Registry', 'local');
      return condition(object, 'Ready')?.status === 'True' ? object : undefined;
    });
    expect((verified.status as { verified?: boolean }).verified).toBe(true);
    expect(condition(verified, 'Ready')?.reason).toBe('Verified');
  });

  it('a new Project: the poller finds the branches; Namespace, ServiceAccount, Secrets, a pinned Image and the Environments appear', async () => {
    await apply(shopProject());
    const observed = await converge('branches observed by the poller', async () => {
      const refs = (await project())?.metadata.annotations?.['kapsa-project.io/observed-refs'];
      return refs && JSON.parse(refs).main === heads.main ? (JSON.parse(refs) as Record<string, string>) : undefined;
    });
    expect(observed).toEqual({ 'feature/ttl': heads['feature/ttl'], main: heads.main });
    await converge('namespace, build ServiceAccount, Secrets, Image and Environments', async () => {
      const [namespace, image, dev, prod] = await Promise.all([
        get('v1', 'Namespace', 'shop'),
        get('kpack.io/v1alpha2', 'Image', 'main', 'shop'),
        environment('dev'),
        environment('prod'),
      ]);
      return namespace && image && dev && prod;
    });
    const image = await get('kpack.io/v1alpha2', 'Image', 'main', 'shop');
    expect((image?.spec as { source: { git: { revision: string; url: string } } }).source.git).toEqual({ url: git.url('shop.git'), revision: heads.main });
    const secrets = (await client.list('v1', 'Secret', { namespace: 'shop' })).items.map((s) => s.metadata.name).sort();
    expect(secrets).toEqual(expect.arrayContaining(['kapsa-registry']));
    const accounts = (await client.list('v1', 'ServiceAccount', { namespace: 'shop' })).items.map((s) => s.metadata.name);
    expect(accounts).toContain('kapsa-build');
    const labels = (await project())?.metadata.labels ?? {};
    expect(labels['kapsa-project.io/domain-pool']).toBe('apps');
  });

  it('spec.access becomes RoleBindings in the namespace; a list taken out of the spec loses its binding', async () => {
    const bindingNames = async () => (await client.list('rbac.authorization.k8s.io/v1', 'RoleBinding', { namespace: 'shop' })).items.map((item) => item.metadata.name).sort();
    await converge('the admin, Secrets and viewer RoleBindings', async () => (await bindingNames()).length === 3);
    expect(await bindingNames()).toEqual(['kapsa-project-admin', 'kapsa-project-secrets', 'kapsa-project-viewer']);
    const viewer = await get('rbac.authorization.k8s.io/v1', 'RoleBinding', 'kapsa-project-viewer', 'shop');
    expect(viewer?.subjects).toEqual([{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'auditors' }]);
    // No environment of the shop names a Secret; with push webhooks on (as in this engine) the
    // Secrets Role grants exactly the reading of the team's own webhook token.
    const secretsRole = await get('rbac.authorization.k8s.io/v1', 'Role', 'kapsa-project-secrets', 'shop');
    expect(secretsRole?.rules).toEqual([{ apiGroups: [''], resources: ['secrets'], resourceNames: ['kapsa-webhook'], verbs: ['get', 'watch'] }]);
    secretsRoleVersion = secretsRole?.metadata.resourceVersion;
    await apply(shopProject({ spec: { access: { admins: SHOP_ACCESS.admins } } }));
    await converge('the viewer RoleBinding removed', async () => (await bindingNames()).join() === 'kapsa-project-admin,kapsa-project-secrets');
    await apply(shopProject());
    await converge('the viewer RoleBinding back', async () => (await bindingNames()).length === 3);
  });

  it('a finished build reaches the autoSync Environment; its Deployment becomes Available and the Project Ready with its URLs', async () => {
    const dev = await converge('dev Deployment Available on the built image', async () => {
      const object = await deployment('dev');
      return available(object) && imageOf(object)?.includes('@sha256:') ? object : undefined;
    });
    expect(imageOf(dev)).toMatch(/^127\.0\.0\.1:\d+\/e2e\/shop:main@sha256:[0-9a-f]{64}$/);
    const pods = (await client.list('v1', 'Pod', { namespace: 'shop', labelSelector: 'kapsa-project.io/environment=dev' })).items;
    expect(pods.length).toBeGreaterThan(0);
    expect(pods.every((pod) => (pod.status as { phase?: string }).phase === 'Running')).toBe(true);
    await converge('Environment dev Ready', async () => condition(await environment('dev'), 'Ready')?.status === 'True');
    const ready = await converge('Project Ready with URLs', async () => {
      const object = await project();
      return condition(object, 'Ready')?.status === 'True' ? object : undefined;
    });
    const urls = (ready.status as { urls?: string[] }).urls ?? [];
    expect(urls).toContain(`https://shop.${BASE_DOMAIN}`);
    // autoSync off: the first build is still deployed once, so prod is not left empty.
    await converge('prod Deployment Available (first deploy)', async () => available(await deployment('prod')));
  });

  it('autoSync: false stays put on a new commit until a revision promotes it, with no new build', async () => {
    const firstImage = imageOf(await deployment('prod'));
    heads.main = await repo.commit('main', 'second commit');
    const secondImage = await converge('the second commit built and dev rolled to it', async () => {
      const built = await builtImage('main', heads.main ?? '');
      const dev = await deployment('dev');
      return built && imageOf(dev) === built && available(dev) ? built : undefined;
    });
    expect(secondImage).not.toBe(firstImage);
    expect(imageOf(await deployment('prod'))).toBe(firstImage);
    const buildsBefore = kpack.builds.length;

    const spec = shopProject().spec as { environments: Array<Record<string, unknown>> };
    spec.environments[1] = { name: 'prod', branch: 'main', autoSync: false, revision: heads.main };
    await apply(shopProject({ spec: { environments: spec.environments } }));
    await converge('prod promoted to the second commit', async () => {
      const prod = await deployment('prod');
      return imageOf(prod) === secondImage && available(prod);
    });
    expect(kpack.builds.length).toBe(buildsBefore);
  });

  it('a failed build keeps the running image and says so', async () => {
    const running = imageOf(await deployment('dev'));
    const failing = await repo.commit('main', 'a commit that does not build');
    kpack.failingCommits.add(failing);
    const reported = await converge('the failed build reported on the Project', async () => {
      const object = await project();
      return (object?.status as { latestCommit?: string } | undefined) && JSON.stringify(condition(object, 'BuildSucceeded') ?? {}).includes(failing.slice(0, 7))
        ? condition(object, 'BuildSucceeded')
        : undefined;
    });
    expect(reported).toMatchObject({ status: 'False', reason: 'BuildFailed' });
    expect(imageOf(await deployment('dev'))).toBe(running);
    expect(available(await deployment('dev'))).toBe(true);
    // The next good commit builds and rolls out again.
    heads.main = await repo.commit('main', 'the fix');
    await converge('dev rolled to the fixed commit', async () => {
      const built = await builtImage('main', heads.main ?? '');
      const dev = await deployment('dev');
      return built && imageOf(dev) === built && available(dev);
    });
    await converge('builds succeed again', async () => condition(await project(), 'BuildSucceeded')?.status === 'True');
  });

  it('a pushed branch gets a preview; deleting the branch removes it', async () => {
    heads['feature/login'] = await repo.commit('feature/login', 'login page');
    const preview = await converge('preview Environment for feature/login', async () => {
      const list = await client.list(API, 'Environment', { namespace: 'shop' });
      return list.items.find((item) => (item.spec as { branch?: string }).branch === 'feature/login');
    });
    const name = preview.metadata.name ?? '';
    await converge('preview Deployment Available', async () => available(await deployment(name)));
    await repo.deleteBranch('feature/login');
    await converge('preview gone after its branch was deleted', async () => !(await environment(name)) && !(await deployment(name)));
    // The other environments were not touched.
    expect(available(await deployment('dev'))).toBe(true);
  });

  it('a preview expires after its TTL and a new commit revives it', async () => {
    const previewOf = async (branch: string) =>
      (await client.list(API, 'Environment', { namespace: 'shop' })).items.find((item) => (item.spec as { branch?: string }).branch === branch);
    await converge('feature/ttl preview expired (ttl 1m)', async () => !(await previewOf('feature/ttl')), 150_000);
    // Metacontroller writes the parent's status after it has managed the children, so the
    // status may name the expiry a moment after the Environment is gone.
    const expired = await converge('feature/ttl listed in status.expiredPreviews', async () => {
      const status = (await project())?.status as { expiredPreviews?: unknown[] } | undefined;
      return JSON.stringify(status?.expiredPreviews ?? []).includes('feature/ttl') ? status : undefined;
    });
    expect(JSON.stringify(expired.expiredPreviews ?? [])).toContain('feature/ttl');
    // Expired means expired: through a poll and a resync it does not come back by itself.
    const until = Date.now() + 12_000;
    while (Date.now() < until) {
      expect(await previewOf('feature/ttl')).toBeUndefined();
      await new Promise((r) => setTimeout(r, 500));
    }
    heads['feature/ttl'] = await repo.commit('feature/ttl', 'still alive');
    const revived = await converge('feature/ttl preview revived by a new commit', async () => {
      const preview = await previewOf('feature/ttl');
      return (preview?.spec as { commit?: string } | undefined)?.commit === heads['feature/ttl'] ? preview : undefined;
    });
    await converge('revived preview Available', async () => available(await deployment(revived.metadata.name ?? '')));
    // Done with it: later scenarios compare the standard environments only.
    await repo.deleteBranch('feature/ttl');
    await converge('feature/ttl preview gone with its branch', async () => !(await previewOf('feature/ttl')));
  });

  it('two Projects claim one subdomain: the older keeps it, the younger gets DomainConflict and no Ingress', async () => {
    await apply(shopProject({ name: 'shop-rival', subdomain: 'shop', spec: { previewEnvironments: { enabled: false } } }));
    const rival = await converge('DomainConflict on the younger Project', async () => {
      const object = await project('shop-rival');
      return condition(object, 'DomainConflict')?.status === 'True' ? object : undefined;
    });
    expect(condition(rival, 'Ready')?.status).toBe('False');
    await converge('the rival has Environments but no Ingress', async () => {
      const envs = (await client.list(API, 'Environment', { namespace: 'shop-rival' })).items;
      const ingresses = (await client.list('networking.k8s.io/v1', 'Ingress', { namespace: 'shop-rival' })).items;
      return envs.length > 0 && ingresses.length === 0;
    });
    expect(condition(await project('shop'), 'DomainAllocated')?.status).toBe('True');
    const pool = await converge('the DomainPool lists both claims', async () => {
      const object = await get(API, 'DomainPool', 'apps');
      const text = JSON.stringify(object?.status ?? {});
      return text.includes('shop-rival') && text.includes('"shop"') ? object : undefined;
    });
    expect(JSON.stringify(pool.status)).toContain('shop-rival');
    await client.delete({ apiVersion: API, kind: 'Project', name: 'shop-rival' });
    await converge('the rival namespace is gone', async () => !(await get('v1', 'Namespace', 'shop-rival')), 90_000);
  });

  describe.sequential('bad input loses nothing', () => {
    let before: Record<string, string | undefined>;
    beforeAll(async () => {
      before = await runningImages();
    });

    const keepsEverything = async (what: string, check: () => Promise<boolean>) => {
      await converge(what, check);
      expect(await runningImages()).toEqual(before);
      for (const name of Object.keys(before)) expect(available(await deployment(name))).toBe(true);
    };

    it('an invalid edit is refused by the CRD, or kept out by the hook with InvalidSpec; every Deployment stays', async () => {
      // Caught at `kubectl apply` by the generated CRD schema: nothing stored, nothing changes.
      const refused = await client.apply(shopProject({ spec: { environments: [{ name: 'Not A Name!', branch: 'main' }] } }), { fieldManager: MANAGER, force: true }).then(
        () => undefined,
        (error: Error) => error.message,
      );
      expect(refused).toMatch(/spec\.environments\[0\]\.name/);
      // Past the schema, only the hook can tell: a URL the pattern lets through but no parser takes.
      await apply(shopProject({ spec: { repository: { url: 'http://%zz/shop.git', branch: 'main', pollInterval: '10s' } } }));
      await keepsEverything('InvalidSpec reported', async () => condition(await project(), 'Ready')?.reason === 'InvalidSpec');
      expect(condition(await project(), 'Ready')?.message).toMatch(/spec\.repository\.url/);
      await apply(shopProject());
      await converge('valid again', async () => condition(await project(), 'Ready')?.status === 'True');
    });

    it('a missing DomainPool keeps every Deployment and says which', async () => {
      await apply(shopProject({ spec: { domain: { subdomain: 'shop', domainPoolRef: { name: 'nowhere' } } } }));
      await keepsEverything('DomainPoolNotFound reported', async () => condition(await project(), 'DomainAllocated')?.reason === 'DomainPoolNotFound');
      await apply(shopProject());
      await converge('the pool is back', async () => condition(await project(), 'DomainAllocated')?.status === 'True');
    });

    it('a deleted Registry Secret keeps every Deployment and says why', async () => {
      const secret = await client.get({ apiVersion: 'v1', kind: 'Secret', name: 'registry-push', namespace: KAPSA_NAMESPACE });
      await client.delete({ apiVersion: 'v1', kind: 'Secret', name: 'registry-push', namespace: KAPSA_NAMESPACE });
      await keepsEverything('the missing Registry Secret reported', async () => condition(await project(), 'BuildSucceeded')?.status === 'False');
      const registryStatus = await converge('the Registry reports the missing Secret', async () => {
        const object = await get(API, 'Registry', 'local');
        return condition(object, 'Ready')?.reason === 'SecretNotFound' ? object : undefined;
      });
      expect(JSON.stringify(registryStatus.status)).not.toContain(registry.users[0]?.password ?? 'x');
      await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'registry-push', namespace: KAPSA_NAMESPACE, labels: secret.metadata.labels }, type: 'kubernetes.io/basic-auth', data: secret.data });
      await converge('builds possible again', async () => condition(await project(), 'BuildSucceeded')?.status === 'True');
    });

    it('a git server that stops answering keeps every Deployment and reports the repository unreachable', async () => {
      git.hang.add('/');
      try {
        await keepsEverything('RepositoryAccessible=False', async () => condition(await project(), 'RepositoryAccessible')?.status === 'False');
        expect(await get('kpack.io/v1alpha2', 'Image', 'main', 'shop')).toBeDefined();
      } finally {
        git.hang.delete('/');
      }
      await converge('the repository is reachable again', async () => condition(await project(), 'RepositoryAccessible')?.status === 'True', 90_000);
    });
  });

  it('deleting the Project leaves no object behind', async () => {
    // Dozens of syncs (spec edits, kept children, resyncs) later the Secrets Role is the one first
    // written: nothing in the hook's answer moves it back and forth.
    expect(secretsRoleVersion).toBeDefined();
    expect((await get('rbac.authorization.k8s.io/v1', 'Role', 'kapsa-project-secrets', 'shop'))?.metadata.resourceVersion).toBe(secretsRoleVersion);
    await client.delete({ apiVersion: API, kind: 'Project', name: 'shop' });
    await converge('Project, Namespace and every child gone', async () => !(await project()) && !(await get('v1', 'Namespace', 'shop')), 120_000);
    const kinds: Array<[string, string]> = [
      [API, 'Environment'],
      ['apps/v1', 'Deployment'],
      ['apps/v1', 'ReplicaSet'],
      ['v1', 'Pod'],
      ['v1', 'Service'],
      ['networking.k8s.io/v1', 'Ingress'],
      ['cert-manager.io/v1', 'Certificate'],
      ['kpack.io/v1alpha2', 'Image'],
      ['v1', 'Secret'],
      ['v1', 'ServiceAccount'],
      ['autoscaling/v2', 'HorizontalPodAutoscaler'],
      ['batch/v1', 'Job'],
      ['rbac.authorization.k8s.io/v1', 'RoleBinding'],
      ['rbac.authorization.k8s.io/v1', 'Role'],
    ];
    for (const [apiVersion, kind] of kinds) {
      const left = (await client.list(apiVersion, kind, { labelSelector: `${LABEL_PROJECT}=shop`, allNamespaces: true })).items;
      expect(left.map((item) => `${kind} ${item.metadata.namespace}/${item.metadata.name}`)).toEqual([]);
    }
  });

  it('no hook answered 4xx or 5xx and Metacontroller logged no sync error for a Kapsa controller', () => {
    const kapsaErrors = logLines(engine.logs.kapsa).filter((line) => {
      const entry = JSON.parse(line) as { level?: string | number; msg?: string };
      return entry.msg === 'hook request refused' || entry.msg === 'hook failed' || entry.level === 'error' || entry.level === 50;
    });
    expect(kapsaErrors).toEqual([]);
    const syncErrors = logLines(engine.logs.metacontroller).filter(
      (line) => /"level":"error"/.test(line) || /sync hook failed|unsupported status code|selector must have/.test(line),
    );
    expect(syncErrors).toEqual([]);
  });
});

// Who may touch a Project, on the real API server: the chart's ValidatingAdmissionPolicy, its
// ClusterRoles and Metacontroller's RBAC exactly as `helm template` renders them, the Project
// hook's own RoleBindings, and users impersonated by the suite's admin (system:masters may).
//
// Not exercised here: reading a real log stream. The suite has no kubelet, so `pods/log` is
// checked by access reviews and by a real GET that passes authorization and then finds no node.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupObjects } from '../../hooks/lib/objects.ts';
import { projectSettings } from '../../hooks/project/settings.ts';
import { syncProject } from '../../hooks/project/sync.ts';
import { defaultConfig } from '../../hooks/server/config.ts';
import { helmBinary, renderChart } from '../chart/helm.ts';
import { KubeClient, waitFor, type Impersonation, type KubeObject } from './client.ts';
import { applyStrict, kubeClient, refusal } from './support.ts';

const PROJECT = { apiVersion: 'kapsa-project.io/v1alpha1', kind: 'Project' };
const suffix = randomBytes(3).toString('hex');
const names = { ana: `ana-shop-${suffix}`, bo: `bo-shop-${suffix}`, legacy: `legacy-${suffix}`, spare: `spare-${suffix}` };

const ANA: Impersonation = { user: 'ana', groups: ['kapsa-developers'] };
const BO: Impersonation = { user: 'bo', groups: ['kapsa-developers', 'team-bo'] };
const VIC: Impersonation = { user: 'vic' };
const PAT: Impersonation = { user: 'pat', groups: ['kapsa-platform-admins'] };
const serviceAccount = (namespace: string, name: string): Impersonation & { groups: string[] } => ({
  user: `system:serviceaccount:${namespace}:${name}`,
  groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`],
});
const METACONTROLLER = serviceAccount('metacontroller', 'metacontroller');
const KAPSA = serviceAccount('kapsa-system', 'kapsa');
// A CI ServiceAccount that a cluster admin put into the creators' group.
const CI = { ...serviceAccount('ci', 'deployer'), groups: [...serviceAccount('ci', 'deployer').groups, 'kapsa-developers'] };

/** How the API server words a refusal by the policy, around the policy's own message. */
const denial = (project: string, message: string) =>
  `projects.kapsa-project.io "${project}" is forbidden: ValidatingAdmissionPolicy 'kapsa-project-access' with binding 'kapsa-project-access' denied request: ${message}`;

const RECONCILE_ANNOTATION = 'kapsa-project.io/reconcile-requested-at';
const PLATFORM_GROUPS = 'kapsa-platform-admins, system:masters';

function project(name: string, access?: Record<string, unknown>, finalizers?: string[]): KubeObject {
  return {
    ...PROJECT,
    metadata: { name, ...(finalizers ? { finalizers } : {}) },
    spec: {
      repository: { url: 'https://git.example.com/acme/shop.git' },
      registry: { name: 'main' },
      domain: { subdomain: name, domainPoolRef: { name: 'apps' } },
      environments: [{ name: 'dev' }],
      ...(access ? { access } : {}),
    },
  };
}

describe('who may touch a Project (the chart policy, roles and the hook RoleBindings)', () => {
  const admin = kubeClient();
  const clients: KubeClient[] = [];
  const as = (who: Impersonation): KubeClient => {
    const client = new KubeClient(admin, { impersonate: who });
    clients.push(client);
    return client;
  };
  const ana = as(ANA);
  const bo = as(BO);
  const vic = as(VIC);
  const pat = as(PAT);
  const metacontroller = as(METACONTROLLER);
  const kapsa = as(KAPSA);
  const ci = as(CI);
  /** Cluster-scoped objects this file made, removed afterwards so later files see the server as it was. */
  const made: KubeObject[] = [];

  const projectPath = (name: string) => admin.objectPath({ ...PROJECT, name });
  const mergePatch = async (client: KubeClient, name: string, patch: unknown, subresource = '') =>
    client.request('PATCH', `${await projectPath(name)}${subresource}`, patch, 'application/merge-patch+json');

  beforeAll(async () => {
    helmBinary();
    const chart = renderChart({ projectAccess: { creatorGroups: ['kapsa-developers'] } });
    const installed = chart.filter((object) =>
      ['ClusterRole', 'ClusterRoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'].includes(object.kind),
    );
    expect(installed.map((object) => `${object.kind}/${object.metadata.name}`).sort()).toEqual([
      'ClusterRole/kapsa-metacontroller',
      'ClusterRole/kapsa-project-admin',
      'ClusterRole/kapsa-project-creator',
      'ClusterRole/kapsa-project-developer',
      'ClusterRole/kapsa-project-viewer',
      'ClusterRoleBinding/kapsa-metacontroller',
      'ClusterRoleBinding/kapsa-project-creators',
      'ValidatingAdmissionPolicy/kapsa-project-access',
      'ValidatingAdmissionPolicyBinding/kapsa-project-access',
    ]);
    // Platform admins hold cluster-admin in a real cluster; the push-webhook receiver's own grant
    // (get and patch on Projects for Kapsa's ServiceAccount) is not in this chart yet, so the test
    // gives it here: the policy, not RBAC, must be what limits that account.
    const grants: KubeObject[] = [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: `test-platform-admins-${suffix}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'kapsa-platform-admins' }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: `test-reconcile-requester-${suffix}` },
        rules: [{ apiGroups: ['kapsa-project.io'], resources: ['projects'], verbs: ['get', 'list', 'patch'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: `test-reconcile-requester-${suffix}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `test-reconcile-requester-${suffix}` },
        subjects: [{ kind: 'ServiceAccount', name: 'kapsa', namespace: 'kapsa-system' }],
      },
    ];
    for (const object of [...installed, ...grants] as KubeObject[]) {
      await applyStrict(admin, object);
      if (object.kind !== 'ClusterRole' || object.metadata.name?.startsWith('test-')) made.push(object);
    }
    // The admission plugin picks a new policy up asynchronously: wait until it refuses.
    await waitFor(async () => (await refusal(bo.create(project(names.spare, { admins: [{ kind: 'User', name: 'ana' }] }), { dryRun: true })))?.includes('may not create'), {
      timeoutMs: 30_000,
      description: 'the project-access policy to be enforced',
    });
  }, 900_000);

  afterAll(async () => {
    for (const name of Object.values(names)) await admin.delete({ ...PROJECT, name }, { ignoreNotFound: true });
    for (const object of made.reverse()) {
      await admin.delete({ apiVersion: object.apiVersion, kind: object.kind, name: object.metadata.name ?? '' }, { ignoreNotFound: true });
    }
    for (const name of [names.ana, names.bo]) await admin.delete({ apiVersion: 'v1', kind: 'Namespace', name }, { ignoreNotFound: true });
    for (const client of [admin, ...clients]) client.close();
  });

  it('on create, the requester must be among the admins: as a User, through a Group or as a ServiceAccount', async () => {
    await ana.create(project(names.ana, { admins: [{ kind: 'User', name: 'ana' }], viewers: [{ kind: 'User', name: 'vic' }] }));
    expect(await refusal(bo.create(project(names.bo, { admins: [{ kind: 'User', name: 'ana' }] })))).toBe(
      denial(
        names.bo,
        `user bo may not create Project ${names.bo} without being listed in its spec.access.admins ` +
          `(as a User, a Group they are in or their ServiceAccount), so that they can manage it; platform admins (groups ${PLATFORM_GROUPS}) may`,
      ),
    );
    expect(await refusal(bo.create(project(names.bo)))).toMatch(/user bo may not create Project/);
    await bo.create(project(names.bo, { admins: [{ kind: 'Group', name: 'team-bo' }] }));
    // A ServiceAccount names itself as one: namespace and name.
    const listedCi = project(names.spare, { admins: [{ kind: 'ServiceAccount', name: 'deployer', namespace: 'ci' }] });
    expect(await refusal(ci.create(listedCi, { dryRun: true }))).toBeUndefined();
    const otherNamespace = project(names.spare, { admins: [{ kind: 'ServiceAccount', name: 'deployer', namespace: 'cd' }] });
    expect(await refusal(ci.create(otherNamespace, { dryRun: true }))).toMatch(/user system:serviceaccount:ci:deployer may not create Project/);
  });

  it('Ana edits her Project; Bo can neither edit it, make himself its admin, nor delete it', async () => {
    // dev reads the api-key Secret (so Ana's developers may), and the repository is private.
    await mergePatch(ana, names.ana, {
      spec: { environments: [{ name: 'dev', secretRefs: ['api-key'] }, { name: 'prod' }], repository: { credentials: { secretRef: { name: 'shop-git' } } } },
    });
    const bosRefusal = (verb: string) =>
      denial(names.ana, `user bo may not ${verb} Project ${names.ana}: not listed in its spec.access.admins and not in a platform-admin group (${PLATFORM_GROUPS})`);
    expect(await refusal(mergePatch(bo, names.ana, { spec: { repository: { url: 'https://git.example.com/bo/evil.git' } } }))).toBe(bosRefusal('update'));
    // The stored admins decide, so listing himself in the same request does not help.
    expect(await refusal(mergePatch(bo, names.ana, { spec: { access: { admins: [{ kind: 'User', name: 'bo' }] } } }))).toBe(bosRefusal('update'));
    expect(await refusal(bo.delete({ ...PROJECT, name: names.ana }))).toBe(bosRefusal('delete'));
    // Status is not his either: the creator role has no projects/status.
    expect(await refusal(mergePatch(bo, names.ana, { status: { phase: 'Ready' } }, '/status'))).toMatch(/cannot patch resource "projects\/status"/);
    // An admin may hand the Project over, but not leave it without admins.
    expect(await refusal(mergePatch(ana, names.ana, { spec: { access: { admins: [] } } }))).toBe(
      denial(names.ana, `user ana may not leave Project ${names.ana} without admins (spec.access.admins would be empty): only a platform admin (groups ${PLATFORM_GROUPS}) may`),
    );
    const stored = await admin.get({ ...PROJECT, name: names.ana });
    expect((stored.spec as { environments: unknown[] }).environments).toHaveLength(2);
    expect((stored.spec as { repository: { url: string } }).repository.url).toBe('https://git.example.com/acme/shop.git');
  });

  it('a Project without spec.access is for platform admins only; a platform admin may do everything', async () => {
    await pat.create(project(names.legacy));
    expect(await refusal(mergePatch(ana, names.legacy, { spec: { environments: [{ name: 'qa' }] } }))).toBe(
      denial(names.legacy, `Project ${names.legacy} has no spec.access.admins, so only platform admins (groups ${PLATFORM_GROUPS}) may update it; user ana is in none of them`),
    );
    expect(await refusal(ana.delete({ ...PROJECT, name: names.legacy }))).toMatch(/has no spec\.access\.admins, so only platform admins .* may delete it/);
    await mergePatch(pat, names.ana, { spec: { access: { developers: [{ kind: 'User', name: 'cy' }] } } });
    await mergePatch(pat, names.legacy, { spec: { access: { admins: [] } } });
    await pat.delete({ ...PROJECT, name: names.legacy });
    expect(await admin.tryGet({ ...PROJECT, name: names.legacy })).toBeUndefined();
  });

  it("Metacontroller's ServiceAccount writes status, the decorators' labels and annotations, and the hook's children", async () => {
    await mergePatch(metacontroller, names.ana, { status: { phase: 'Pending', observedGeneration: 1 } }, '/status');
    await mergePatch(metacontroller, names.ana, {
      metadata: { labels: { 'kapsa-project.io/domain-pool': 'apps' }, annotations: { 'kapsa-project.io/observed-refs': '{"main":"0123456789abcdef0123456789abcdef01234567"}' } },
    });
    for (const name of [names.ana, names.bo]) {
      const applied = await applyHookChildren(name);
      expect(applied.filter((kind) => kind === 'RoleBinding').length, name).toBeGreaterThan(0);
      expect(applied.filter((kind) => kind === 'Role'), name).toEqual(['Role']);
    }
    // The Role Metacontroller wrote for Ana names her environment's Secret and nothing else.
    const role = await admin.get({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', name: 'kapsa-project-secrets', namespace: names.ana });
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['secrets'], resourceNames: ['api-key'], verbs: ['get', 'watch', 'update', 'patch', 'delete'] }]);
    // Bo's environments name no Secret: his Role grants nothing. The server answers `rules: null`
    // for it, which is why the hook writes no rules key rather than `[]`.
    const empty = await admin.get({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', name: 'kapsa-project-secrets', namespace: names.bo });
    expect(empty.rules).toBeNull();
    // `bind` is granted on the three project roles only: a binding to anything else is escalation.
    const escalation: KubeObject = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'grab', namespace: names.ana },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'bo' }],
    };
    expect(await refusal(applyStrict(metacontroller, escalation))).toMatch(/attempting to grant RBAC permissions not currently held/);
  });

  /**
   * Runs the pure Project hook on the stored Project, with a Registry and the git credentials it
   * names as related objects, and applies its Namespace, RBAC and Secret copies (registry push and
   * pull, git) as Metacontroller would.
   */
  async function applyHookChildren(name: string): Promise<string[]> {
    const parent = await admin.get({ ...PROJECT, name });
    const reply = syncProject({ parent, children: {}, related: groupObjects(relatedFor(name)) }, { now: new Date('2026-11-26T12:00:00Z'), settings: projectSettings(defaultConfig()) });
    // Bindings before the Role they name: Metacontroller keeps no order, and `bind` must cover it.
    const order = ['Namespace', 'RoleBinding', 'Role', 'Secret'];
    const children = reply.children.filter((child) => order.includes(child.kind)).sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
    for (const child of children) await applyStrict(metacontroller, child, { fieldManager: 'metacontroller' });
    return children.map((child) => child.kind);
  }

  it("Kapsa's ServiceAccount may set the reconcile annotation and nothing else", async () => {
    await mergePatch(kapsa, names.ana, { metadata: { annotations: { [RECONCILE_ANNOTATION]: '2026-11-26T12:00:00Z' } } });
    const stored = await admin.get({ ...PROJECT, name: names.ana });
    expect(stored.metadata.annotations?.[RECONCILE_ANNOTATION]).toBe('2026-11-26T12:00:00Z');
    const denied = denial(
      names.ana,
      `Kapsa's service account system:serviceaccount:kapsa-system:kapsa may only change the annotation ${RECONCILE_ANNOTATION} of Project ${names.ana}`,
    );
    expect(await refusal(mergePatch(kapsa, names.ana, { spec: { domain: { subdomain: 'taken' } } }))).toBe(denied);
    expect(await refusal(mergePatch(kapsa, names.ana, { metadata: { annotations: { [RECONCILE_ANNOTATION]: 'now', 'kapsa-project.io/observed-refs': '{}' } } }))).toBe(denied);
    expect(await refusal(mergePatch(kapsa, names.ana, { metadata: { labels: { 'kapsa-project.io/domain-pool': 'other' } } }))).toBe(denied);
  });

  it("Ana's RoleBindings let her read pod logs and her environment's Secret in her namespace and nothing in Bo's; a viewer reads no Secrets", async () => {
    for (const namespace of [names.ana, names.bo]) {
      await applyStrict(admin, restrictedPod(namespace));
      await applyStrict(admin, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace }, data: { MODE: 'demo' } });
      await applyStrict(admin, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'api-key', namespace }, stringData: { KEY: 'not-for-bo' } });
    }
    const review = async (client: KubeClient, namespace: string, resource: string, subresource = '', verb = 'get', name = '') => {
      const answer = (await client.request('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { namespace, verb, resource, subresource, name } },
      })) as { status: { allowed: boolean } };
      return answer.status.allowed;
    };
    expect(await review(ana, names.ana, 'pods', 'log')).toBe(true);
    expect(await review(ana, names.ana, 'pods', 'portforward', 'create')).toBe(true);
    expect(await review(ana, names.bo, 'pods', 'log')).toBe(false);
    expect(await review(bo, names.bo, 'pods', 'log')).toBe(true);
    // The real log endpoint: authorized in her namespace (empty: no node runs the pod), forbidden in Bo's.
    const logs = (client: KubeClient, namespace: string) => client.request('GET', `/api/v1/namespaces/${namespace}/pods/app/log`);
    await expect(logs(ana, names.ana)).resolves.toBe('');
    await expect(logs(ana, names.bo)).rejects.toMatchObject({ status: 403 });
    const get = (client: KubeClient, namespace: string, kind: string, name: string) => client.get({ apiVersion: 'v1', kind, name, namespace });
    await expect(get(ana, names.ana, 'Secret', 'api-key')).resolves.toMatchObject({ kind: 'Secret' });
    await expect(get(ana, names.ana, 'Pod', 'app')).resolves.toMatchObject({ kind: 'Pod' });
    for (const [kind, name] of [['Secret', 'api-key'], ['ConfigMap', 'settings'], ['Pod', 'app']] as const) {
      await expect(get(ana, names.bo, kind, name), `${kind} in Bo's namespace`).rejects.toMatchObject({ status: 403 });
    }
    await expect(ana.list('v1', 'Pod', { namespace: names.bo })).rejects.toMatchObject({ status: 403 });
    // Vic views Ana's Project: ConfigMaps and pods yes, Secrets no (neither one nor the list).
    await expect(get(vic, names.ana, 'ConfigMap', 'settings')).resolves.toMatchObject({ data: { MODE: 'demo' } });
    await expect(get(vic, names.ana, 'Pod', 'app')).resolves.toMatchObject({ kind: 'Pod' });
    await expect(get(vic, names.ana, 'Secret', 'api-key')).rejects.toMatchObject({ status: 403 });
    await expect(vic.list('v1', 'Secret', { namespace: names.ana })).rejects.toMatchObject({ status: 403 });
    expect(await review(vic, names.ana, 'configmaps', '', 'update')).toBe(false);
    // Cy became a developer through the platform admin's edit: the referenced Secret yes, a shell no.
    const cy = as({ user: 'cy' });
    expect(await review(cy, names.ana, 'secrets', '', 'update', 'api-key')).toBe(true);
    expect(await review(cy, names.ana, 'secrets', '', 'update', 'kapsa-registry-push')).toBe(false);
    expect(await review(cy, names.ana, 'pods', 'exec', 'create')).toBe(false);
    // Not even an admin: a shell in a build pod would reach the Registry's shared push credentials.
    expect(await review(ana, names.ana, 'pods', 'exec', 'create')).toBe(false);
  });

  it("Ana reads and changes only the Secrets her environments name: never Kapsa's copies in her namespace, never the list", async () => {
    const get = (name: string) => ana.get({ apiVersion: 'v1', kind: 'Secret', name, namespace: names.ana });
    await expect(get('api-key')).resolves.toMatchObject({ data: { KEY: Buffer.from('not-for-bo').toString('base64') } });
    // The hook's copies are there (Metacontroller applied them above), and closed to her.
    for (const name of ['kapsa-registry-push', 'kapsa-registry', 'kapsa-git']) {
      await expect(admin.get({ apiVersion: 'v1', kind: 'Secret', name, namespace: names.ana }), name).resolves.toMatchObject({ kind: 'Secret' });
      await expect(get(name), name).rejects.toMatchObject({ status: 403 });
      const patch = ana.request('PATCH', `/api/v1/namespaces/${names.ana}/secrets/${name}`, { metadata: { labels: { grab: 'yes' } } }, 'application/merge-patch+json');
      await expect(patch, name).rejects.toMatchObject({ status: 403 });
      await expect(ana.delete({ apiVersion: 'v1', kind: 'Secret', name, namespace: names.ana }), name).rejects.toMatchObject({ status: 403 });
    }
    // The git credentials she named as the source of the copy are not an environment's either.
    await applyStrict(admin, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'shop-git', namespace: names.ana }, stringData: { username: 'ana', password: 'git-token' } });
    await expect(get('shop-git')).rejects.toMatchObject({ status: 403 });
    await expect(ana.list('v1', 'Secret', { namespace: names.ana })).rejects.toMatchObject({ status: 403 });
    // Creating is hers; a taken name answers AlreadyExists and nothing of the Secret.
    await ana.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'new-key', namespace: names.ana }, stringData: { KEY: 'mine' } });
    const taken = await ana.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'kapsa-registry-push', namespace: names.ana }, stringData: { x: 'y' } }).catch((error: unknown) => error);
    expect(taken).toMatchObject({ status: 409 });
    expect(JSON.stringify(taken)).not.toContain('dockerconfigjson');
    // The one she may change, she changes.
    await ana.request('PATCH', `/api/v1/namespaces/${names.ana}/secrets/api-key`, { stringData: { KEY: 'rotated' } }, 'application/merge-patch+json');
    await expect(get('api-key')).resolves.toMatchObject({ data: { KEY: Buffer.from('rotated').toString('base64') } });
  });

  it('removing a subject from spec.access removes its RoleBinding subject on the next sync', async () => {
    await mergePatch(ana, names.ana, { spec: { access: { viewers: null } } });
    const parent = await admin.get({ ...PROJECT, name: names.ana });
    const reply = syncProject({ parent, children: {}, related: {} }, { now: new Date('2026-11-26T12:00:00Z'), settings: projectSettings(defaultConfig()) });
    const bindings = reply.children.filter((child) => child.kind === 'RoleBinding').map((child) => child.metadata.name);
    expect(bindings).toEqual(['kapsa-project-admin', 'kapsa-project-developer', 'kapsa-project-secrets']);
  });

  it('a Project being deleted may lose its finalizers, and nothing else, whoever the remover is', async () => {
    await ana.create(project(names.spare, { admins: [{ kind: 'User', name: 'ana' }] }, ['example.com/hold']));
    await ana.delete({ ...PROJECT, name: names.spare });
    const gc = as({ user: 'system:serviceaccount:kube-system:generic-garbage-collector', groups: ['kapsa-platform-gc'] });
    await applyStrict(admin, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `test-gc-${suffix}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `test-reconcile-requester-${suffix}` },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'kapsa-platform-gc' }],
    });
    made.push({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `test-gc-${suffix}` } });
    await waitFor(async () => (await refusal(mergePatch(gc, names.spare, { spec: { environments: [{ name: 'qa' }] } })))?.includes('may not update'));
    await mergePatch(gc, names.spare, { metadata: { finalizers: null } });
    await waitFor(async () => (await admin.tryGet({ ...PROJECT, name: names.spare })) === undefined, { description: 'the Project to be gone' });
  });
});

describe('the Project CRD refuses an access entry the hook could not bind', () => {
  const admin = kubeClient();
  afterAll(() => admin.close());

  it.each([
    ['a ServiceAccount without a namespace', { developers: [{ kind: 'ServiceAccount', name: 'ci' }] }, /namespace is required for a ServiceAccount and not allowed for a User or Group/],
    ['a namespace on a User', { admins: [{ kind: 'User', name: 'ana', namespace: 'shop' }] }, /namespace is required for a ServiceAccount and not allowed for a User or Group/],
    ['a ServiceAccount name that is no DNS subdomain', { admins: [{ kind: 'ServiceAccount', name: 'CI_Bot', namespace: 'ci' }] }, /a ServiceAccount name must be a DNS subdomain/],
    ['a kind RBAC does not have', { admins: [{ kind: 'ClusterRole', name: 'cluster-admin' }] }, /spec\.access\.admins\[0\]\.kind: Unsupported value: "ClusterRole"/],
    ['more than 50 subjects', { viewers: Array.from({ length: 51 }, (_, index) => ({ kind: 'User', name: `u${index}` })) }, /spec\.access\.viewers: Too many: 51: must have at most 50 items/],
  ])('%s', async (_name, access, message) => {
    expect(await refusal(admin.create(project(`crd-${suffix}`, access), { dryRun: true }))).toMatch(message);
  });
});

function restrictedPod(namespace: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'app', namespace },
    spec: {
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'app', image: 'registry.example.com/app:1', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
    },
  };
}

/** What Metacontroller's customize step would hand the Project hook: the Registry, its push Secret and the Project's git Secret. */
function relatedFor(namespace: string): KubeObject[] {
  const base64 = (text: string) => Buffer.from(text).toString('base64');
  return [
    {
      apiVersion: 'kapsa-project.io/v1alpha1',
      kind: 'Registry',
      metadata: { name: 'main' },
      spec: { endpoint: 'https://registry.example.com', auth: { secretRef: { name: 'registry-push' } }, imagePullSecret: { name: 'kapsa-registry', generatePerNamespace: true } },
    },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'registry-push', namespace: 'kapsa-system' }, type: 'kubernetes.io/basic-auth', data: { username: base64('kapsa-bot'), password: base64('push-token') } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'shop-git', namespace }, type: 'kubernetes.io/basic-auth', data: { username: base64('ana'), password: base64('git-token') } },
  ];
}

// The push-webhook receiver against the real kube-apiserver, through @kubernetes/client-node and a
// kubeconfig of a ServiceAccount bound to nothing but the chart's receiver ClusterRole: a signed
// push patches exactly the Projects of that repository that track the branch, a mis-signed one
// changes nothing, and the account can do nothing else.

import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { API_VERSION } from '../../hooks/lib/labels.ts';
import { ANNOTATION_RECONCILE_REQUESTED, LABEL_REPOSITORY, projectWebhookToken, repositoryHash } from '../../hooks/lib/repository-identity.ts';
import { kubeProjectStore } from '../../hooks/receiver/kube-store.ts';
import { CHART_DIR, helm, renderChart } from '../chart/helm.ts';
import { testApp, type TestApp } from '../support/app.ts';
import { KubeApiError, KubeClient, type KubeObject } from './client.ts';
import { applyStrict, ensureNamespace, kubeClient } from './support.ts';

const RUN = randomBytes(3).toString('hex');
const KEY = randomBytes(32).toString('hex');
const REPO_A = `https://git.example.com/acme/shop-${RUN}.git`;
const REPO_B = `https://git.example.com/acme/blog-${RUN}.git`;
const NAMESPACE = `receiver-${RUN}`;
const RELEASE = `rcv-${RUN}`;

const names = {
  a: `${RUN}-shop`,
  aStaging: `${RUN}-shop-staging`,
  aMainOnly: `${RUN}-shop-main-only`,
  b: `${RUN}-blog`,
};

function project(name: string, url: string, previews: boolean): KubeObject {
  return {
    apiVersion: API_VERSION,
    kind: 'Project',
    // The claim decorator writes this label; here the test stands in for it.
    metadata: { name, labels: { [LABEL_REPOSITORY]: repositoryHash(url) ?? '' } },
    spec: {
      repository: { url, branch: 'main', pollInterval: '10m' },
      registry: { name: 'main' },
      domain: { subdomain: name, domainPoolRef: { name: 'apps' } },
      environments: [{ name: 'prod', branch: 'main' }],
      previewEnvironments: { enabled: previews, branches: { include: ['feature/*'] } },
    },
  };
}

function githubPush(url: string, branch: string): string {
  return JSON.stringify({
    ref: `refs/heads/${branch}`,
    before: '0000000000000000000000000000000000000000',
    after: '1f2e3d4c5b6a798812345678901234567890abcd',
    repository: { name: 'shop', full_name: 'acme/shop', html_url: url.replace(/\.git$/, ''), clone_url: url },
    pusher: { name: 'dana', email: 'dana@acme.test' },
    created: true,
    deleted: false,
    commits: [],
  });
}

const sign = (secret: string, body: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

let admin: KubeClient;
let dir: string;
let receiver: TestApp;
let uids: Record<string, string>;
const clusterScoped: KubeObject[] = [];

beforeAll(async () => {
  admin = kubeClient();
  await ensureNamespace(admin, NAMESPACE);
  // The chart's own ServiceAccount, ClusterRole and binding, exactly as rendered.
  const chart = renderChart({ receiver: { enabled: true } }, { namespace: NAMESPACE, release: RELEASE });
  const rbac = chart.filter(
    // The receiver's ClusterRole and binding, not Metacontroller's or the project roles.
    (object) => object.kind === 'ServiceAccount' || ((object.kind === 'ClusterRole' || object.kind === 'ClusterRoleBinding') && object.metadata.name.endsWith('-receiver')),
  );
  expect(rbac.map((object) => object.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'ServiceAccount']);
  for (const object of rbac) {
    await applyStrict(admin, object as KubeObject);
    if (object.kind !== 'ServiceAccount') clusterScoped.push(object as KubeObject);
  }
  const serviceAccount = rbac.find((object) => object.kind === 'ServiceAccount')?.metadata.name as string;
  const tokenRequest = (await admin.request('POST', `/api/v1/namespaces/${NAMESPACE}/serviceaccounts/${serviceAccount}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 3600 },
  })) as { status: { token: string } };

  dir = mkdtempSync(join(tmpdir(), 'kapsa-receiver-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: test',
      '  cluster:',
      `    server: ${admin.url}`,
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: receiver',
      '  user:',
      `    token: ${tokenRequest.status.token}`,
      'contexts:',
      '- name: receiver',
      '  context: {cluster: test, user: receiver}',
      'current-context: receiver',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );

  uids = {};
  for (const object of [project(names.a, REPO_A, true), project(names.aStaging, REPO_A.replace('.git', ''), true), project(names.aMainOnly, REPO_A, false), project(names.b, REPO_B, true)]) {
    const created = await applyStrict(admin, object);
    uids[object.metadata.name as string] = created.metadata.uid as string;
  }
  receiver = testApp({ config: { receiverKey: KEY }, projectStore: await kubeProjectStore(kubeconfig) });
});

afterAll(async () => {
  await receiver?.app.close();
  for (const name of Object.values(names)) await admin.delete({ apiVersion: API_VERSION, kind: 'Project', name }, { ignoreNotFound: true });
  for (const object of clusterScoped) await admin.delete({ apiVersion: object.apiVersion, kind: object.kind, name: object.metadata.name as string }, { ignoreNotFound: true });
  await admin.delete({ apiVersion: 'v1', kind: 'Namespace', name: NAMESPACE }, { ignoreNotFound: true });
  admin.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function projects(): Promise<Record<string, KubeObject>> {
  const entries = await Promise.all(Object.values(names).map(async (name) => [name, await admin.get({ apiVersion: API_VERSION, kind: 'Project', name })] as const));
  return Object.fromEntries(entries);
}

async function push(project: string, body: string, signature: string, delivery = randomBytes(8).toString('hex')) {
  const reply = await receiver.app.inject({
    method: 'POST',
    url: `/receivers/projects/${project}`,
    headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': delivery, 'x-hub-signature-256': signature },
    payload: body,
  });
  return { status: reply.statusCode, body: reply.json() as { projects?: number; message?: string } };
}

describe('the receiver on a real API server, with only the chart receiver RBAC', () => {
  it('a mis-signed push changes nothing', async () => {
    const before = await projects();
    const body = githubPush(REPO_A, 'feature/login');
    for (const signature of [sign(projectWebhookToken(KEY, uids[names.b] as string), body), sign('guess', body)]) {
      expect((await push(names.a, body, signature)).status).toBe(401);
    }
    // Same for a Project that does not exist.
    expect((await push(`${RUN}-nothing`, body, sign(projectWebhookToken(KEY, uids[names.a] as string), body))).status).toBe(401);
    const after = await projects();
    for (const name of Object.values(names)) expect(after[name]?.metadata.resourceVersion, name).toBe(before[name]?.metadata.resourceVersion);
  });

  it('a push for another repository changes nothing', async () => {
    const before = await projects();
    const body = githubPush(REPO_B, 'feature/login');
    expect((await push(names.a, body, sign(projectWebhookToken(KEY, uids[names.a] as string), body))).status).toBe(422);
    const after = await projects();
    for (const name of Object.values(names)) expect(after[name]?.metadata.resourceVersion, name).toBe(before[name]?.metadata.resourceVersion);
  });

  it('a signed push patches exactly the Projects of that repository that track the branch', async () => {
    const body = githubPush(REPO_A, 'feature/login');
    const reply = await push(names.a, body, sign(projectWebhookToken(KEY, uids[names.a] as string), body), 'gh-delivery-1');
    expect(reply, JSON.stringify(reply.body)).toMatchObject({ status: 202, body: { projects: 2 } });
    const after = await projects();
    const requested = (name: string) => after[name]?.metadata.annotations?.[ANNOTATION_RECONCILE_REQUESTED];
    expect(requested(names.a)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z gh-delivery-1$/);
    expect(requested(names.aStaging)).toBe(requested(names.a));
    expect(requested(names.aMainOnly)).toBeUndefined();
    expect(requested(names.b)).toBeUndefined();
    // The spec is untouched: only the annotation was merged in.
    expect(after[names.a]?.metadata.generation).toBe(1);
  });

  it('the receiver account can do nothing but get, list and patch Projects', async () => {
    const token = /token: (\S+)/.exec(readFileSync(join(dir, 'kubeconfig'), 'utf8'))?.[1] as string;
    const limited = new KubeClient({ url: admin.url, token });
    try {
      const status = async (action: Promise<unknown>) => {
        try {
          await action;
          return 200;
        } catch (error) {
          if (error instanceof KubeApiError) return error.status;
          throw error;
        }
      };
      expect(await status(limited.get({ apiVersion: API_VERSION, kind: 'Project', name: names.a }))).toBe(200);
      expect(await status(limited.list('v1', 'Secret', { namespace: NAMESPACE }))).toBe(403);
      expect(await status(limited.delete({ apiVersion: API_VERSION, kind: 'Project', name: names.b }))).toBe(403);
      expect(await status(limited.create({ ...project(`${RUN}-new`, REPO_A, true) }))).toBe(403);
      expect(await status(limited.list(API_VERSION, 'Environment', { allNamespaces: true }))).toBe(403);
    } finally {
      limited.close();
    }
  });
});

describe('the chart keeps the receiver key', () => {
  it('helm install generates it once and helm upgrade keeps it (every Project keeps its token)', async () => {
    const release = `rk-${RUN}`;
    const common = ['--namespace', NAMESPACE, '--kubeconfig', inject('kube').kubeconfig, '--skip-crds', '--set', 'controllers.create=false', '--set', 'rbac.create=false', '--set', 'receiver.enabled=true'];
    const install = helm('install', release, CHART_DIR, ...common);
    expect(install.status, install.stderr).toBe(0);
    const read = async () =>
      String(((await admin.get({ apiVersion: 'v1', kind: 'Secret', name: `${release}-kapsa-receiver-key`, namespace: NAMESPACE })).data as Record<string, string>).key);
    const first = await read();
    expect(Buffer.from(first, 'base64').toString()).toMatch(/^[A-Za-z0-9]{64}$/);
    const upgrade = helm('upgrade', release, CHART_DIR, ...common, '--set', 'config.logLevel=debug');
    expect(upgrade.status, upgrade.stderr).toBe(0);
    expect(await read()).toBe(first);
    const uninstall = helm('uninstall', release, '--namespace', NAMESPACE, '--kubeconfig', inject('kube').kubeconfig);
    expect(uninstall.status, uninstall.stderr).toBe(0);
  });
});

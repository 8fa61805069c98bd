// Deploy on push in seconds, on the real engine: a Project polled every 10 minutes, a branch pushed
// to the test git server, and GitHub's signed push webhook sent to the Kapsa service. The receiver
// sets the reconcile annotation through the API server, Metacontroller calls the git poller, the
// forced poll sees the branch, and the Project hook creates the preview Environment. A mis-signed
// webhook changes nothing. The push-to-Environment time is printed, not asserted.

import { createHmac, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ANNOTATION_RECONCILE_HANDLED, ANNOTATION_RECONCILE_REQUESTED, projectWebhookToken } from '../../hooks/lib/repository-identity.ts';
import { KubeClient, waitFor, type KubeObject } from '../k8s/client.ts';
import { createBareRepo, startGitServer, type BareRepo, type GitServer } from '../support/git-server.ts';
import { startRegistryServer, type RegistryServer } from '../support/registry-server.ts';
import { KAPSA_NAMESPACE } from './engine.ts';

const engine = inject('engine');
const MANAGER = 'kapsa-e2e-push-webhook';
const API = 'kapsa-project.io/v1alpha1';
const PROJECT = 'hooked';
const REGISTRY = 'hooked-registry';
const POOL = 'hooked-apps';

let client: KubeClient;
let git: GitServer;
let repo: BareRepo;
let registry: RegistryServer;

const apply = (object: KubeObject) => client.apply(object, { fieldManager: MANAGER, force: true });
const project = () => client.tryGet({ apiVersion: API, kind: 'Project', name: PROJECT });

async function previewOf(branch: string): Promise<KubeObject | undefined> {
  const list = await client.list(API, 'Environment', { namespace: PROJECT });
  return list.items.find((item) => (item.spec as { branch?: string }).branch === branch);
}

/** GitHub's push event for `branch`, in the shape its documentation gives. */
function githubPush(branch: string, after: string): string {
  const url = git.url('hooked.git');
  return JSON.stringify({
    ref: `refs/heads/${branch}`,
    before: '0000000000000000000000000000000000000000',
    after,
    repository: { name: 'hooked', full_name: 'e2e/hooked', html_url: url.replace(/\.git$/, ''), clone_url: url, default_branch: 'main' },
    pusher: { name: 'e2e', email: 'e2e@kapsa.invalid' },
    created: true,
    deleted: false,
    forced: false,
    commits: [{ id: after, message: `push ${branch}`, distinct: true }],
  });
}

/** POSTs the webhook to the running service over a real socket, as a forge would. */
function sendWebhook(body: string, secret: string): Promise<{ status: number; body: string }> {
  const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  return new Promise((resolve, reject) => {
    const req = request(
      `${engine.hookUrl}/receivers/projects/${PROJECT}`,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'push',
          'x-github-delivery': randomBytes(16).toString('hex'),
          'x-hub-signature-256': signature,
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  expect(engine.receiverKey, 'the e2e engine runs with push webhooks on').not.toBe('');
  client = new KubeClient(engine.kube);
  git = await startGitServer();
  repo = await createBareRepo(git.root, 'hooked.git');
  await repo.commit('main', 'first commit');
  registry = await startRegistryServer({ auth: 'htpasswd' });
  const user = registry.users[0];
  if (!user) throw new Error('the registry has no user');
  await apply({ apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'hooked-issuer' }, spec: { selfSigned: {} } });
  await apply({ apiVersion: API, kind: 'DomainPool', metadata: { name: POOL }, spec: { baseDomains: ['hooked.e2e.test'], certManager: { issuerRef: { name: 'hooked-issuer', kind: 'ClusterIssuer' } } } });
  await apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'hooked-registry-push', namespace: KAPSA_NAMESPACE, labels: { 'kapsa-project.io/registry': REGISTRY } },
    type: 'kubernetes.io/basic-auth',
    stringData: { username: user.username, password: user.password },
  });
  await apply({
    apiVersion: API,
    kind: 'Registry',
    metadata: { name: REGISTRY },
    spec: { type: 'generic', endpoint: registry.endpoint, auth: { secretRef: { name: 'hooked-registry-push' } }, imagePullSecret: { name: 'kapsa-registry', generatePerNamespace: true } },
  });
  await apply({
    apiVersion: API,
    kind: 'Project',
    metadata: { name: PROJECT },
    spec: {
      // Ten minutes: only the webhook can make the poller look again within the test.
      repository: { url: git.url('hooked.git'), branch: 'main', pollInterval: '10m' },
      build: { strategy: 'buildpacks' },
      registry: { name: REGISTRY, imageRepository: 'e2e/hooked' },
      domain: { subdomain: 'hooked', domainPoolRef: { name: POOL } },
      runtime: { ports: [{ name: 'http', containerPort: 8080 }] },
      environments: [{ name: 'dev', branch: 'main' }],
      previewEnvironments: { enabled: true, branches: { include: ['feature/*'] } },
    },
  });
  // The first poll (on creation) has seen main: from now on the interval is ten minutes.
  await waitFor(
    async () => {
      const refs = (await project())?.metadata.annotations?.['kapsa-project.io/observed-refs'];
      return refs !== undefined && 'main' in (JSON.parse(refs) as Record<string, string>);
    },
    { timeoutMs: 60_000, intervalMs: 200, description: 'the first poll of hooked.git' },
  );
}, 120_000);

afterAll(async () => {
  await client?.delete({ apiVersion: API, kind: 'Project', name: PROJECT }, { ignoreNotFound: true });
  await registry?.stop();
  await git?.close();
  client?.close();
});

describe.sequential('push webhooks on the real engine', () => {
  it('a mis-signed webhook for a pushed branch changes nothing', async () => {
    const sha = await repo.commit('feature/unsigned', 'pushed, but announced with the wrong secret');
    const before = (await project())?.metadata.annotations?.[ANNOTATION_RECONCILE_REQUESTED];
    const reply = await sendWebhook(githubPush('feature/unsigned', sha), 'not-the-webhook-token');
    expect(reply.status, reply.body).toBe(401);
    const after = await project();
    expect(after?.metadata.annotations?.[ANNOTATION_RECONCILE_REQUESTED]).toBe(before);
    // Nothing made the poller look: the branch is pushed but not observed, and has no preview.
    const refs = JSON.parse(after?.metadata.annotations?.['kapsa-project.io/observed-refs'] ?? '{}') as Record<string, string>;
    expect(refs['feature/unsigned']).toBeUndefined();
    expect(await previewOf('feature/unsigned')).toBeUndefined();
  });

  it('a signed push webhook gets the pushed branch its preview Environment with polling at 10 minutes', async () => {
    const uid = (await project())?.metadata.uid as string;
    const token = projectWebhookToken(engine.receiverKey, uid);
    const pushed = Date.now();
    const sha = await repo.commit('feature/fast', 'announced by a signed webhook');
    const reply = await sendWebhook(githubPush('feature/fast', sha), token);
    expect(reply.status, reply.body).toBe(202);
    expect(JSON.parse(reply.body)).toMatchObject({ status: 'accepted', projects: 1 });
    const requested = (await project())?.metadata.annotations?.[ANNOTATION_RECONCILE_REQUESTED];
    expect(requested).toMatch(/^\d{4}-\d\d-\d\dT\S+ [0-9a-f]{32}$/);
    const preview = await waitFor(() => previewOf('feature/fast'), { timeoutMs: 60_000, intervalMs: 100, description: 'preview Environment for feature/fast' });
    console.log(`[e2e] push to preview Environment: ${((Date.now() - pushed) / 1000).toFixed(2)} s (poll interval 10m)`);
    expect(preview.metadata.namespace).toBe(PROJECT);
    const refs = JSON.parse((await project())?.metadata.annotations?.['kapsa-project.io/observed-refs'] ?? '{}') as Record<string, string>;
    expect(refs['feature/fast']).toBe(sha);
    // The poll that found it was the one this push asked for.
    await waitFor(async () => (await project())?.metadata.annotations?.[ANNOTATION_RECONCILE_HANDLED] === requested, {
      timeoutMs: 30_000,
      intervalMs: 100,
      description: 'the poller records the request it handled',
    });
  });
});

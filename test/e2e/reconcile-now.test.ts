// "Reconcile now" on the real engine: the annotation alone makes the real Metacontroller call the
// git poller, which polls the real git server past a 10-minute interval and writes the handled
// value back; a burst of requests stays bounded. The Project names no existing Registry or
// DomainPool, so it touches nothing the other e2e scenarios look at.

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ANNOTATION_RECONCILE_HANDLED, ANNOTATION_RECONCILE_REQUESTED } from '../../hooks/lib/repository-identity.ts';
import { KubeClient, waitFor, type KubeObject } from '../k8s/client.ts';
import { createBareRepo, startGitServer, type BareRepo, type GitServer } from '../support/git-server.ts';

const engine = inject('engine');
const API = 'kapsa-project.io/v1alpha1';
const NAME = 'reconcile-now';
/** The engine's KAPSA_RECONCILE_MIN_INTERVAL (the default). */
const WINDOW_SECONDS = 5;

let client: KubeClient;
let git: GitServer;
let repo: BareRepo;

const polls = () => git.count('/reconcile.git/info/refs');
const current = () => client.tryGet({ apiVersion: API, kind: 'Project', name: NAME });
const annotations = (object: KubeObject | undefined) => object?.metadata.annotations ?? {};
const observedMain = (object: KubeObject | undefined) => {
  const refs = annotations(object)['kapsa-project.io/observed-refs'];
  return refs ? (JSON.parse(refs) as Record<string, string>).main : undefined;
};

/** What `kubectl annotate project reconcile-now kapsa-project.io/reconcile-requested-at=<value> --overwrite` sends. */
async function requestReconcile(value: string): Promise<void> {
  const path = await client.objectPath({ apiVersion: API, kind: 'Project', name: NAME });
  await client.request('PATCH', path, { metadata: { annotations: { [ANNOTATION_RECONCILE_REQUESTED]: value } } }, 'application/merge-patch+json');
}

async function handled(value: string, what: string): Promise<KubeObject> {
  const started = Date.now();
  const object = await waitFor(async () => {
    const project = await current();
    return annotations(project)[ANNOTATION_RECONCILE_HANDLED] === value ? project : undefined;
  }, { timeoutMs: 60_000, intervalMs: 100, description: what });
  console.log(`[e2e] ${what}: handled in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return object;
}

beforeAll(async () => {
  client = new KubeClient(engine.kube);
  git = await startGitServer();
  repo = await createBareRepo(git.root, 'reconcile.git');
  await repo.commit('main', 'first');
});

afterAll(async () => {
  await client?.delete({ apiVersion: API, kind: 'Project', name: NAME }).catch(() => undefined);
  await git?.close();
  client?.close();
});

describe.sequential('reconcile-requested-at on the real engine', () => {
  it('the annotation alone forces a poll past a 10-minute interval and is marked handled', async () => {
    const first = await repo.head('main');
    await client.apply(
      {
        apiVersion: API,
        kind: 'Project',
        metadata: { name: NAME },
        spec: {
          repository: { url: git.url('reconcile.git'), branch: 'main', pollInterval: '10m' },
          registry: { name: 'reconcile-no-registry' },
          domain: { subdomain: 'reconcile', domainPoolRef: { name: 'reconcile-no-pool' } },
          environments: [{ name: 'dev' }],
        },
      },
      { fieldManager: 'kapsa-e2e-user', force: true },
    );
    await waitFor(async () => observedMain(await current()) === first, { timeoutMs: 60_000, intervalMs: 200, description: 'first poll' });

    const pushed = await repo.commit('main', 'pushed after the first poll');
    await requestReconcile('2026-12-02T06:00:00Z');
    const project = await handled('2026-12-02T06:00:00Z', 'one reconcile request');
    expect(observedMain(project)).toBe(pushed);
  });

  it('a burst of requests is bounded to one forced poll per window, and the last one is answered with the newest commit', async () => {
    const before = polls();
    const started = Date.now();
    let last = '';
    let head = '';
    for (let i = 0; i < 20; i++) {
      if (i % 5 === 0) head = await repo.commit('main', `burst ${i}`);
      last = `burst-${i}`;
      await requestReconcile(last);
    }
    const project = await handled(last, 'the last of 20 requests');
    const seconds = (Date.now() - started) / 1000;
    const forced = polls() - before;
    console.log(`[e2e] 20 reconcile requests over ${seconds.toFixed(1)} s: ${forced} polls`);
    expect(observedMain(project)).toBe(head);
    expect(forced).toBeGreaterThanOrEqual(1);
    // One per window that began while requests came in, plus the one that answers the last request.
    expect(forced).toBeLessThanOrEqual(Math.ceil(seconds / WINDOW_SECONDS) + 1);
  });
});

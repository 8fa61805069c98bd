import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { syncDomainPool } from '../../hooks/domainpool/sync.ts';
import { syncEnvironment } from '../../hooks/environment/sync.ts';
import type { CompositeSyncRequest, CompositeSyncResponse } from '../../hooks/lib/hook.ts';
import { groupObjects } from '../../hooks/lib/objects.ts';
import { projectSettings } from '../../hooks/project/settings.ts';
import { syncProject } from '../../hooks/project/sync.ts';
import { defaultConfig } from '../../hooks/server/config.ts';
import type { KubeClient, KubeObject } from './client.ts';
import { applyStrict, ensureNamespace, kubeClient, subsetDifferences } from './support.ts';

/**
 * Convergence: apply what a hook returns, read it back the way Metacontroller would send it
 * (server defaults, metadata, status), call the hook again and require the same children, and
 * require that no field Kapsa sets differs from what the server stored. A field that fights a
 * server default is how reconcile hot loops start.
 */

const root = join(import.meta.dirname, '..', '..');
const now = new Date('2026-11-26T12:00:00Z');
const settings = projectSettings(defaultConfig());
let client: KubeClient;

beforeAll(async () => {
  client = kubeClient();
  await ensureNamespace(client, settings.kapsaNamespace);
});
afterAll(() => client.close());

type Hook = (request: CompositeSyncRequest) => CompositeSyncResponse;

function fixtureRequest(controller: string, testCase: string): { parent: KubeObject; related: KubeObject[] } {
  const raw = parse(readFileSync(join(root, 'test', 'fixtures', controller, testCase, 'request.yaml'), 'utf8')) as {
    request: { parent: KubeObject; related?: KubeObject[] };
  };
  return { parent: raw.request.parent, related: raw.request.related ?? [] };
}

/** The parent as stored, with the status the previous reply asked for written to its status subresource. */
async function storeParent(parent: KubeObject, status?: Record<string, unknown>): Promise<KubeObject> {
  const { status: _ignored, ...withoutStatus } = parent;
  const stored = await applyStrict(client, withoutStatus);
  if (!status) return stored;
  const path = await client.objectPath({ apiVersion: parent.apiVersion, kind: parent.kind, name: parent.metadata.name ?? '', namespace: parent.metadata.namespace });
  return (await client.request('PATCH', `${path}/status`, { status }, 'application/merge-patch+json')) as KubeObject;
}

async function converge(parent: KubeObject, related: readonly KubeObject[], hook: Hook): Promise<number> {
  const storedParent = await storeParent(parent);
  const first = hook({ parent: storedParent, children: {}, related: groupObjects(related) });
  // Namespaces first: everything else may live in them.
  const ordered = [...first.children].sort((a, b) => Number(b.kind === 'Namespace') - Number(a.kind === 'Namespace'));
  const observed: KubeObject[] = [];
  const fights: string[] = [];
  for (const child of ordered) {
    const stored = await applyStrict(client, child, { fieldManager: 'metacontroller' });
    const readBack = await client.get({ apiVersion: child.apiVersion, kind: child.kind, name: child.metadata.name ?? '', namespace: child.metadata.namespace });
    expect(readBack.metadata.resourceVersion).toBe(stored.metadata.resourceVersion);
    fights.push(...subsetDifferences(child, readBack).map((difference) => `${child.kind}/${child.metadata.name}: ${difference}`));
    observed.push(readBack);
  }
  expect(fights).toEqual([]);

  const parentWithStatus = await storeParent(parent, first.status);
  const request: CompositeSyncRequest = { parent: parentWithStatus, children: groupObjects(observed), related: groupObjects(related) };
  const second = hook(request);
  const third = hook(request);
  expect(second.children).toEqual(first.children);
  expect(JSON.stringify(third)).toBe(JSON.stringify(second));
  return first.children.length;
}

const environmentHook: Hook = (request) => syncEnvironment(request, { now });
const projectHook: Hook = (request) => syncProject(request, { now, settings });
const poolHook: Hook = (request) => syncDomainPool(request, { now, settings: { kapsaNamespace: settings.kapsaNamespace } });

describe('convergence on a real API server', () => {
  it.each(['full', 'hpa-on', 'ports', 'resources-canonical', 'config-and-secret-refs', 'long-names', 'tls-off'])(
    'environment hook: %s',
    async (testCase) => {
      const { parent, related } = fixtureRequest('environment', testCase);
      const namespace = `conv-env-${testCase}`.slice(0, 63);
      await ensureNamespace(client, namespace);
      const moved: KubeObject = { ...parent, metadata: { name: parent.metadata.name, namespace } };
      const count = await converge(moved, related, environmentHook);
      expect(count).toBeGreaterThan(0);
    },
  );

  it.each(['three-environments', 'dockerfile', 'git-secret-shared-from-kapsa-namespace', 'previews-include-exclude', 'wildcard-previews'])(
    'project hook: %s',
    async (testCase) => {
      const { parent, related } = fixtureRequest('project', testCase);
      // A Project of its own per case, so namespaces and immutable Job specs never collide.
      const name = `conv-${testCase}`.slice(0, 40).replace(/-+$/, '');
      const moved: KubeObject = { ...parent, metadata: { name, ...(parent.metadata.annotations ? { annotations: parent.metadata.annotations } : {}) } };
      const count = await converge(moved, related, projectHook);
      expect(count).toBeGreaterThan(4);
    },
  );

  it.each(['wildcard-mode', 'allocations-and-conflict'])('domainpool hook: %s', async (testCase) => {
    const { parent, related } = fixtureRequest('domainpool', testCase);
    const moved: KubeObject = { ...parent, metadata: { name: `conv-${testCase}` } };
    await converge(moved, related, poolHook);
  });
});

// vitest globalSetup: one real kube-apiserver (+ etcd) for the whole test run, with the CRDs the
// hooks deal with installed. Tests connect with `inject('kube')` and test/k8s/client.ts.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { parseAllDocuments } from 'yaml';
import { startCluster } from './cluster.ts';
import { KubeClient, waitForCrdEstablished, type KubeConnection, type KubeObject } from './client.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kube: KubeConnection;
  }
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Folders whose *.yaml files are applied before the tests: the vendored third-party CRDs, then ours. */
export const CRD_DIRS = [join(REPO_ROOT, '..', 'shared', 'testdata', 'crds'), join(REPO_ROOT, 'crds')];

export const SETUP_FIELD_MANAGER = 'kapsa-test-setup';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const cluster = await startCluster();
  const ready = Date.now();
  try {
    const crds = await installCrds(cluster);
    if (process.env.KAPSA_KUBE_TIMING) {
      console.error(
        `[kube] apiserver ready in ${ready - started} ms, ${crds} CRDs established in ${Date.now() - ready} ms (${cluster.url})`,
      );
    }
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  project.provide('kube', { url: cluster.url, token: cluster.token, kubeconfig: cluster.kubeconfig });
  return async () => {
    await cluster.stop();
  };
}

/** Applies every CRD from CRD_DIRS and waits until all are Established. Returns how many. */
export async function installCrds(conn: { url: string; token: string }): Promise<number> {
  const docs = loadCrdDocuments();
  const client = new KubeClient(conn);
  try {
    // Apply all of them, then report every CRD the server refused (not just the first).
    const results = await Promise.allSettled(
      docs.map((d) => client.apply(d.obj, { fieldManager: SETUP_FIELD_MANAGER, force: true })),
    );
    const refused = results.flatMap((r, i) =>
      r.status === 'rejected' ? [`- ${docs[i]?.file}: ${(r.reason as Error).message}`] : [],
    );
    if (refused.length > 0) {
      throw new Error(`kube-apiserver refused ${refused.length} of ${docs.length} CRDs:\n${refused.join('\n')}`);
    }
    await Promise.all(docs.map((d) => waitForCrdEstablished(client, d.obj.metadata.name ?? '')));
    return docs.length;
  } finally {
    client.close();
  }
}

function loadCrdDocuments(): { file: string; obj: KubeObject }[] {
  const out: { file: string; obj: KubeObject }[] = [];
  for (const dir of CRD_DIRS) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
      const file = join(dir, name);
      for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
        if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
        const obj: unknown = doc.toJS();
        if (obj === null || obj === undefined) continue; // empty document (e.g. a trailing ---)
        if (!isObject(obj)) throw new Error(`${file}: a document is not a Kubernetes object`);
        if (obj.kind !== 'CustomResourceDefinition') continue;
        if (!obj.metadata.name) throw new Error(`${file}: a CRD has no metadata.name`);
        out.push({ file, obj });
      }
    }
  }
  return out;
}

function isObject(v: unknown): v is KubeObject {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.apiVersion === 'string' && typeof o.kind === 'string' && typeof o.metadata === 'object' && o.metadata !== null;
}

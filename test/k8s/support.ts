import { inject } from 'vitest';
import { KubeApiError, KubeClient, type KubeObject } from './client.ts';

/** A client for the suite's API server (started by global-setup.ts). */
export function kubeClient(): KubeClient {
  return new KubeClient(inject('kube'));
}

export const FIELD_MANAGER = 'kapsa-tests';

/**
 * Server-side apply with strict field validation: a field the schema does not know is an error,
 * not a silently dropped typo.
 */
export async function applyStrict(client: KubeClient, object: KubeObject, options: { dryRun?: boolean; fieldManager?: string } = {}): Promise<KubeObject> {
  const name = object.metadata.name;
  if (!name) throw new Error(`${object.kind} has no name`);
  const path = await client.objectPath({ apiVersion: object.apiVersion, kind: object.kind, name, namespace: object.metadata.namespace });
  const query = new URLSearchParams({ fieldManager: options.fieldManager ?? FIELD_MANAGER, force: 'true', fieldValidation: 'Strict' });
  if (options.dryRun) query.set('dryRun', 'All');
  return (await client.request('PATCH', `${path}?${query}`, object, 'application/apply-patch+yaml')) as KubeObject;
}

/** The server's message for a refused request, or undefined when it was accepted. */
export async function refusal(action: Promise<unknown>): Promise<string | undefined> {
  try {
    await action;
    return undefined;
  } catch (error) {
    if (error instanceof KubeApiError) return error.serverMessage;
    throw error;
  }
}

export async function ensureNamespace(client: KubeClient, name: string, labels: Record<string, string> = {}): Promise<void> {
  await applyStrict(client, { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
}

/** True when every field of `desired` is present with the same value in `actual` (lists item by item). */
export function subsetDifferences(desired: unknown, actual: unknown, path = ''): string[] {
  if (Array.isArray(desired)) {
    if (!Array.isArray(actual)) return [`${path}: expected a list, the server has ${JSON.stringify(actual)}`];
    if (desired.length !== actual.length) return [`${path}: ${desired.length} items desired, ${actual.length} stored`];
    return desired.flatMap((item, index) => subsetDifferences(item, actual[index], `${path}[${index}]`));
  }
  if (typeof desired === 'object' && desired !== null) {
    if (typeof actual !== 'object' || actual === null) return [`${path}: expected an object, the server has ${JSON.stringify(actual)}`];
    return Object.entries(desired).flatMap(([key, value]) => subsetDifferences(value, (actual as Record<string, unknown>)[key], path ? `${path}.${key}` : key));
  }
  return desired === actual ? [] : [`${path}: desired ${JSON.stringify(desired)}, the server stored ${JSON.stringify(actual)}`];
}

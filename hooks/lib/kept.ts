import { ANNOTATION_LAST_APPLIED } from './labels.ts';
import { isRecord, type KubeObject, type ObjectsByType } from './objects.ts';

/**
 * Rebuilds the desired form of a child that already exists, for when the hook cannot compute a
 * new one (bad spec, missing reference, unreachable git). Metacontroller deletes every child left
 * out of a reply, so these must go back unchanged. What the hook last returned is kept by
 * Metacontroller in the last-applied annotation; replaying it is a no-op apply. Objects without
 * it are reduced to what a hook could have set, never server-owned fields.
 */
export function keptChild(observed: KubeObject): KubeObject {
  const lastApplied = observed.metadata.annotations?.[ANNOTATION_LAST_APPLIED];
  if (lastApplied !== undefined) {
    try {
      const parsed: unknown = JSON.parse(lastApplied);
      if (isRecord(parsed) && typeof parsed.apiVersion === 'string' && typeof parsed.kind === 'string' && isRecord(parsed.metadata)) {
        return parsed as KubeObject;
      }
    } catch {
      // Fall through to the observed object: a damaged annotation must not lose the child.
    }
  }
  const { status: _status, ...rest } = observed;
  const metadata: KubeObject['metadata'] = { name: observed.metadata.name };
  if (observed.metadata.namespace !== undefined) metadata.namespace = observed.metadata.namespace;
  if (observed.metadata.labels !== undefined) metadata.labels = observed.metadata.labels;
  const annotations = { ...observed.metadata.annotations };
  delete annotations[ANNOTATION_LAST_APPLIED];
  delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
  if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
  return { ...rest, metadata };
}

/** Every observed child, kept, in a stable order. */
export function keepAll(children: ObjectsByType | undefined): KubeObject[] {
  const kept: KubeObject[] = [];
  for (const type of Object.keys(children ?? {}).sort()) {
    const group = children?.[type] ?? {};
    for (const key of Object.keys(group).sort()) {
      const child = group[key];
      if (child) kept.push(keptChild(child));
    }
  }
  return kept;
}

export function childKey(object: KubeObject): string {
  const namespace = object.metadata.namespace;
  return `${object.kind}.${object.apiVersion}/${namespace ? `${namespace}/` : ''}${object.metadata.name ?? ''}`;
}

/**
 * Merges computed children with kept ones: a computed child wins; a kept child whose key is not
 * computed is added. Used when only part of the desired state could be computed.
 */
export function withKept(computed: readonly KubeObject[], kept: readonly KubeObject[]): KubeObject[] {
  const keys = new Set(computed.map(childKey));
  const merged = [...computed];
  for (const child of kept) {
    const key = childKey(child);
    if (keys.has(key)) continue;
    keys.add(key);
    merged.push(child);
  }
  return merged;
}

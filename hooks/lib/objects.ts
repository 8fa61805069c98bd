/**
 * The smallest shape of a Kubernetes object that the hooks rely on. Objects that come from
 * Metacontroller are passed through untouched, so everything beyond these fields stays `unknown`.
 */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** Metacontroller groups children and related objects as `{"Kind.apiVersion": {"ns/name" | "name": obj}}`. */
export type ObjectsByType = Record<string, Record<string, KubeObject>>;

export function typeKey(kind: string, apiVersion: string): string {
  return `${kind}.${apiVersion}`;
}

/** Groups objects the way Metacontroller sends them in hook v2 requests (`namespace/name` keys). */
export function groupObjects(objects: readonly KubeObject[]): ObjectsByType {
  const groups: ObjectsByType = {};
  for (const object of objects) {
    const bucket = (groups[typeKey(object.kind, object.apiVersion)] ??= {});
    const name = object.metadata.name ?? '';
    bucket[object.metadata.namespace ? `${object.metadata.namespace}/${name}` : name] = object;
  }
  return groups;
}

export function objectsOfType<T extends KubeObject = KubeObject>(
  groups: ObjectsByType | undefined,
  kind: string,
  apiVersion: string,
): T[] {
  const group = groups?.[typeKey(kind, apiVersion)];
  if (!group) return [];
  return Object.keys(group)
    .sort()
    .map((key) => group[key] as T);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

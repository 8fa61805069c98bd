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

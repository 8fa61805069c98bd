import type { KubeObject, ObjectsByType } from './objects.ts';

/**
 * Metacontroller hook version v2 envelopes, as the pure functions see them. The HTTP layer checks
 * the envelope shape (hooks/server/envelopes.ts); the objects inside are passed through untouched.
 */
export interface CompositeSyncRequest<P extends KubeObject = KubeObject> {
  controller?: unknown;
  parent: P;
  children?: ObjectsByType;
  related?: ObjectsByType;
  finalizing?: boolean;
}

export interface CompositeSyncResponse {
  status: Record<string, unknown>;
  children: KubeObject[];
  resyncAfterSeconds?: number;
  finalized?: boolean;
}

/**
 * Hook v2 decorator requests (`pkg/controller/decorator/api/v2/hooks.go`) name the decorated
 * object `object` and its attachments `attachments`; only composite requests say `parent`/`children`.
 */
export interface DecoratorSyncRequest<P extends KubeObject = KubeObject> {
  controller?: unknown;
  object: P;
  attachments?: ObjectsByType;
  related?: ObjectsByType;
  finalizing?: boolean;
}

export interface DecoratorSyncResponse {
  labels?: Record<string, string | null>;
  annotations?: Record<string, string | null>;
  status?: Record<string, unknown>;
  attachments?: KubeObject[];
  resyncAfterSeconds?: number;
  finalized?: boolean;
}

export interface CustomizeRequest<P extends KubeObject = KubeObject> {
  controller?: unknown;
  parent: P;
}

export interface RelatedResourceRule {
  apiVersion: string;
  resource: string;
  namespace?: string;
  names?: string[];
  labelSelector?: { matchLabels?: Record<string, string> };
}

export interface CustomizeResponse {
  relatedResources: RelatedResourceRule[];
}

export interface SyncContext {
  /** The only clock a pure hook sees: used for new condition transitions and TTLs. */
  now: Date;
}

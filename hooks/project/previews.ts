import picomatch from 'picomatch';
import { parseDurationSeconds } from '../lib/duration.ts';
import { isRecord, type KubeObject } from '../lib/objects.ts';
import { joinName, shortHash, slugify } from '../lib/names.ts';
import type { ProjectSpec } from './types.ts';

/**
 * Preview environments: one per live feature branch, named and hosted by a slug of the branch,
 * gone when the branch goes or its TTL passes, revived by a new commit.
 */

export interface PreviewName {
  branch: string;
  /** Hostname label. */
  label: string;
  /** Environment (and child) object name; a DNS-1035 label, since Services need one. */
  objectName: string;
}

export interface ExpiredPreview {
  branch: string;
  commit: string;
}

export const EXPIRED_HISTORY_LIMIT = 50;

export function previewName(branch: string, takenNames: ReadonlySet<string>, maxLabel = 63): PreviewName {
  let label = slugify(branch, maxLabel);
  if (takenNames.has(label)) label = joinName([slugify(branch, maxLabel - 7), shortHash(`preview:${branch}`)], maxLabel);
  let objectName = /^[a-z]/.test(label) ? label : joinName(['p', label]);
  if (takenNames.has(objectName)) objectName = joinName(['p', shortHash(`preview:${branch}`), label]);
  return { branch, label, objectName };
}

/** Branches that match the preview rules: included, not excluded, not deployed by an environment. */
/**
 * The preview rules as one predicate: included and not excluded. The git poller and the Project
 * hook both use it, so the branches polled are exactly the branches that can get a preview.
 */
export function previewMatcher(include: readonly string[], exclude: readonly string[]): (branch: string) => boolean {
  const included = picomatch([...include], { dot: true });
  const excluded = exclude.length > 0 ? picomatch([...exclude], { dot: true }) : () => false;
  return (branch) => included(branch) && !excluded(branch);
}

export function previewBranches(spec: ProjectSpec, heads: ReadonlyMap<string, string>, environmentBranches: ReadonlySet<string>): string[] {
  const previews = spec.previewEnvironments;
  if (!previews?.enabled) return [];
  const matches = previewMatcher(previews.branches.include, previews.branches.exclude);
  return [...heads.keys()].filter((branch) => !environmentBranches.has(branch) && matches(branch)).sort();
}

export function ttlSeconds(spec: ProjectSpec): number {
  return parseDurationSeconds(spec.previewEnvironments?.ttl ?? '168h') ?? 168 * 3600;
}

/** When an observed preview expires: its creation plus the TTL. Undefined until it exists. */
export function expiresAt(observed: KubeObject | undefined, ttl: number): Date | undefined {
  const created = observed?.metadata.creationTimestamp;
  if (!created) return undefined;
  const time = Date.parse(created);
  if (Number.isNaN(time)) return undefined;
  return new Date(time + ttl * 1000);
}

/**
 * The previews the last status listed as running with an expiry that has passed by `now`. A
 * sync can be handed a Project from a cache that has not yet seen the status write recording an
 * expiry (Metacontroller writes status after it deleted the Environment, and the next sync may
 * start before its informer catches up): the Environment is gone and `expiredPreviews` does not
 * name it yet. The older status still lists it with its `expiresAt`, which says the same thing,
 * so the preview is not created again for another full TTL.
 */
export function previouslyRunningExpired(project: KubeObject, now: Date): ExpiredPreview[] {
  const status = project.status;
  if (!isRecord(status) || !Array.isArray(status.previews)) return [];
  return status.previews.flatMap((item): ExpiredPreview[] => {
    if (!isRecord(item) || typeof item.branch !== 'string' || typeof item.commit !== 'string' || typeof item.expiresAt !== 'string') return [];
    const expiry = Date.parse(item.expiresAt);
    return !Number.isNaN(expiry) && expiry <= now.getTime() ? [{ branch: item.branch, commit: item.commit }] : [];
  });
}

export function previousExpired(project: KubeObject): ExpiredPreview[] {
  const status = project.status;
  if (!isRecord(status) || !Array.isArray(status.expiredPreviews)) return [];
  return status.expiredPreviews.filter(
    (item): item is ExpiredPreview => isRecord(item) && typeof item.branch === 'string' && typeof item.commit === 'string',
  );
}

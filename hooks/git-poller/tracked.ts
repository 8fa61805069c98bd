/**
 * Which of the remote's branches a Project tracks: every environment branch, plus, when previews are
 * enabled, every branch that matches `previewEnvironments.branches.include` and none of `exclude`.
 * An environment branch always counts, even if an exclude pattern matches it.
 *
 * Defaults: an environment without `branch` follows `spec.repository.branch` (default `main`);
 * previews enabled with no include patterns include every branch (`**`).
 *
 * The result is bounded by `maxTracked`: environment branches first (in spec order, so the one that
 * runs production is never cut for a preview), then the preview branches observed last time, then
 * new ones, each in byte order. The number cut
 * is reported so the caller can surface it.
 */
import { isRecord } from '../lib/objects.ts';
import { previewMatcher } from '../project/previews.ts';

export interface TrackedResult {
  /** Tracked branches present on the remote, branch -> sha, keys in byte order. */
  heads: Record<string, string>;
  /** Environment branches that the remote does not have (yet). */
  missing: string[];
  /** How many matching branches were cut by maxTracked. */
  truncated: number;
}

export const DEFAULT_BRANCH = 'main';

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string' && item !== '') : [];
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The environment branches of a Project spec, deduplicated, in spec order. */
export function environmentBranches(spec: unknown): string[] {
  const s = isRecord(spec) ? spec : {};
  const repository = isRecord(s.repository) ? s.repository : {};
  const defaultBranch = typeof repository.branch === 'string' && repository.branch !== '' ? repository.branch : DEFAULT_BRANCH;
  const out: string[] = [];
  const environments = Array.isArray(s.environments) ? s.environments : [];
  for (const env of environments) {
    if (!isRecord(env)) continue;
    const branch = typeof env.branch === 'string' && env.branch !== '' ? env.branch : defaultBranch;
    if (!out.includes(branch)) out.push(branch);
  }
  if (environments.length === 0) out.push(defaultBranch);
  return out;
}

export function trackedBranches(
  spec: unknown,
  heads: Record<string, string>,
  options: { maxTracked: number; previous?: ReadonlySet<string> },
): TrackedResult {
  const s = isRecord(spec) ? spec : {};
  const envBranches = environmentBranches(spec);
  const present = envBranches.filter((branch) => Object.hasOwn(heads, branch));
  const missing = envBranches.filter((branch) => !Object.hasOwn(heads, branch));

  const previews: string[] = [];
  const preview = isRecord(s.previewEnvironments) ? s.previewEnvironments : {};
  if (preview.enabled === true) {
    const branches = isRecord(preview.branches) ? preview.branches : {};
    const include = stringArray(branches.include);
    const exclude = stringArray(branches.exclude);
    const matches = previewMatcher(include.length > 0 ? include : ['**'], exclude);
    for (const branch of Object.keys(heads).sort(byteOrder)) {
      if (envBranches.includes(branch)) continue;
      if (matches(branch)) previews.push(branch);
    }
  }

  // Branches observed before keep their place under the bound: a new branch that sorts earlier
  // must not push out one whose preview is running (it would look deleted and be torn down).
  const known = options.previous ?? new Set<string>();
  const ordered = [...present, ...previews.filter((branch) => known.has(branch)), ...previews.filter((branch) => !known.has(branch))];
  const max = Math.max(0, Math.floor(options.maxTracked));
  const kept = ordered.slice(0, max);
  const out: Record<string, string> = Object.create(null);
  for (const branch of [...kept].sort(byteOrder)) out[branch] = heads[branch] as string;
  return { heads: out, missing, truncated: ordered.length - kept.length };
}

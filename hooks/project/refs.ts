import { ANNOTATION_BRANCH, ANNOTATION_OBSERVED_REFS, ANNOTATION_POLL_ERROR, API_VERSION } from '../lib/labels.ts';
import type { KubeObject, ObjectsByType } from '../lib/objects.ts';
import { isRecord, objectsOfType } from '../lib/objects.ts';

/** What the git poller last wrote on the Project. */
export type ObservedRefs =
  | { state: 'none' }
  | { state: 'invalid'; message: string }
  | { state: 'ok'; heads: ReadonlyMap<string, string> };

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

export function observedRefs(project: KubeObject): ObservedRefs {
  const raw = project.metadata.annotations?.[ANNOTATION_OBSERVED_REFS];
  if (raw === undefined || raw === '') return { state: 'none' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { state: 'invalid', message: `annotation ${ANNOTATION_OBSERVED_REFS} is not JSON` };
  }
  if (!isRecord(parsed)) return { state: 'invalid', message: `annotation ${ANNOTATION_OBSERVED_REFS} must be a JSON object of branch to commit` };
  const heads = new Map<string, string>();
  for (const branch of Object.keys(parsed).sort()) {
    const sha = parsed[branch];
    if (typeof sha !== 'string' || !SHA.test(sha)) {
      return { state: 'invalid', message: `annotation ${ANNOTATION_OBSERVED_REFS}: the commit of a branch is not a SHA` };
    }
    heads.set(branch, sha);
  }
  return { state: 'ok', heads };
}

/** `Reason: message` as written by the poller, split; undefined when the last poll worked. */
export function pollError(project: KubeObject): { reason: string; message: string } | undefined {
  const raw = project.metadata.annotations?.[ANNOTATION_POLL_ERROR];
  if (raw === undefined || raw === '') return undefined;
  const match = /^([A-Za-z]+): ?(.*)$/s.exec(raw);
  if (!match) return { reason: 'PollFailed', message: raw.slice(0, 256) };
  return { reason: match[1] ?? 'PollFailed', message: (match[2] ?? '').slice(0, 256) };
}

/**
 * The branches Kapsa runs something for: build children (by their branch annotation) and
 * Environments (by their spec.branch), standard and preview alike.
 */
export function runningBranches(children: ObjectsByType | undefined): Set<string> {
  const branches = new Set<string>();
  for (const [kind, apiVersion] of [['Image', 'kpack.io/v1alpha2'], ['Job', 'batch/v1']] as const) {
    for (const object of objectsOfType(children, kind, apiVersion)) {
      const branch = object.metadata.annotations?.[ANNOTATION_BRANCH];
      if (typeof branch === 'string' && branch !== '') branches.add(branch);
    }
  }
  for (const object of objectsOfType(children, 'Environment', API_VERSION)) {
    const spec = isRecord(object.spec) ? object.spec : {};
    if (typeof spec.branch === 'string' && spec.branch !== '') branches.add(spec.branch);
  }
  return branches;
}

/** What the observed refs may be used for. */
export type HeadsVerdict =
  /** Decide with these heads; `missing` are environment branches they lack. */
  | { state: 'trusted'; heads: ReadonlyMap<string, string>; missing: string[] }
  /** Not polled yet, or the annotation is damaged: nothing to decide with. */
  | { state: 'unknown' }
  /** An observation that cannot be told from an outage: keep what runs, say why. */
  | { state: 'distrusted'; reason: 'NoBranches' | 'BranchesVanished'; message: string };

/**
 * Whether the observed refs are a licence to remove anything. An empty observation is not
 * (`{}`, as an older poller wrote for an empty advertisement), and neither is one in which every
 * branch Kapsa runs and every environment branch vanished at once: a repository really emptied
 * of all its work looks exactly like a broken mirror or proxy. A single deleted branch among
 * others that are still there is a deletion, and its preview goes.
 */
export function judgeHeads(refs: ObservedRefs, environmentBranches: ReadonlySet<string>, running: ReadonlySet<string>): HeadsVerdict {
  if (refs.state !== 'ok') return { state: 'unknown' };
  const { heads } = refs;
  if (heads.size === 0) {
    return {
      state: 'distrusted',
      reason: 'NoBranches',
      message: `annotation ${ANNOTATION_OBSERVED_REFS} lists no branch; builds and previews are kept as they run until branches are seen again`,
    };
  }
  const expected = [...new Set([...environmentBranches, ...running])].sort();
  if (running.size > 0 && !expected.some((branch) => heads.has(branch))) {
    return {
      state: 'distrusted',
      reason: 'BranchesVanished',
      message: `none of the branches Kapsa runs or deploys (${listed(expected)}) is in the last poll, all gone at once; builds and previews are kept as they run until one of them is seen again`,
    };
  }
  return { state: 'trusted', heads, missing: [...environmentBranches].filter((branch) => !heads.has(branch)).sort() };
}

function listed(branches: readonly string[], limit = 5): string {
  const shown = branches.slice(0, limit).map((branch) => JSON.stringify(branch.length > 100 ? `${branch.slice(0, 97)}...` : branch));
  return branches.length > limit ? `${shown.join(', ')} and ${branches.length - limit} more` : shown.join(', ');
}

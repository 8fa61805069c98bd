import { ANNOTATION_OBSERVED_REFS, ANNOTATION_POLL_ERROR } from '../lib/labels.ts';
import type { KubeObject } from '../lib/objects.ts';
import { isRecord } from '../lib/objects.ts';

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

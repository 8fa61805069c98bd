/**
 * The git-poller DecoratorController sync hook: polls the Project's repository (through the
 * scheduler, so at most once per interval per repository + credentials) and writes the heads of the
 * tracked branches as Project annotations. It never touches spec or status (`status` is omitted,
 * which Metacontroller reads as "leave unchanged") and has no attachments (the DecoratorController
 * for this hook must declare none: an empty `attachments` list deletes observed attachments).
 *
 * Annotations (Metacontroller merges them into the Project; a null value removes a key):
 *  - `kapsa-project.io/observed-refs`: JSON `{branch: sha}` of the tracked branches, keys in byte
 *    order, no whitespace — the same observation always gives the same bytes, so Metacontroller
 *    only writes on a real change. On a failed poll it is left as it was (last good refs kept:
 *    a flaky git server must not tear down environments).
 *  - `kapsa-project.io/observed-refs-truncated`: `"<n>"` branches cut by maxTracked; null when none.
 *  - `kapsa-project.io/poll-error`: `<Reason>: <message>` when the last poll failed or found an
 *    environment branch missing; null otherwise.
 *
 * An answer is only trusted as far as it can be: a valid advertisement with no branches at all
 * (an emptied repository, a proxy or mirror that returns nothing) is a failure `NoBranches`, and
 * one in which no tracked branch is left is a failure `BranchNotFound`; both keep the last good
 * refs, since writing `{}` would read as "every branch was deleted". An answer that lacks some
 * environment branches but still has tracked branches is written (previews follow it), with
 * `BranchNotFound` naming the missing ones; the Project hook keeps what those environments run.
 * Neither counts as a failed contact for the scheduler's backoff: the server answered, and a
 * first push to an empty repository must be seen at the next interval.
 * No timestamps: nothing changes unless the observation changes.
 *
 * Reconcile now: when `kapsa-project.io/reconcile-requested-at` holds a value other than
 * `kapsa-project.io/reconcile-handled-at`, the repository is polled at once (past its interval,
 * cache and backoff, within the scheduler's per-repository bound) and the reply sets handled to the
 * requested value once a poll that began after the request was seen has finished, failed or not.
 * A request the bound holds back is left unhandled with a resync at the end of the window, never
 * answered with an older poll. The value is only compared and echoed, so one over 1 KiB is refused
 * with a `poll-error` note instead of being copied into another annotation.
 *
 * The request is Metacontroller's hook v2 decorator request `{controller, object, attachments,
 * related, finalizing}`; the HTTP layer has checked that the object is a Kubernetes object.
 */
import { ANNOTATION_OBSERVED_REFS, ANNOTATION_OBSERVED_REFS_TRUNCATED, ANNOTATION_POLL_ERROR } from '../lib/labels.ts';
import { isRecord } from '../lib/objects.ts';
import { ANNOTATION_RECONCILE_HANDLED, ANNOTATION_RECONCILE_REQUESTED } from '../lib/repository-identity.ts';
import type { DecoratorSyncRequest, DecoratorSyncResponse } from '../lib/hook.ts';
import type { KubeObject, ObjectsByType } from '../lib/objects.ts';
import { parseDurationSeconds } from '../lib/duration.ts';
import { redactUrl } from './egress.ts';
import type { EgressPolicy, Resolver } from './egress.ts';
import { listBranchHeads, scrub } from './remote.ts';
import type { GitCredentials, PollOutcome } from './remote.ts';
import type { PollScheduler } from './scheduler.ts';
import { trackedBranches } from './tracked.ts';

export { ANNOTATION_OBSERVED_REFS, ANNOTATION_OBSERVED_REFS_TRUNCATED, ANNOTATION_POLL_ERROR };

/** Longest poll-error annotation message (annotation values are limited in total size). */
const MAX_ERROR_LENGTH = 512;
/** Longest reconcile request echoed into the handled annotation (all annotations share 256 KiB). */
export const MAX_RECONCILE_REQUEST_BYTES = 1024;

type ReconcileRequest = { value: string } | { oversizedBytes: number };

/** The pending reconcile request of a Project; none when the annotation is absent, empty or already handled. */
export function pendingReconcile(annotations: Record<string, string>): ReconcileRequest | undefined {
  const requested = annotations[ANNOTATION_RECONCILE_REQUESTED];
  if (typeof requested !== 'string' || requested === '' || requested === annotations[ANNOTATION_RECONCILE_HANDLED]) return undefined;
  const bytes = Buffer.byteLength(requested, 'utf8');
  return bytes > MAX_RECONCILE_REQUEST_BYTES ? { oversizedBytes: bytes } : { value: requested };
}

/** The reply always carries the annotations it manages and no attachments (none are declared). */
export interface DecoratorResponse extends DecoratorSyncResponse {
  annotations: Record<string, string | null>;
  attachments: KubeObject[];
}

export interface GitPollerLogger {
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
  debug?(obj: Record<string, unknown>, msg?: string): void;
}

export type CredentialResolution = GitCredentials | undefined | { error: string };

export interface GitPollerDeps {
  scheduler: PollScheduler;
  policy: EgressPolicy;
  defaultPollIntervalSeconds: number;
  /** Total time budget of one hook call (waiting + polling), in ms. Keep it well inside Metacontroller's hook timeout. */
  timeoutMs: number;
  maxTracked: number;
  resolveCredentials(project: KubeObject, related: ObjectsByType | undefined): CredentialResolution;
  log?: GitPollerLogger;
  /** Test seams. */
  resolve?: Resolver;
  ca?: string | Buffer | Array<string | Buffer>;
  poll?: typeof listBranchHeads;
}

/** Serialises branch → sha with keys in byte order and no whitespace (byte-stable). */
export function formatObservedRefs(heads: Record<string, string>): string {
  const keys = Object.keys(heads).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${keys.map((key) => `${JSON.stringify(key)}:${JSON.stringify(heads[key])}`).join(',')}}`;
}

/** The branches of a previous observed-refs annotation; none when it is missing or damaged. */
function branchesOf(annotation: string | undefined): Set<string> {
  if (annotation === undefined) return new Set();
  try {
    const parsed: unknown = JSON.parse(annotation);
    return isRecord(parsed) ? new Set(Object.keys(parsed)) : new Set();
  } catch {
    return new Set();
  }
}

function truncateMessage(message: string): string {
  const oneLine = message.replace(/[\r\n]+/g, ' ').trim();
  return oneLine.length > MAX_ERROR_LENGTH ? `${oneLine.slice(0, MAX_ERROR_LENGTH - 1)}…` : oneLine;
}

function pollIntervalSeconds(spec: Record<string, unknown>, fallback: number): { seconds: number; invalid?: string } {
  const repository = isRecord(spec.repository) ? spec.repository : {};
  const raw = repository.pollInterval;
  if (raw === undefined || raw === null || raw === '') return { seconds: fallback };
  const seconds = typeof raw === 'string' ? parseDurationSeconds(raw) : undefined;
  if (seconds === undefined || seconds <= 0) {
    return { seconds: fallback, invalid: `spec.repository.pollInterval "${String(raw)}" is not a duration like 1m or 30s` };
  }
  return { seconds };
}

export async function gitPollerSync(request: DecoratorSyncRequest, deps: GitPollerDeps): Promise<DecoratorResponse> {
  const project = request.object;
  const spec = isRecord(project.spec) ? project.spec : {};
  const previous = project.metadata?.annotations ?? {};
  const previousRefs = previous[ANNOTATION_OBSERVED_REFS];
  const interval = pollIntervalSeconds(spec, deps.defaultPollIntervalSeconds);
  const name = project.metadata?.name;

  if (request.finalizing) {
    // Nothing to clean up: annotations go with the object.
    return { annotations: {}, attachments: [], finalized: true };
  }

  const reconcile = pendingReconcile(previous);
  const requested = reconcile && 'value' in reconcile ? reconcile.value : undefined;
  // Set once the request has been acted on: a poll that began after it was seen, or a finding that
  // no poll can be made (no URL, no credentials), which poll-error reports.
  let handled = false;
  const reply = (response: DecoratorResponse): DecoratorResponse => {
    if (handled && requested !== undefined) response.annotations[ANNOTATION_RECONCILE_HANDLED] = requested;
    if (reconcile && 'oversizedBytes' in reconcile && typeof response.annotations[ANNOTATION_POLL_ERROR] !== 'string') {
      response.annotations[ANNOTATION_POLL_ERROR] =
        `InvalidReconcileRequest: ${ANNOTATION_RECONCILE_REQUESTED} is ${reconcile.oversizedBytes} bytes, over the ${MAX_RECONCILE_REQUEST_BYTES} a request may have; it is ignored (use a timestamp)`;
    }
    return response;
  };
  const fail = (reason: string, message: string, resyncAfterSeconds: number): DecoratorResponse => {
    const annotations: Record<string, string | null> = {};
    if (typeof previousRefs === 'string') annotations[ANNOTATION_OBSERVED_REFS] = previousRefs;
    annotations[ANNOTATION_POLL_ERROR] = `${reason}: ${truncateMessage(message)}`;
    return reply({ annotations, attachments: [], resyncAfterSeconds });
  };

  const repository = isRecord(spec.repository) ? spec.repository : {};
  const url = typeof repository.url === 'string' ? repository.url : '';
  handled = true;
  if (url === '') return fail('InvalidSpec', 'spec.repository.url is required', interval.seconds);

  const resolved = deps.resolveCredentials(project, request.related);
  if (resolved && 'error' in resolved) {
    deps.log?.warn({ project: name, reason: 'CredentialsUnavailable' }, 'git credentials unavailable');
    return fail('CredentialsUnavailable', resolved.error, interval.seconds);
  }
  const credentials: GitCredentials | undefined = resolved;
  handled = false;

  const poll = deps.poll ?? listBranchHeads;
  const scheduled = await deps.scheduler.run({
    url,
    credentials,
    intervalSeconds: interval.seconds,
    waitMs: deps.timeoutMs,
    // The Project's uid (its name when it has none) keeps equal values on two Projects apart.
    ...(requested !== undefined ? { reconcile: `${project.metadata?.uid ?? name ?? ''}\0${requested}` } : {}),
    poll: () =>
      poll({
        url,
        policy: deps.policy,
        credentials,
        timeoutMs: deps.timeoutMs,
        resolve: deps.resolve,
        ca: deps.ca,
      }),
  });
  const outcome: PollOutcome = scheduled.outcome;
  handled = scheduled.reconcile === 'handled';
  const forced = requested !== undefined ? { reconcile: scheduled.reconcile } : {};
  if (scheduled.source === 'polled') {
    deps.log?.info(
      outcome.ok
        ? { project: name, repository: scheduled.key, branches: Object.keys(outcome.heads).length, protocolVersion: outcome.protocolVersion, ...forced }
        : { project: name, repository: scheduled.key, reason: outcome.reason, message: scrub(outcome.message, credentials), ...forced },
      outcome.ok ? 'git poll succeeded' : 'git poll failed',
    );
  }

  if (!outcome.ok) return fail(outcome.reason, scrub(outcome.message, credentials), scheduled.resyncAfterSeconds);

  const advertised = Object.keys(outcome.heads).length;
  const keeping = typeof previousRefs === 'string' ? '; the last observed branch heads are kept' : '';
  if (advertised === 0) {
    if (scheduled.source === 'polled') deps.log?.warn({ project: name, repository: scheduled.key, reason: 'NoBranches' }, 'git server advertised no branches');
    return fail(
      'NoBranches',
      `${redactUrl(url)} advertised no branches (an empty repository, or a proxy or mirror that answers with nothing)${keeping}`,
      scheduled.resyncAfterSeconds,
    );
  }
  const tracked = trackedBranches(spec, outcome.heads, { maxTracked: deps.maxTracked, previous: branchesOf(previousRefs) });
  const missing = tracked.missing.length > 0 ? missingBranchesMessage(tracked.missing, advertised) : undefined;
  if (missing && Object.keys(tracked.heads).length === 0) {
    return fail('BranchNotFound', `${missing}${keeping}`, scheduled.resyncAfterSeconds);
  }
  const annotations: Record<string, string | null> = {
    [ANNOTATION_OBSERVED_REFS]: formatObservedRefs(tracked.heads),
    [ANNOTATION_OBSERVED_REFS_TRUNCATED]: tracked.truncated > 0 ? String(tracked.truncated) : null,
    [ANNOTATION_POLL_ERROR]: interval.invalid ? `InvalidSpec: ${interval.invalid}` : missing ? `BranchNotFound: ${truncateMessage(missing)}` : null,
  };
  return reply({ annotations, attachments: [], resyncAfterSeconds: scheduled.resyncAfterSeconds });
}

/** Names the environment branches the repository does not have, a bounded few of them. */
function missingBranchesMessage(missing: readonly string[], advertised: number): string {
  const shown = missing.slice(0, 5).map((branch) => JSON.stringify(branch));
  const more = missing.length > shown.length ? ` and ${missing.length - shown.length} more` : '';
  const subject = missing.length === 1 ? `environment branch ${shown.join(', ')} is` : `environment branches ${shown.join(', ')}${more} are`;
  return `${subject} not in the repository (${advertised} ${advertised === 1 ? 'branch' : 'branches'} advertised)`;
}

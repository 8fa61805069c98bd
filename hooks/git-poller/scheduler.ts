/**
 * In-memory coordination of git polls. It is a cache: the service is stateless across restarts,
 * and losing it only means one extra poll per repository.
 *
 *  - Key: repository URL (userinfo, query and fragment dropped) + an HMAC of the credential
 *    identity (username and secret) under a per-process random key, so keys are safe to log and
 *    two Projects with different credentials for the same URL never share an answer (a Project
 *    without credentials must not read what a Project with credentials could see).
 *  - At most one poll per key per interval: callers within the interval get the cached outcome
 *    (success or failure), whatever the number of Projects sharing the repository.
 *  - Interval jitter of ±`jitterRatio` (default 10%), deterministic per repository (derived from a
 *    hash of URL + username), so polls of many repositories spread out and tests are stable.
 *  - Exponential backoff on consecutive failures: the delay after n failures is
 *    interval · 2^(n-1), capped at max(interval, maxBackoffSeconds).
 *  - Single flight: concurrent callers for one key share the in-flight poll.
 *  - A concurrency bound (semaphore) across keys; excess polls queue. A caller never waits longer
 *    than its `waitMs` (for a slot or for an in-flight poll): then it gets a `Timeout` outcome, which
 *    is not cached, while the poll itself carries on and its result is cached for the next call.
 *  - `resyncAfterSeconds`: when this key is due again for this caller's interval.
 *  - Reconcile requests (a caller passing `reconcile`): answered only by a poll that began after
 *    this process first saw the request, past the interval, the cache and the backoff. Forced polls
 *    of one repository (normalised URL + credentials, so spellings of one URL share the bound) start
 *    at most once per `reconcileMinIntervalSeconds`; a request that a poll cannot answer yet (the
 *    last one began before it was seen, e.g. a second push 2s after a forced poll) is not answered
 *    with the old result: it waits, with a resync at the end of the window. Requests seen before a
 *    poll begins all share it.
 *
 * The clock (`now`) is injected; waiting deadlines use real timers.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { normalizeRepositoryUrl } from '../lib/repository-identity.ts';
import { redactUrl } from './egress.ts';
import type { GitCredentials, PollOutcome } from './remote.ts';

export interface PollSchedulerOptions {
  /** Milliseconds clock. Default Date.now. */
  now?: () => number;
  /** Polls running at once across all repositories. Default 4. */
  maxConcurrent?: number;
  /** Interval jitter ratio. Default 0.1 (±10%). */
  jitterRatio?: number;
  /** Cap for the failure backoff (never below the interval). Default 3600. */
  maxBackoffSeconds?: number;
  /** Resync asked for when a caller gave up waiting. Default 5. */
  retryAfterDeadlineSeconds?: number;
  /** Entries kept; the least recently used beyond this are forgotten. Default 10,000. */
  maxEntries?: number;
  /** HMAC key for credential identities. Default: random per process. */
  keySecret?: Uint8Array | string;
  /** At most one forced poll per repository per this many seconds. Default 5. */
  reconcileMinIntervalSeconds?: number;
}

export interface PollRequest {
  url: string;
  credentials?: GitCredentials;
  /** The caller's poll interval (the Project's pollInterval). */
  intervalSeconds: number;
  /** Longest time this caller waits for a slot or an in-flight poll. */
  waitMs: number;
  /** Runs the poll; must settle by itself (it carries its own timeout). */
  poll: () => Promise<PollOutcome>;
  /**
   * A reconcile request to answer: any string naming the request (the Project and its requested
   * value); only compared. The same string twice is the same request.
   */
  reconcile?: string;
}

export type PollSource = 'polled' | 'shared' | 'cached' | 'deadline';

export interface ScheduledPoll {
  outcome: PollOutcome;
  /** polled: this call ran the poll; shared: joined an in-flight poll; cached: within the interval; deadline: gave up waiting. */
  source: PollSource;
  /** Seconds until the key is due again (at least 1). */
  resyncAfterSeconds: number;
  key: string;
  /**
   * Only for a reconcile request: `handled` when the outcome comes from a poll that began after the
   * request was first seen; `waiting` when it is older (the request is answered at the resync).
   */
  reconcile?: 'handled' | 'waiting';
}

interface Entry {
  outcome?: PollOutcome;
  /** When the last poll finished (ms). */
  polledAt?: number;
  /** When the last finished poll began talking to the server, after its wait for a slot (a tick). */
  startedAt?: number;
  failures: number;
  inFlight?: Promise<PollOutcome>;
  lastUsed: number;
}

class Semaphore {
  private active = 0;
  private readonly queue: Array<() => void> = [];
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = Math.max(1, Math.floor(limit));
  }
  get running(): number {
    return this.active;
  }
  get waiting(): number {
    return this.queue.length;
  }
  async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.queue.push(resolve));
  }
  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.active--;
  }
}

export class PollScheduler {
  private readonly entries = new Map<string, Entry>();
  private readonly semaphore: Semaphore;
  private readonly now: () => number;
  private readonly jitterRatio: number;
  private readonly maxBackoffSeconds: number;
  private readonly retryAfterDeadlineSeconds: number;
  private readonly maxEntries: number;
  private readonly keySecret: Uint8Array | string;
  private readonly reconcileMinIntervalMs: number;
  /** Repository (normalised URL + credentials) → when its last forced poll was started (ms). */
  private readonly forcedAt = new Map<string, number>();
  /** Digest of key + reconcile request → when this process first saw that request (a tick). */
  private readonly requestsSeen = new Map<string, number>();
  /**
   * Orders "request seen" against "poll began" exactly: a millisecond clock cannot tell which came
   * first within one millisecond, and a clock may step back.
   */
  private tick = 0;

  constructor(options: PollSchedulerOptions = {}) {
    this.now = options.now ?? Date.now;
    this.semaphore = new Semaphore(options.maxConcurrent ?? 4);
    this.jitterRatio = options.jitterRatio ?? 0.1;
    this.maxBackoffSeconds = options.maxBackoffSeconds ?? 3600;
    this.retryAfterDeadlineSeconds = options.retryAfterDeadlineSeconds ?? 5;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.keySecret = options.keySecret ?? randomBytes(32);
    this.reconcileMinIntervalMs = (options.reconcileMinIntervalSeconds ?? 5) * 1000;
  }

  /** Polls running now / waiting for a slot (for metrics and tests). */
  get running(): number {
    return this.semaphore.running;
  }
  get waiting(): number {
    return this.semaphore.waiting;
  }
  get size(): number {
    return this.entries.size;
  }

  /** The cache key: safe to log (no secret, no userinfo). */
  keyFor(url: string, credentials: GitCredentials | undefined): string {
    return `${redactUrl(url).replace(/\/+$/, '')}#${this.credentialIdentity(credentials)}`;
  }

  /**
   * The key the forced-poll bound is kept under: every spelling of one repository with the same
   * credentials shares it. The cache stays per spelling, since a case-sensitive server may serve
   * different repositories under names that normalise alike.
   */
  repositoryKeyFor(url: string, credentials: GitCredentials | undefined): string {
    return `${normalizeRepositoryUrl(url) ?? redactUrl(url).replace(/\/+$/, '')}#${this.credentialIdentity(credentials)}`;
  }

  private credentialIdentity(credentials: GitCredentials | undefined): string {
    if (!credentials) return 'anonymous';
    return createHmac('sha256', this.keySecret)
      .update(credentials.username)
      .update('\0')
      .update(credentials.password)
      .digest('hex')
      .slice(0, 16);
  }

  /** Deterministic factor in [1 - jitterRatio, 1 + jitterRatio] for a repository. */
  jitterFactor(url: string, credentials: GitCredentials | undefined): number {
    const digest = createHash('sha256')
      .update(redactUrl(url).replace(/\/+$/, ''))
      .update('\0')
      .update(credentials?.username ?? '')
      .digest();
    const unit = digest.readUInt32BE(0) / 0xffffffff; // [0, 1]
    return 1 + this.jitterRatio * (2 * unit - 1);
  }

  /** Delay (seconds) after the last poll of a key before it is due again. */
  delaySeconds(intervalSeconds: number, failures: number, jitter: number): number {
    const interval = Math.max(1, intervalSeconds);
    const base = failures <= 0 ? interval : Math.min(Math.max(interval, this.maxBackoffSeconds), interval * 2 ** Math.min(failures - 1, 30));
    return base * jitter;
  }

  private remaining(entry: Entry, request: PollRequest, jitter: number, now: number): number {
    if (entry.polledAt === undefined) return 0;
    const dueAt = entry.polledAt + this.delaySeconds(request.intervalSeconds, entry.failures, jitter) * 1000;
    return Math.max(0, dueAt - now);
  }

  private resyncSeconds(ms: number): number {
    return Math.max(1, Math.ceil(ms / 1000));
  }

  async run(request: PollRequest): Promise<ScheduledPoll> {
    const key = this.keyFor(request.url, request.credentials);
    const jitter = this.jitterFactor(request.url, request.credentials);
    let entry = this.entries.get(key);
    const now = this.now();
    if (!entry) {
      entry = { failures: 0, lastUsed: now };
      this.entries.set(key, entry);
      this.evict();
    }
    entry.lastUsed = now;
    if (request.reconcile !== undefined) return this.runReconcile(request, key, entry, jitter);

    if (!entry.inFlight && entry.outcome) {
      const remaining = this.remaining(entry, request, jitter, now);
      if (remaining > 0) {
        return { outcome: entry.outcome, source: 'cached', resyncAfterSeconds: this.resyncSeconds(remaining), key };
      }
    }

    let source: PollSource = 'shared';
    if (!entry.inFlight) {
      source = 'polled';
      entry.inFlight = this.execute(entry, request.poll);
    }
    const inFlight = entry.inFlight;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), Math.max(0, request.waitMs));
    });
    const result = await Promise.race([inFlight, deadline]);
    clearTimeout(timer);
    if (result === 'deadline') {
      return this.gaveUp(request, key);
    }
    const remaining = this.remaining(entry, request, jitter, this.now());
    return { outcome: result, source, resyncAfterSeconds: this.resyncSeconds(remaining), key };
  }

  /** The answer when the hook's time is up before the poll it waits for: try again soon. */
  private gaveUp(request: PollRequest, key: string): ScheduledPoll {
    return {
      outcome: { ok: false, reason: 'Timeout', message: `poll did not finish within ${Math.round(request.waitMs)}ms (waiting for a poll slot or a slow server)` },
      source: 'deadline',
      resyncAfterSeconds: this.retryAfterDeadlineSeconds,
      key,
    };
  }

  /**
   * Answers a reconcile request with a poll that began after the request was first seen: a
   * finished one, the one in flight once it finishes, a poll that is due anyway, or a forced poll
   * when the repository's window allows one; otherwise the cached outcome, marked `waiting`.
   */
  private async runReconcile(request: PollRequest, key: string, entry: Entry, jitter: number): Promise<ScheduledPoll> {
    const seen = this.firstSeen(key, request.reconcile ?? '');
    const repository = this.repositoryKeyFor(request.url, request.credentials);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), Math.max(0, request.waitMs));
    });
    let source: PollSource = 'cached';
    try {
      for (;;) {
        if (entry.inFlight) {
          const result = await Promise.race([entry.inFlight, deadline]);
          if (result === 'deadline') {
            return { ...this.gaveUp(request, key), reconcile: 'waiting' };
          }
          if (source !== 'polled') source = 'shared';
          continue;
        }
        const now = this.now();
        if (entry.outcome && entry.startedAt !== undefined && entry.startedAt >= seen) {
          return { outcome: entry.outcome, source, resyncAfterSeconds: this.resyncSeconds(this.remaining(entry, request, jitter, now)), key, reconcile: 'handled' };
        }
        if (!entry.outcome || this.remaining(entry, request, jitter, now) === 0) {
          // Due by its interval anyway: an ordinary poll answers the request and spends no window.
          entry.inFlight = this.execute(entry, request.poll);
          source = 'polled';
          continue;
        }
        const windowLeft = (this.forcedAt.get(repository) ?? -Infinity) + this.reconcileMinIntervalMs - now;
        if (windowLeft > 0) {
          return { outcome: entry.outcome, source: 'cached', resyncAfterSeconds: this.resyncSeconds(windowLeft), key, reconcile: 'waiting' };
        }
        this.forcedAt.set(repository, now);
        this.pruneForced(now);
        entry.inFlight = this.execute(entry, request.poll);
        source = 'polled';
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * When this process first saw a request. Kept after it is answered, so a retry of the same call
   * (Metacontroller lost the update to a conflict) is answered from the cache instead of waiting.
   */
  private firstSeen(key: string, reconcile: string): number {
    const id = createHash('sha256').update(key).update('\0').update(reconcile).digest('base64');
    const seen = this.requestsSeen.get(id);
    if (seen !== undefined) return seen;
    const now = ++this.tick;
    this.requestsSeen.set(id, now);
    // Oldest first: a Map iterates in insertion order.
    for (const old of this.requestsSeen.keys()) {
      if (this.requestsSeen.size <= this.maxEntries) break;
      this.requestsSeen.delete(old);
    }
    return now;
  }

  /** Windows that have ended bound nothing; dropped once the map is large. */
  private pruneForced(now: number): void {
    if (this.forcedAt.size <= this.maxEntries) return;
    for (const [repository, at] of this.forcedAt) if (now - at >= this.reconcileMinIntervalMs) this.forcedAt.delete(repository);
  }

  private async execute(entry: Entry, poll: () => Promise<PollOutcome>): Promise<PollOutcome> {
    await this.semaphore.acquire();
    const startedAt = ++this.tick;
    let outcome: PollOutcome;
    try {
      outcome = await poll();
    } catch (error) {
      outcome = { ok: false, reason: 'InvalidResponse', message: `poll failed unexpectedly (${(error as { name?: string })?.name ?? 'error'})` };
    } finally {
      this.semaphore.release();
    }
    entry.outcome = outcome;
    entry.startedAt = startedAt;
    entry.polledAt = this.now();
    entry.failures = outcome.ok ? 0 : entry.failures + 1;
    entry.inFlight = undefined;
    return outcome;
  }

  private evict(): void {
    if (this.entries.size <= this.maxEntries) return;
    const idle = [...this.entries.entries()].filter(([, e]) => !e.inFlight).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [key] of idle) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(key);
    }
  }

  /** Forgets everything (tests, or an admin "poll now"). */
  clear(): void {
    for (const [key, entry] of this.entries) if (!entry.inFlight) this.entries.delete(key);
  }
}

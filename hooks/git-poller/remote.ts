/**
 * Lists the branch heads of a remote repository over smart HTTP with isomorphic-git.
 *
 * Protocol v2 (`ls-refs` with `ref-prefix refs/heads/`) is asked for first, so a repository with many
 * tags or pull-request refs costs only its branches; a server that only speaks v0/v1 answers the
 * v2 request with a v1 advertisement (which isomorphic-git handles), and when a v2 `ls-refs` call
 * itself fails the poll is retried once in v1.
 *
 * Credentials are sent as HTTP basic auth, preemptively, and only to the origin of the repository
 * URL. A bare token is sent as the password with the username `x-access-token` (the convention
 * GitHub documents for app/installation tokens; GitLab, Gitea and Bitbucket accept any username
 * with a personal access token as password).
 *
 * Nothing in an outcome message contains the password/token: messages are built here from status
 * codes and error codes, never from server bodies, and are scrubbed of the secret anyway.
 */
import { listServerRefs } from 'isomorphic-git';
import { checkUrlSyntax, redactUrl } from './egress.ts';
import type { EgressPolicy, Resolver } from './egress.ts';
import { createGuardedHttpClient } from './http-client.ts';

export type PollFailureReason = 'Unauthorized' | 'NotFound' | 'Timeout' | 'Unreachable' | 'InvalidResponse' | 'Blocked';

export type PollOutcome =
  | { ok: true; heads: Record<string, string>; protocolVersion: 1 | 2 }
  | { ok: false; reason: PollFailureReason; message: string };

export interface GitCredentials {
  username: string;
  password: string;
}

export interface ListBranchHeadsOptions {
  url: string;
  policy: EgressPolicy;
  credentials?: GitCredentials;
  /** Total time for the whole poll (DNS, connects, redirects, bodies, v1 retry). */
  timeoutMs: number;
  /** Extra cancellation (e.g. the hook's own deadline). */
  signal?: AbortSignal;
  /** Bound on each response body. Default 32 MiB (about 400,000 branches in a v1 advertisement). */
  maxResponseBytes?: number;
  /** Bound on the number of branches accepted. Default 100,000. */
  maxBranches?: number;
  maxRedirects?: number;
  /** Force a protocol version (tests); default: v2 with fallback to v1. */
  protocolVersion?: 1 | 2;
  resolve?: Resolver;
  ca?: string | Buffer | Array<string | Buffer>;
}

/** Username used when a Secret provides only a `token`. */
export const TOKEN_USERNAME = 'x-access-token';

const OID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

function basicAuth(credentials: GitCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;
}

/** Removes every occurrence of the secret (and its basic-auth encoding) from a message. */
export function scrub(message: string, credentials: GitCredentials | undefined): string {
  let out = message;
  if (credentials) {
    const secrets = [credentials.password, basicAuth(credentials).slice('Basic '.length)];
    for (const secret of secrets) {
      // Very short secrets would mangle every message; messages are built from status/error codes
      // and never carry server text, so this is a second line of defence only.
      if (secret.length >= 4) out = out.split(secret).join('<redacted>');
    }
  }
  return out;
}

interface ErrorLike {
  code?: string;
  name?: string;
  message?: string;
  data?: { statusCode?: number; statusMessage?: string };
  cause?: unknown;
}

function classify(error: unknown, signal: AbortSignal, where: string): { ok: false; reason: PollFailureReason; message: string } {
  const e = (error ?? {}) as ErrorLike;
  if (signal.aborted) {
    const reason = signal.reason as ErrorLike | undefined;
    const timedOut = reason?.name === 'TimeoutError';
    return { ok: false, reason: 'Timeout', message: timedOut ? `no complete answer from ${where} in time` : `poll of ${where} was cancelled` };
  }
  switch (e.code) {
    case 'EgressBlocked':
      return { ok: false, reason: 'Blocked', message: e.message ?? 'blocked by the egress policy' };
    case 'HttpError': {
      const status = e.data?.statusCode ?? 0;
      if (status === 401 || status === 403 || status === 203) {
        return { ok: false, reason: 'Unauthorized', message: `${where} answered HTTP ${status}: credentials missing or refused` };
      }
      if (status === 404 || status === 410) {
        return { ok: false, reason: 'NotFound', message: `${where} answered HTTP ${status}: repository not found (or not visible with these credentials)` };
      }
      if (status === 429 || status >= 500) {
        return { ok: false, reason: 'Unreachable', message: `${where} answered HTTP ${status}` };
      }
      return { ok: false, reason: 'InvalidResponse', message: `${where} answered HTTP ${status}` };
    }
    case 'UserCanceledError':
      return { ok: false, reason: 'Unauthorized', message: `${where} refused the credentials` };
    case 'SmartHttpError':
    case 'ParseError':
    case 'EmptyServerResponseError':
    case 'InternalError':
      return { ok: false, reason: 'InvalidResponse', message: `${where} did not answer as a git smart-HTTP server` };
    case 'ResponseTooLarge':
      return { ok: false, reason: 'InvalidResponse', message: `${where}: ${e.message}` };
    case 'TooManyRedirects':
    case 'InvalidRedirect':
      return { ok: false, reason: 'InvalidResponse', message: `${where}: ${e.message}` };
    case 'InvalidRefs':
      return { ok: false, reason: 'InvalidResponse', message: `${where}: ${e.message}` };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { ok: false, reason: 'Unreachable', message: `${where}: host name does not resolve` };
    case 'ECONNREFUSED':
      return { ok: false, reason: 'Unreachable', message: `${where}: connection refused` };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return { ok: false, reason: 'Unreachable', message: `${where}: connection reset` };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
      return { ok: false, reason: 'Unreachable', message: `${where}: host unreachable (${e.code})` };
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_STATUS':
    case 'HPE_INVALID_HEADER_TOKEN':
      return { ok: false, reason: 'InvalidResponse', message: `${where}: not an HTTP answer` };
    default:
      if (typeof e.code === 'string' && (e.code.startsWith('ERR_TLS') || e.code.includes('CERT') || e.code.startsWith('ERR_SSL'))) {
        return { ok: false, reason: 'Unreachable', message: `${where}: TLS failure (${e.code})` };
      }
      if (typeof e.code === 'string' && e.code.startsWith('HPE_')) {
        return { ok: false, reason: 'InvalidResponse', message: `${where}: malformed HTTP answer` };
      }
      if (e.name === 'AbortError') return { ok: false, reason: 'Timeout', message: `poll of ${where} was aborted` };
      return { ok: false, reason: 'InvalidResponse', message: `${where}: unexpected failure (${e.code ?? e.name ?? 'error'})` };
  }
}

function toHeads(refs: Array<{ ref: string; oid: string }>, maxBranches: number): Record<string, string> {
  // Null-prototype objects: a branch may be called `__proto__`.
  const heads: Record<string, string> = Object.create(null);
  let count = 0;
  for (const { ref, oid } of refs) {
    if (typeof ref !== 'string' || !ref.startsWith('refs/heads/')) continue;
    const name = ref.slice('refs/heads/'.length);
    if (name === '' || !OID.test(oid ?? '')) {
      throw Object.assign(new Error('malformed ref in the advertisement'), { code: 'InvalidRefs' });
    }
    if (++count > maxBranches) {
      throw Object.assign(new Error(`more than ${maxBranches} branches`), { code: 'InvalidRefs' });
    }
    heads[name] = oid;
  }
  const sorted: Record<string, string> = Object.create(null);
  for (const name of Object.keys(heads).sort()) sorted[name] = heads[name] as string;
  return sorted;
}

async function attempt(options: ListBranchHeadsOptions, url: URL, signal: AbortSignal, protocolVersion: 1 | 2) {
  const client = createGuardedHttpClient({
    policy: options.policy,
    credentialOrigin: url.origin,
    signal,
    maxResponseBytes: options.maxResponseBytes ?? 32 * 1024 * 1024,
    maxRedirects: options.maxRedirects,
    resolve: options.resolve,
    ca: options.ca,
  });
  const headers: Record<string, string> = {};
  if (options.credentials) headers.Authorization = basicAuth(options.credentials);
  const base = redactUrl(url).replace(/\/+$/, '');
  try {
    const refs = await listServerRefs({
      http: client,
      url: base,
      headers,
      protocolVersion,
      prefix: 'refs/heads/',
      // A second 401 with the same credentials must not loop.
      onAuthFailure: () => ({ cancel: true }),
    });
    const heads = toHeads(refs, options.maxBranches ?? 100_000);
    return { ok: true as const, heads, protocolVersion: (client.stats.posts > 0 ? 2 : 1) as 1 | 2 };
  } catch (error) {
    return { ok: false as const, error, postsSent: client.stats.posts };
  }
}

/** Lists `refs/heads/*` of the repository at `options.url`. Never throws. */
export async function listBranchHeads(options: ListBranchHeadsOptions): Promise<PollOutcome> {
  const where = redactUrl(options.url);
  const syntax = checkUrlSyntax(options.url, options.policy);
  if (!syntax.ok) return { ok: false, reason: 'Blocked', message: scrub(syntax.message, options.credentials) };
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const first = await attempt(options, syntax.url, signal, options.protocolVersion ?? 2);
  if (first.ok) return first;
  let failure = classify(first.error, signal, where);
  // The server accepted v2 discovery but its ls-refs answer was unusable: try plain v1 once.
  if (options.protocolVersion === undefined && first.postsSent > 0 && failure.reason === 'InvalidResponse') {
    const second = await attempt(options, syntax.url, signal, 1);
    if (second.ok) return second;
    failure = classify(second.error, signal, where);
  }
  return { ok: false, reason: failure.reason, message: scrub(failure.message, options.credentials) };
}

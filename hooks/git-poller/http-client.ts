/**
 * A small HTTP client for isomorphic-git (its `HttpClient` interface) over node:http/node:https
 * that enforces the egress policy on every request and every redirect, pins each connection to the
 * addresses the guard checked, applies one AbortSignal to everything (DNS, connect, body), bounds
 * the response size, and never sends the Authorization header to another origin than the one of the
 * repository URL (a redirect to another scheme, host or port drops it).
 *
 * Redirects follow git's own `http.followRedirects=initial` idea: when the first request
 * (`<repo>/info/refs?...`) is redirected, later requests for the same repository go to the new base
 * URL directly (ls-refs POSTs included), still without credentials if the origin changed.
 */
import http from 'node:http';
import https from 'node:https';
import type { GitHttpRequest, GitHttpResponse, HttpClient } from 'isomorphic-git';
import { EgressBlockedError, checkUrl, pinnedLookup, redactUrl } from './egress.ts';
import type { EgressPolicy, Resolver } from './egress.ts';

export class ResponseTooLargeError extends Error {
  readonly code = 'ResponseTooLarge';
  constructor(limit: number) {
    super(`response larger than ${limit} bytes`);
    this.name = 'ResponseTooLargeError';
  }
}

export class TooManyRedirectsError extends Error {
  readonly code = 'TooManyRedirects';
  constructor(limit: number) {
    super(`more than ${limit} redirects`);
    this.name = 'TooManyRedirectsError';
  }
}

export interface GuardedHttpOptions {
  policy: EgressPolicy;
  /** Origin (scheme://host:port) the credentials belong to: the repository URL's. */
  credentialOrigin: string;
  signal: AbortSignal;
  maxResponseBytes: number;
  maxRedirects?: number;
  resolve?: Resolver;
  /** Extra CA certificates for https (tests, private CAs). */
  ca?: string | Buffer | Array<string | Buffer>;
}

export interface GuardedHttpClient extends HttpClient {
  /** Number of POST requests that got a response (protocol v2 ls-refs). */
  readonly stats: { requests: number; posts: number };
}

const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);

function dropAuthorization(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() !== 'authorization') out[name] = value;
  }
  return out;
}

async function collect(body: GitHttpRequest['body']): Promise<Buffer | undefined> {
  if (body === undefined || body === null) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

async function* once(buffer: Buffer): AsyncIterableIterator<Uint8Array> {
  if (buffer.length > 0) yield new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
}

interface RawResponse {
  statusCode: number;
  statusMessage: string;
  headers: Record<string, string>;
  body: Buffer;
}

export function createGuardedHttpClient(options: GuardedHttpOptions): GuardedHttpClient {
  const maxRedirects = options.maxRedirects ?? 5;
  const stats = { requests: 0, posts: 0 };
  let rebase: { from: string; to: string } | undefined;
  let first = true;

  async function send(url: URL, method: string, headers: Record<string, string>, body: Buffer | undefined): Promise<RawResponse> {
    const decision = await checkUrl(url, options.policy, { resolve: options.resolve, signal: options.signal });
    if (!decision.ok) throw new EgressBlockedError(decision.message);
    const outgoing = url.origin === options.credentialOrigin ? { ...headers } : dropAuthorization(headers);
    if (body) outgoing['content-length'] = String(body.length);
    const transport = url.protocol === 'https:' ? https : http;
    const requestOptions: https.RequestOptions = {
      method,
      headers: outgoing,
      signal: options.signal,
      agent: false,
    };
    if (decision.addresses) requestOptions.lookup = pinnedLookup(decision.addresses) as unknown as https.RequestOptions['lookup'];
    if (options.ca && url.protocol === 'https:') requestOptions.ca = options.ca;
    return new Promise<RawResponse>((resolve, reject) => {
      const req = transport.request(url, requestOptions, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxResponseBytes) {
            reject(new ResponseTooLargeError(options.maxResponseBytes));
            res.destroy();
            req.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          const flat: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) {
            if (value === undefined) continue;
            flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
          }
          resolve({
            statusCode: res.statusCode ?? 0,
            statusMessage: res.statusMessage ?? '',
            headers: flat,
            body: Buffer.concat(chunks),
          });
        });
        res.on('error', reject);
        res.on('aborted', () => reject(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  async function request(input: GitHttpRequest): Promise<GitHttpResponse> {
    if (options.signal.aborted) throw options.signal.reason;
    let target = input.url;
    if (rebase && target.startsWith(rebase.from)) target = rebase.to + target.slice(rebase.from.length);
    let url = new URL(target);
    let method = (input.method ?? 'GET').toUpperCase();
    let headers: Record<string, string> = { ...(input.headers ?? {}) };
    let body = await collect(input.body);
    const isFirst = first;
    first = false;
    for (let hops = 0; ; hops++) {
      const res = await send(url, method, headers, body);
      stats.requests++;
      if (REDIRECT_CODES.has(res.statusCode) && res.headers.location) {
        if (hops >= maxRedirects) throw new TooManyRedirectsError(maxRedirects);
        let next: URL;
        try {
          next = new URL(res.headers.location, url);
        } catch {
          throw Object.assign(new Error('redirect with an invalid Location'), { code: 'InvalidRedirect' });
        }
        if (next.origin !== url.origin) headers = dropAuthorization(headers);
        if (res.statusCode === 303 || ((res.statusCode === 301 || res.statusCode === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
          headers = Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'content-type'));
        }
        url = next;
        continue;
      }
      if (method === 'POST') stats.posts++;
      if (isFirst && url.toString() !== target) {
        // Remember where the repository moved: `<base>/info/refs?service=...` -> `<newbase>/info/refs?...`
        const original = new URL(target);
        const suffix = original.pathname.endsWith('/info/refs') ? '/info/refs' : undefined;
        if (suffix && url.pathname.endsWith(suffix)) {
          const fromBase = `${original.origin}${original.pathname.slice(0, -suffix.length)}`;
          const toBase = `${url.origin}${url.pathname.slice(0, -suffix.length)}`;
          rebase = { from: fromBase, to: toBase };
        }
      }
      return {
        url: redactUrl(url),
        method,
        statusCode: res.statusCode,
        statusMessage: res.statusMessage,
        headers: res.headers,
        body: once(res.body),
      };
    }
  }

  return { request, stats };
}

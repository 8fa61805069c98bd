/**
 * Checks that a registry answers the Docker Registry HTTP API v2 and accepts the push
 * credentials, following the auth flow Docker clients use:
 *
 *   GET <endpoint>/v2/
 *     200                                   → ok
 *     401 WWW-Authenticate: Basic ...       → retry with Authorization: Basic
 *     401 WWW-Authenticate: Bearer realm=.. → GET realm?service=..&scope=.. (Basic) → token
 *                                           → retry with Authorization: Bearer <token>
 *
 * Safety rules (the endpoint is admin-owned and may be private, what it redirects to is not):
 * - the registry's credentials are bound to the endpoint's origin (scheme, host, port; default
 *   ports 443/80 normalised): every request of the probe at that exact origin gets them, a redirect
 *   to any other origin (another port of the same host included) gets none, and the Bearer token
 *   goes only to that origin too;
 * - a token realm at another origin gets the Basic credentials only when it is https, its host is
 *   the registry's host or a host the registry type trusts (`trustedHosts`, e.g. auth.docker.io for
 *   Docker Hub), and the address it connects to is public or of the same kind as the endpoint's
 *   (a loopback realm only for a loopback registry, a private one only for a private registry);
 *   a plain-http realm gets them only when it is the registry's own (http) origin. This is the
 *   token flow of the distribution auth spec (Basic credentials to the realm named in
 *   WWW-Authenticate), narrowed so a registry answer cannot steer them to another service;
 * - a redirect or realm to a link-local/metadata address (169.254.0.0/16, fe80::/10, also when
 *   a name resolves to one) is refused;
 * - at most MAX_REDIRECTS redirects per request; one deadline (AbortSignal) for the whole probe;
 * - response bodies are bounded; messages never carry credentials, tokens or URL userinfo.
 */
import * as dns from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { RegistryCredentials } from './credentials.ts';

export type ProbeFailureReason = 'Unauthorized' | 'Unreachable' | 'TLSError';

export type ProbeResult = { ok: true } | { ok: false; reason: ProbeFailureReason; message: string };

export interface ProbeOptions {
  /** The registry base URL, e.g. https://registry.example.com (a path is ignored: the API lives at /v2/). */
  endpoint: string;
  credentials?: RegistryCredentials;
  /** Deadline for the whole probe, redirects and token exchange included. */
  timeoutMs: number;
  insecureSkipTLSVerify?: boolean;
  /** PEM certificates trusted in addition to the system roots. */
  caBundle?: string;
  /** Extra host names whose https token realm may receive the credentials (a realm on another host). */
  trustedHosts?: readonly string[];
}

export type Probe = (options: ProbeOptions) => Promise<ProbeResult>;

export const MAX_REDIRECTS = 5;
const MAX_BODY_BYTES = 64 * 1024;
const USER_AGENT = 'kapsa-registry-probe/1';

class ProbeFailure extends Error {
  readonly reason: ProbeFailureReason;
  constructor(reason: ProbeFailureReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

interface Hop {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  url: URL;
}

interface Context {
  base: URL;
  credentials: RegistryCredentials | undefined;
  trustedHosts: Set<string>;
  signal: AbortSignal;
  timeoutMs: number;
  tlsOptions: https.RequestOptions;
  secrets: string[];
  /** The address the endpoint answered from (first response): what a realm's address is compared with. */
  endpointAddress?: string;
}

/** Who a request is for: the registry's API (credentials and token stay at its origin) or its token realm. */
type Audience = 'registry' | 'realm';

type Verdict = { ok: true } | { ok: false; why: string };

export async function probeRegistry(options: ProbeOptions): Promise<ProbeResult> {
  const secrets = secretStrings(options.credentials);
  try {
    const base = parseEndpoint(options.endpoint);
    const timeoutMs = Number.isFinite(options.timeoutMs) && options.timeoutMs > 0 ? options.timeoutMs : 5000;
    const tlsOptions: https.RequestOptions = { rejectUnauthorized: options.insecureSkipTLSVerify !== true };
    if (options.caBundle !== undefined && options.caBundle.trim() !== '') {
      tlsOptions.ca = [...tls.rootCertificates, options.caBundle];
    }
    const context: Context = {
      base,
      credentials: options.credentials,
      trustedHosts: new Set((options.trustedHosts ?? []).map((host) => host.toLowerCase())),
      signal: AbortSignal.timeout(timeoutMs),
      timeoutMs,
      tlsOptions,
      secrets,
    };
    await runFlow(context);
    return { ok: true };
  } catch (error) {
    if (error instanceof ProbeFailure) return { ok: false, reason: error.reason, message: redact(error.message, secrets) };
    return { ok: false, reason: 'Unreachable', message: redact(`probe failed: ${errorText(error)}`, secrets) };
  }
}

async function runFlow(context: Context): Promise<void> {
  const v2 = new URL('/v2/', context.base);
  const first = await fetchFollowing(context, v2, undefined, 'registry');
  if (first.status === 200) return;
  if (first.status !== 401) throw unexpectedStatus(first, 'GET /v2/');

  const challenge = parseChallenge(headerText(first.headers['www-authenticate']));
  if (challenge === undefined) {
    throw new ProbeFailure('Unauthorized', `${display(first.url)} answered 401 without a usable WWW-Authenticate challenge`);
  }
  const credentials = context.credentials;

  if (challenge.scheme === 'basic') {
    if (credentials === undefined) {
      throw new ProbeFailure('Unauthorized', `${display(first.url)} requires authentication and no credentials are configured`);
    }
    const basic = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;
    const second = await fetchFollowing(context, v2, basic, 'registry');
    if (second.status === 200) return;
    if (second.status === 401 || second.status === 403) {
      throw new ProbeFailure('Unauthorized', `${display(second.url)} rejected the credentials (HTTP ${second.status})${withheldNote(context, second.url, 'registry')}`);
    }
    throw unexpectedStatus(second, 'GET /v2/ with credentials');
  }

  // Bearer: exchange the credentials for a token at the realm, then present the token.
  const realmText = challenge.params.get('realm');
  if (realmText === undefined || realmText === '') {
    throw new ProbeFailure('Unauthorized', `${display(first.url)} sent a Bearer challenge without a realm`);
  }
  let realm: URL;
  try {
    realm = new URL(realmText, first.url);
  } catch {
    throw new ProbeFailure('Unauthorized', `${display(first.url)} sent a Bearer challenge with an invalid realm`);
  }
  if (realm.protocol !== 'http:' && realm.protocol !== 'https:') {
    throw new ProbeFailure('Unauthorized', `${display(first.url)} sent a Bearer realm that is not http(s)`);
  }
  if (!sameAsBase(context, realm)) refuseLinkLocal(realm, 'token realm');
  const service = challenge.params.get('service');
  const scope = challenge.params.get('scope');
  if (service !== undefined) realm.searchParams.set('service', service);
  if (scope !== undefined) realm.searchParams.set('scope', scope);
  if (credentials !== undefined) {
    const verdict = credentialVerdict(context, realm, 'realm');
    if (!verdict.ok) throw new ProbeFailure('Unauthorized', `the token realm ${display(realm)} ${verdict.why}; the credentials were not sent to it`);
  }
  const basic =
    credentials === undefined
      ? undefined
      : `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;
  const tokenResponse = await fetchFollowing(context, realm, basic, 'realm', true);
  if (tokenResponse.status === 401 || tokenResponse.status === 403) {
    throw new ProbeFailure(
      'Unauthorized',
      credentials === undefined
        ? `the token service ${display(tokenResponse.url)} requires credentials and none are configured (HTTP ${tokenResponse.status})`
        : `the token service ${display(tokenResponse.url)} rejected the credentials (HTTP ${tokenResponse.status})${withheldNote(context, tokenResponse.url, 'realm')}`,
    );
  }
  if (tokenResponse.status !== 200) throw unexpectedStatus(tokenResponse, 'token request');
  const token = readToken(tokenResponse.body);
  if (token === undefined) {
    throw new ProbeFailure('Unreachable', `the token service ${display(tokenResponse.url)} answered without a token`);
  }
  context.secrets.push(token);
  const third = await fetchFollowing(context, v2, `Bearer ${token}`, 'registry');
  if (third.status === 200) return;
  if (third.status === 401 || third.status === 403) {
    throw new ProbeFailure('Unauthorized', `${display(third.url)} rejected the token issued for the credentials (HTTP ${third.status})`);
  }
  throw unexpectedStatus(third, 'GET /v2/ with token');
}

/**
 * GET `start`, following at most MAX_REDIRECTS redirects. `authorization` is sent only to hops
 * that may receive the credentials for `audience`; every redirect target is checked against
 * link-local ranges.
 */
async function fetchFollowing(context: Context, start: URL, authorization: string | undefined, audience: Audience, wantBody = false): Promise<Hop> {
  let url = start;
  for (let redirects = 0; ; redirects++) {
    const send = authorization !== undefined && credentialVerdict(context, url, audience).ok ? authorization : undefined;
    const hop = await request(context, url, send, wantBody);
    if (![301, 302, 303, 307, 308].includes(hop.status)) return hop;
    const location = headerText(hop.headers.location);
    if (location === undefined || location === '') return hop;
    if (redirects >= MAX_REDIRECTS) {
      throw new ProbeFailure('Unreachable', `${display(start)} redirected more than ${MAX_REDIRECTS} times`);
    }
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new ProbeFailure('Unreachable', `${display(url)} redirected to an invalid location`);
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new ProbeFailure('Unreachable', `${display(url)} redirected to a non-http(s) location`);
    }
    if (!sameAsBase(context, next)) refuseLinkLocal(next, 'redirect');
    url = next;
  }
}

function request(context: Context, url: URL, authorization: string | undefined, wantBody: boolean): Promise<Hop> {
  return new Promise<Hop>((resolve, reject) => {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, accept: 'application/json' };
    if (authorization !== undefined) headers.authorization = authorization;
    const isHttps = url.protocol === 'https:';
    // Credentials leaving the endpoint's origin must not land on a loopback/private address the
    // endpoint is not on: checked on the address actually connected to (no DNS-rebinding gap).
    const guardAddress = authorization !== undefined && !sameOrigin(context, url);
    const literal = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (guardAddress && net.isIP(literal) !== 0) {
      const refused = addressRefusal(context, literal);
      if (refused !== undefined) {
        reject(new ProbeFailure('Unauthorized', `the token realm ${display(url)} ${refused}; the credentials were not sent to it`));
        return;
      }
    }
    const options: https.RequestOptions = {
      method: 'GET',
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port === '' ? (isHttps ? 443 : 80) : Number(url.port),
      path: `${url.pathname}${url.search}`,
      headers,
      agent: false,
      signal: context.signal,
      // Redirect targets (and the realm) may be names that resolve to metadata addresses.
      lookup: guardAddress ? credentialLookup(context) : sameAsBase(context, url) ? undefined : guardedLookup,
      ...(isHttps ? context.tlsOptions : {}),
    };
    const onError = (error: unknown): void => reject(classify(error, url, context));
    let req: http.ClientRequest;
    try {
      req = (isHttps ? https : http).request(options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (!wantBody) return;
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            res.destroy();
            reject(new ProbeFailure('Unreachable', `${display(url)} sent a response larger than ${MAX_BODY_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        if (context.endpointAddress === undefined && sameOrigin(context, url) && res.socket?.remoteAddress !== undefined) {
          context.endpointAddress = res.socket.remoteAddress;
        }
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), url }));
        res.on('error', onError);
      });
    } catch (error) {
      onError(error);
      return;
    }
    req.on('error', onError);
    req.end();
  });
}

/** scheme://host:port with the default port spelled out (https 443, http 80): what credentials are bound to. */
export function originOf(url: URL): string {
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '';
  return `${url.protocol}//${url.hostname.toLowerCase()}:${port}`;
}

function sameOrigin(context: Context, url: URL): boolean {
  return originOf(url) === originOf(context.base);
}

/**
 * Whether `url` may receive the registry's credentials (see the safety rules above). The address
 * part of the realm rule is checked when connecting (addressRefusal), not here.
 */
function credentialVerdict(context: Context, url: URL, audience: Audience): Verdict {
  if (sameOrigin(context, url)) return { ok: true };
  const registryOrigin = originOf(context.base);
  if (audience === 'registry') {
    if (context.base.protocol === 'https:' && url.protocol !== 'https:') {
      return { ok: false, why: "is plain http while the registry's endpoint is https" };
    }
    return { ok: false, why: `is not the registry's origin ${registryOrigin}` };
  }
  if (url.protocol !== 'https:') {
    return { ok: false, why: `is plain http and not the registry's origin ${registryOrigin} (a realm at another origin gets the credentials only over https)` };
  }
  const host = url.hostname.toLowerCase();
  if (host !== context.base.hostname.toLowerCase() && !context.trustedHosts.has(host)) {
    return { ok: false, why: `is not on the registry host ${context.base.hostname} nor a trusted realm host` };
  }
  return { ok: true };
}

function sameAsBase(context: Context, url: URL): boolean {
  return url.hostname.toLowerCase() === context.base.hostname.toLowerCase();
}

function withheldNote(context: Context, url: URL, audience: Audience): string {
  if (context.credentials === undefined) return '';
  const verdict = credentialVerdict(context, url, audience);
  if (verdict.ok) return '';
  if (audience === 'registry' && context.base.protocol === 'https:' && url.protocol !== 'https:') {
    return `; the credentials were not sent over plain http after the registry's https endpoint redirected there`;
  }
  return `; the credentials were not sent to ${originOf(url)}, which ${verdict.why}`;
}

// ---------------------------------------------------------------------------------------------
// Address kinds: where credentials that leave the endpoint's origin may land

export type AddressKind = 'loopback' | 'private' | 'link-local' | 'public';

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addSubnet('0.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addAddress('::', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');
LOOPBACK.addSubnet('::ffff:0.0.0.0', 104, 'ipv6');

const PRIVATE = new net.BlockList();
for (const [network, prefix] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['100.64.0.0', 10]] as const) {
  PRIVATE.addSubnet(network, prefix, 'ipv4');
  PRIVATE.addSubnet(`::ffff:${network}`, 96 + prefix, 'ipv6');
}
PRIVATE.addSubnet('fc00::', 7, 'ipv6');

/** loopback (127/8, 0/8, ::1, ::), private (RFC 1918, 100.64/10, fc00::/7), link-local/metadata, or public. */
export function addressKind(address: string): AddressKind {
  const family = net.isIP(address);
  if (family === 0) return 'public';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  try {
    if (LOOPBACK.check(address, type)) return 'loopback';
    if (isLinkLocal(address)) return 'link-local';
    if (PRIVATE.check(address, type)) return 'private';
  } catch {
    return 'public';
  }
  return 'public';
}

/**
 * Why credentials leaving the endpoint's origin may not go to `address`, or undefined when they
 * may: a public address, or one of the same kind as the endpoint's (an unknown endpoint address
 * counts as public).
 */
function addressRefusal(context: Context, address: string): string | undefined {
  const kind = addressKind(address);
  if (kind === 'public') return undefined;
  const endpoint = context.endpointAddress === undefined ? 'public' : addressKind(context.endpointAddress);
  if (kind === endpoint) return undefined;
  return `is at ${kind} address ${address} while the registry's endpoint is at a ${endpoint} address`;
}

/** guardedLookup, plus: every address a name resolves to must pass addressRefusal. */
function credentialLookup(context: Context) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    guardedLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) {
        callback(error, '');
        return;
      }
      const list = addresses as dns.LookupAddress[];
      for (const entry of list) {
        const refused = addressRefusal(context, entry.address);
        if (refused !== undefined) {
          const failure: NodeJS.ErrnoException & { refusal?: string } = new Error(`refused: ${hostname} ${refused}`);
          failure.code = 'EKAPSACREDENTIALADDRESS';
          failure.refusal = refused;
          callback(failure, '');
          return;
        }
      }
      answerLookup(hostname, options, list, callback);
    });
  };
}

// ---------------------------------------------------------------------------------------------
// Link-local / metadata addresses

function refuseLinkLocal(url: URL, what: string): void {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (net.isIP(host) !== 0) {
    if (isLinkLocal(host)) throw new ProbeFailure('Unreachable', `refused ${what} to link-local/metadata address ${url.host}`);
  }
}

/** True for 169.254.0.0/16, fe80::/10, the IPv4-mapped forms, and fd00:ec2::254 (AWS IMDS over IPv6). */
export function isLinkLocal(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return address.startsWith('169.254.');
  if (family !== 6) return false;
  const block = new net.BlockList();
  block.addSubnet('fe80::', 10, 'ipv6');
  block.addSubnet('::ffff:169.254.0.0', 112, 'ipv6');
  block.addAddress('fd00:ec2::254', 'ipv6');
  try {
    return block.check(address, 'ipv6');
  } catch {
    return false;
  }
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

function guardedLookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) {
      callback(error, '');
      return;
    }
    const list = addresses as dns.LookupAddress[];
    if (list.some((entry) => isLinkLocal(entry.address))) {
      const refused: NodeJS.ErrnoException = new Error(`refused: ${hostname} resolves to a link-local/metadata address`);
      refused.code = 'EKAPSALINKLOCAL';
      callback(refused, '');
      return;
    }
    answerLookup(hostname, options, list, callback);
  });
}

/** Answers a lookup the way dns.lookup does: every address with `all`, else the first. */
function answerLookup(hostname: string, options: dns.LookupOptions, list: dns.LookupAddress[], callback: LookupCallback): void {
  if (options.all) {
    callback(null, list);
    return;
  }
  const firstAddress = list[0];
  if (firstAddress === undefined) {
    const none: NodeJS.ErrnoException = new Error(`no address for ${hostname}`);
    none.code = 'ENOTFOUND';
    callback(none, '');
    return;
  }
  callback(null, firstAddress.address, firstAddress.family);
}

// ---------------------------------------------------------------------------------------------
// Errors

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'EPROTO',
]);

const NETWORK_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed (temporary)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed',
};

function classify(error: unknown, url: URL, context: Context): ProbeFailure {
  if (error instanceof ProbeFailure) return error;
  const code = errorCode(error);
  const name = error instanceof Error ? error.name : '';
  if (context.signal.aborted || name === 'AbortError' || name === 'TimeoutError' || code === 'ABORT_ERR') {
    return new ProbeFailure('Unreachable', `${display(url)} did not answer within ${context.timeoutMs} ms`);
  }
  if (code === 'EKAPSACREDENTIALADDRESS') {
    const refused = (error as { refusal?: unknown }).refusal;
    return new ProbeFailure('Unauthorized', `the token realm ${display(url)} ${typeof refused === 'string' ? refused : 'resolves to a refused address'}; the credentials were not sent to it`);
  }
  if (code === 'EKAPSALINKLOCAL') {
    return new ProbeFailure('Unreachable', `refused to connect to ${url.hostname}: it resolves to a link-local/metadata address`);
  }
  if (code !== undefined && (TLS_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || code.startsWith('ERR_OSSL_'))) {
    return new ProbeFailure(
      'TLSError',
      `TLS with ${url.host} failed: ${errorText(error)}; trust its CA with spec.caBundle (or, for tests only, set spec.insecureSkipTLSVerify)`,
    );
  }
  if (code !== undefined && NETWORK_TEXT[code] !== undefined) {
    return new ProbeFailure('Unreachable', `GET ${display(url)}: ${NETWORK_TEXT[code]} (${code})`);
  }
  return new ProbeFailure('Unreachable', `GET ${display(url)}: ${errorText(error)}`);
}

function unexpectedStatus(hop: Hop, what: string): ProbeFailure {
  if (hop.status === 403) return new ProbeFailure('Unauthorized', `${what}: ${display(hop.url)} answered HTTP 403 (forbidden)`);
  if (hop.status === 404) {
    return new ProbeFailure('Unreachable', `${what}: ${display(hop.url)} answered HTTP 404; is this the base URL of an OCI/Docker registry?`);
  }
  return new ProbeFailure('Unreachable', `${what}: ${display(hop.url)} answered HTTP ${hop.status}`);
}

function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

function errorText(error: unknown): string {
  const code = errorCode(error);
  const message = (error instanceof Error ? error.message : String(error)).replace(/;\s*if the root CA is installed locally.*$/s, '');
  const short = message.length > 300 ? `${message.slice(0, 300)}...` : message;
  return code !== undefined && !short.includes(code) ? `${short} (${code})` : short;
}

// ---------------------------------------------------------------------------------------------
// Helpers

function parseEndpoint(endpoint: string): URL {
  if (typeof endpoint !== 'string' || endpoint.trim() === '') throw new ProbeFailure('Unreachable', 'the registry endpoint is empty');
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint.trim()) ? endpoint.trim() : `https://${endpoint.trim()}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ProbeFailure('Unreachable', 'the registry endpoint is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ProbeFailure('Unreachable', 'the registry endpoint must be an http(s) URL');
  if (url.username !== '' || url.password !== '') {
    throw new ProbeFailure('Unreachable', 'the registry endpoint must not contain credentials; use spec.auth.secretRef');
  }
  return url;
}

/** scheme://host[:port]/path, never userinfo, query or fragment. */
function display(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function headerText(value: string | string[] | undefined): string | undefined {
  if (Array.isArray(value)) return value.join(', ');
  return value;
}

interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Map<string, string>;
}

/** The first Basic or Bearer challenge of a WWW-Authenticate header (RFC 7235 auth-params). */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (header === undefined) return undefined;
  const pattern = /(?:^|,)\s*(basic|bearer)\b/gi;
  const match = pattern.exec(header);
  if (!match) return undefined;
  const scheme = (match[1] ?? '').toLowerCase() as 'basic' | 'bearer';
  const params = new Map<string, string>();
  const rest = header.slice(match.index + match[0].length);
  const param = /\s*,?\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/y;
  let position = 0;
  for (;;) {
    param.lastIndex = position;
    const found = param.exec(rest);
    if (!found) break;
    const key = (found[1] ?? '').toLowerCase();
    const value = found[2] !== undefined ? found[2].replace(/\\(.)/g, '$1') : (found[3] ?? '');
    // A following "Basic"/"Bearer" scheme ends this challenge's parameters.
    if (/^(basic|bearer)$/i.test(key)) break;
    if (!params.has(key)) params.set(key, value);
    position = param.lastIndex;
  }
  return { scheme, params };
}

function readToken(body: Buffer): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const record = parsed as Record<string, unknown>;
    const token = typeof record.token === 'string' && record.token !== '' ? record.token : record.access_token;
    return typeof token === 'string' && token !== '' ? token : undefined;
  } catch {
    return undefined;
  }
}

function secretStrings(credentials: RegistryCredentials | undefined): string[] {
  if (credentials === undefined) return [];
  const values = [credentials.password, Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')];
  return values.filter((value) => typeof value === 'string' && value.length >= 3);
}

/** Last line of defence: no message leaves the probe with a password or token in it. */
export function redact(message: string, secrets: readonly string[]): string {
  let text = message;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length >= 3) text = text.split(secret).join('[REDACTED]');
  }
  return text;
}

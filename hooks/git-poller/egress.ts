/**
 * Egress guard for repository URLs (SSRF protection).
 *
 * Repository URLs are user input: a Project author must not be able to make the poller talk to
 * the cluster's own services, the node, or the cloud metadata endpoint. The guard:
 *
 *  - accepts only `https:` (and `http:` when the policy allows it);
 *  - refuses URLs that carry userinfo (`https://user:pass@host/...`): credentials belong in
 *    `spec.repository.credentials`, and a URL is printed in too many places to carry a secret;
 *  - refuses names that only mean something inside the cluster or the host (`localhost`,
 *    `*.localhost`, `*.svc`, `*.cluster.local`, `*.local`, `*.internal`, single-label names such as
 *    `kubernetes`), and every numeric IPv4 spelling (`2130706433`, `0x7f000001`, `0177.0.0.1`,
 *    `127.1`) is read as the address it denotes;
 *  - resolves the name (all addresses) and refuses it when ANY address is loopback, private,
 *    link-local, CGNAT, multicast, reserved, unique-local, or an IPv6 form that embeds such an IPv4
 *    address (IPv4-mapped/compatible, NAT64, 6to4, Teredo);
 *  - returns the checked addresses so the connection is pinned to them (`pinnedLookup`), which
 *    closes the DNS-rebinding window between the check and the connect.
 *
 * A host listed in `allowedHosts` (`host` for any port, or `host:port`) skips the name and address
 * checks — that is how an admin allows an in-cluster git server, and how tests reach 127.0.0.1.
 * The scheme and userinfo rules still apply to allowed hosts.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { isIP } from 'node:net';

export interface EgressPolicy {
  allowHttp: boolean;
  allowedHosts: string[];
}

/** Resolves a host name to every address it has (dns.lookup with all: true). Injectable for tests. */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const defaultResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export type EgressDecision =
  | { ok: true; url: URL; allowListed: boolean; addresses: LookupAddress[] | undefined }
  | { ok: false; message: string };

/** Thrown by the guarded HTTP client when a request (or a redirect) is refused. */
export class EgressBlockedError extends Error {
  readonly code = 'EgressBlocked';
  constructor(message: string) {
    super(message);
    this.name = 'EgressBlockedError';
  }
}

// ---------------------------------------------------------------------------------------------
// Address parsing

/**
 * Parses an IPv4 address the way inet_aton does (and the WHATWG URL host parser): 1 to 4 parts,
 * each decimal, hex (`0x`) or octal (leading `0`); the last part fills the remaining bytes.
 * Returns the address as an unsigned 32-bit number, or undefined when `text` is not such a form.
 */
export function parseIPv4Loose(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop(); // trailing dot
  if (parts.length === 0 || parts.length > 4) return undefined;
  const values: number[] = [];
  for (const part of parts) {
    let value: number;
    if (/^0[xX][0-9a-fA-F]*$/.test(part)) value = part.length === 2 ? 0 : parseInt(part.slice(2), 16);
    else if (/^0[0-7]+$/.test(part)) value = parseInt(part.slice(1), 8);
    else if (/^(0|[1-9][0-9]*)$/.test(part)) value = parseInt(part, 10);
    else return undefined;
    if (!Number.isFinite(value)) return undefined;
    values.push(value);
  }
  const last = values.pop() as number;
  for (const value of values) if (value > 255) return undefined;
  if (last >= 256 ** (4 - values.length)) return undefined;
  let result = last;
  values.forEach((value, index) => {
    result += value * 256 ** (3 - index);
  });
  return result;
}

function ipv4ToString(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** Parses an IPv6 address (optionally bracketed, with an optional zone and embedded IPv4) into 8 groups. */
export function parseIPv6(text: string): number[] | undefined {
  let s = text;
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (isIP(s) !== 6) return undefined;
  const lastColon = s.lastIndexOf(':');
  const lastPart = s.slice(lastColon + 1);
  if (lastPart.includes('.')) {
    const v4 = parseIPv4Loose(lastPart);
    if (v4 === undefined) return undefined;
    s = `${s.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const want = 8;
  let head: number[];
  const double = s.indexOf('::');
  if (double >= 0) {
    const left = groups(s.slice(0, double));
    const right = groups(s.slice(double + 2));
    const fill = want - left.length - right.length;
    if (fill < 0) return undefined;
    head = [...left, ...new Array<number>(fill).fill(0), ...right];
  } else {
    head = groups(s);
  }
  const result = head;
  if (result.length !== 8 || result.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return undefined;
  return result;
}

// ---------------------------------------------------------------------------------------------
// Classification

const IPV4_BLOCKED: Array<[string, number, string]> = [
  ['0.0.0.0', 8, 'unspecified/"this network" address (0.0.0.0/8)'],
  ['10.0.0.0', 8, 'private address (10.0.0.0/8)'],
  ['100.64.0.0', 10, 'carrier-grade NAT address (100.64.0.0/10)'],
  ['127.0.0.0', 8, 'loopback address (127.0.0.0/8)'],
  ['169.254.0.0', 16, 'link-local address (169.254.0.0/16, includes cloud metadata)'],
  ['172.16.0.0', 12, 'private address (172.16.0.0/12)'],
  ['192.0.0.0', 24, 'IETF protocol assignment (192.0.0.0/24)'],
  ['192.0.2.0', 24, 'documentation address (192.0.2.0/24)'],
  ['192.88.99.0', 24, '6to4 relay anycast address (192.88.99.0/24)'],
  ['192.168.0.0', 16, 'private address (192.168.0.0/16)'],
  ['198.18.0.0', 15, 'benchmarking address (198.18.0.0/15)'],
  ['198.51.100.0', 24, 'documentation address (198.51.100.0/24)'],
  ['203.0.113.0', 24, 'documentation address (203.0.113.0/24)'],
  ['224.0.0.0', 4, 'multicast address (224.0.0.0/4)'],
  ['240.0.0.0', 4, 'reserved/broadcast address (240.0.0.0/4)'],
];

const IPV4_TABLE = IPV4_BLOCKED.map(([base, bits, why]) => {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (parseIPv4Loose(base) as number) & mask, mask, why };
});

function classifyIPv4(value: number): string | undefined {
  for (const entry of IPV4_TABLE) {
    if (((value & entry.mask) >>> 0) === entry.base >>> 0) return entry.why;
  }
  return undefined;
}

function classifyIPv6(g: number[]): string | undefined {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const embedded = (hi: number, lo: number): number => ((hi << 16) >>> 0) + lo;
  const via = (kind: string, v4: number): string => {
    const inner = classifyIPv4(v4);
    return inner ? `${kind} of ${ipv4ToString(v4)} (${inner})` : '';
  };
  const zeroPrefix = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (zeroPrefix && g5 === 0 && g6 === 0 && g7 === 0) return 'unspecified IPv6 address (::)';
  if (zeroPrefix && g5 === 0 && g6 === 0 && g7 === 1) return 'IPv6 loopback address (::1)';
  if (zeroPrefix && g5 === 0xffff) return via('IPv4-mapped IPv6 form', embedded(g6, g7)) || undefined;
  if (zeroPrefix && g5 === 0) {
    // IPv4-compatible (deprecated) ::a.b.c.d — nobody legitimately serves git there.
    return 'IPv4-compatible IPv6 address (::/96, deprecated)';
  }
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0xffff && g5 === 0) {
    return 'IPv4-translated IPv6 address (::ffff:0:0:0/96)';
  }
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return via('NAT64 form', embedded(g6, g7)) || undefined;
  }
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return 'local-use NAT64 address (64:ff9b:1::/48)';
  if (g0 === 0x2002) return via('6to4 form', embedded(g1, g2)) || undefined;
  if (g0 === 0x2001 && g1 === 0) return 'Teredo address (2001::/32)';
  if (g0 === 0x2001 && g1 === 0xdb8) return 'documentation address (2001:db8::/32)';
  if (g0 === 0x100 && g1 === 0 && g2 === 0 && g3 === 0) return 'discard-only address (100::/64)';
  if ((g0 & 0xfe00) === 0xfc00) return 'unique-local IPv6 address (fc00::/7)';
  if ((g0 & 0xffc0) === 0xfe80) return 'link-local IPv6 address (fe80::/10)';
  if ((g0 & 0xffc0) === 0xfec0) return 'site-local IPv6 address (fec0::/10, deprecated)';
  if ((g0 & 0xff00) === 0xff00) return 'multicast IPv6 address (ff00::/8)';
  return undefined;
}

/**
 * Why an IP address literal must not be contacted, or undefined when it is a public address.
 * Accepts IPv4 (any numeric spelling), IPv6 (bracketed or not). Non-addresses return undefined.
 */
export function classifyAddress(address: string): string | undefined {
  if (address.includes(':')) {
    const groups = parseIPv6(address);
    return groups ? classifyIPv6(groups) : undefined;
  }
  const v4 = parseIPv4Loose(address);
  return v4 === undefined ? undefined : classifyIPv4(v4);
}

/** True when `hostname` is an address literal in any spelling (so no DNS lookup happens for it). */
export function isAddressLiteral(hostname: string): boolean {
  if (hostname.includes(':')) return parseIPv6(hostname) !== undefined;
  return parseIPv4Loose(hostname) !== undefined;
}

const INTERNAL_SUFFIXES = ['.localhost', '.svc', '.cluster.local', '.local', '.internal', '.localdomain', '.home.arpa'];

/**
 * Name-level check, before any DNS lookup: address literals are classified, and names that only
 * make sense inside the cluster or on the host are refused. Returns why, or undefined when the name
 * needs resolving.
 */
export function classifyHostname(hostname: string): string | undefined {
  const host = hostname.toLowerCase().replace(/\.+$/, '');
  if (host === '') return 'empty host';
  if (isAddressLiteral(host)) {
    const why = classifyAddress(host);
    return why ? `address ${host} is refused: ${why}` : undefined;
  }
  if (host === 'localhost') return 'host "localhost" is the local machine';
  for (const suffix of INTERNAL_SUFFIXES) {
    if (host.endsWith(suffix)) return `host "${host}" is a cluster-internal or local name (*${suffix})`;
  }
  if (!host.includes('.')) return `host "${host}" is a single-label name (cluster-internal or search-domain lookup)`;
  return undefined;
}

function defaultPort(protocol: string): string {
  return protocol === 'http:' ? '80' : '443';
}

/** True when the URL's host (with or without its port) is listed in policy.allowedHosts. */
export function isHostAllowed(url: URL, policy: EgressPolicy): boolean {
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  const port = url.port || defaultPort(url.protocol);
  for (const entryRaw of policy.allowedHosts) {
    const entry = entryRaw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === host) return true;
    if (entry === `${host}:${port}`) return true;
  }
  return false;
}

/** A URL without userinfo, query or fragment: safe to print. */
export function redactUrl(input: string | URL): string {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch {
    return '<invalid URL>';
  }
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  return url.toString();
}

/** Scheme, userinfo and host-name checks that need no DNS. */
export function checkUrlSyntax(input: string | URL, policy: EgressPolicy): { ok: true; url: URL; allowListed: boolean } | { ok: false; message: string } {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch {
    return { ok: false, message: 'repository URL is not a valid URL' };
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    const allowed = policy.allowHttp ? 'https: or http:' : 'https:';
    return { ok: false, message: `scheme ${url.protocol} is not allowed (only ${allowed})` };
  }
  if (url.username !== '' || url.password !== '') {
    return { ok: false, message: 'repository URL must not contain credentials; use spec.repository.credentials' };
  }
  if (isHostAllowed(url, policy)) return { ok: true, url, allowListed: true };
  const why = classifyHostname(url.hostname);
  if (why) return { ok: false, message: `${why}` };
  return { ok: true, url, allowListed: false };
}

/**
 * Full check of a URL: syntax, name, and every address the name resolves to. On success the
 * returned addresses are the ones the connection must use (see pinnedLookup); they are undefined
 * for allow-listed hosts and address literals (no lookup happens for those).
 */
export async function checkUrl(
  input: string | URL,
  policy: EgressPolicy,
  options: { resolve?: Resolver; signal?: AbortSignal } = {},
): Promise<EgressDecision> {
  const syntax = checkUrlSyntax(input, policy);
  if (!syntax.ok) return syntax;
  const { url, allowListed } = syntax;
  if (allowListed || isAddressLiteral(url.hostname)) return { ok: true, url, allowListed, addresses: undefined };
  const resolve = options.resolve ?? defaultResolver;
  let addresses: LookupAddress[];
  try {
    addresses = await abortable(resolve(url.hostname), options.signal);
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw Object.assign(new Error(`cannot resolve host "${url.hostname}"`), { code: 'ENOTFOUND' });
  }
  if (addresses.length === 0) {
    throw Object.assign(new Error(`cannot resolve host "${url.hostname}"`), { code: 'ENOTFOUND' });
  }
  for (const entry of addresses) {
    const why = classifyAddress(entry.address);
    if (why) return { ok: false, message: `host "${url.hostname}" resolves to ${entry.address}, refused: ${why}` };
    if (!isAddressLiteral(entry.address)) return { ok: false, message: `host "${url.hostname}" resolved to a non-address` };
  }
  return { ok: true, url, allowListed, addresses };
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net/http/https that only ever answers with the already-checked addresses, so the
 * socket connects to what was checked even if DNS now says something else (rebinding).
 */
export function pinnedLookup(addresses: LookupAddress[]) {
  return (_hostname: string, options: unknown, callback?: LookupCallback): void => {
    const cb = (typeof options === 'function' ? options : callback) as LookupCallback;
    const opts = (typeof options === 'object' && options !== null ? options : {}) as { family?: number | string; all?: boolean };
    const family = opts.family === 'IPv4' ? 4 : opts.family === 'IPv6' ? 6 : Number(opts.family ?? 0);
    const list = family === 4 || family === 6 ? addresses.filter((a) => a.family === family) : addresses;
    const first = list[0];
    if (!first) {
      cb(Object.assign(new Error('no checked address for this family'), { code: 'ENOTFOUND' }), '', 0);
      return;
    }
    if (opts.all) cb(null, list);
    else cb(null, first.address, first.family);
  };
}

/**
 * Registry push credentials from a Kubernetes Secret.
 *
 * Every message produced here names keys, hosts and Secret types only: never a value, never a
 * fragment of a value (JSON.parse error texts quote the input, so they are not passed on either).
 */
import type { Secret } from '../lib/objects.ts';
import { isRecord } from '../lib/objects.ts';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export type ParsedRegistrySecret =
  | { ok: true; username: string; password: string }
  | { ok: false; reason: 'SecretNotFound' | 'InvalidSecret'; message: string };

export const BASIC_AUTH_TYPE = 'kubernetes.io/basic-auth';
export const DOCKER_CONFIG_JSON_TYPE = 'kubernetes.io/dockerconfigjson';
export const DOCKER_CFG_TYPE = 'kubernetes.io/dockercfg';
export const OPAQUE_TYPE = 'Opaque';

/** The username used when an Opaque Secret carries only a `token` (GHCR, Harbor and ACR ignore it). */
export const TOKEN_USERNAME = 'token';

/** The key Docker and the kubelet use for Docker Hub in a docker config. */
export const DOCKER_HUB_CONFIG_KEY = 'https://index.docker.io/v1/';

const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/**
 * Parses the push credentials for `registryHost` (a host, host:port or URL) out of `secret`.
 * Never throws, whatever the Secret holds.
 */
export function parseRegistrySecret(secret: Secret | undefined, registryHost: string): ParsedRegistrySecret {
  if (secret === undefined || secret === null) {
    return { ok: false, reason: 'SecretNotFound', message: 'the referenced Secret does not exist' };
  }
  try {
    return parseExisting(secret, registryHost);
  } catch {
    // Defensive: nothing above should throw, but a crash here must never leak the Secret.
    return invalid('the Secret could not be read');
  }
}

function parseExisting(secret: Secret, registryHost: string): ParsedRegistrySecret {
  if (!isRecord(secret)) return invalid('the Secret is not an object');
  const type = secret.type === undefined || secret.type === '' ? OPAQUE_TYPE : secret.type;
  if (typeof type !== 'string') return invalid('the Secret type is not a string');

  const values = readValues(secret);
  if (!values.ok) return values;
  const data = values.data;

  switch (type) {
    case BASIC_AUTH_TYPE:
      return fromUserPassword(data, `a ${BASIC_AUTH_TYPE} Secret`, false);
    case OPAQUE_TYPE:
      return fromUserPassword(data, 'an Opaque Secret', true);
    case DOCKER_CONFIG_JSON_TYPE:
      return fromDockerConfig(data, '.dockerconfigjson', true, registryHost);
    case DOCKER_CFG_TYPE:
      return fromDockerConfig(data, '.dockercfg', false, registryHost);
    default:
      return invalid(
        `Secret type "${printable(type)}" is not supported for registry credentials; use ${BASIC_AUTH_TYPE}, ` +
          `${DOCKER_CONFIG_JSON_TYPE}, ${DOCKER_CFG_TYPE} or Opaque with username/password`,
      );
  }
}

/** Decoded `data` merged with `stringData` (which wins, as it does on the API server). */
function readValues(secret: Secret): { ok: true; data: Map<string, string> } | { ok: false; reason: 'InvalidSecret'; message: string } {
  const data = new Map<string, string>();
  const raw: unknown = secret.data;
  if (raw !== undefined && raw !== null) {
    if (!isRecord(raw)) return invalid('the Secret data is not a map of strings');
    for (const key of Object.keys(raw).sort()) {
      const value = raw[key];
      if (typeof value !== 'string') return invalid(`key "${printable(key)}" of the Secret data is not a string`);
      const decoded = decodeBase64(value);
      if (decoded === undefined) return invalid(`key "${printable(key)}" of the Secret data is not valid base64 of UTF-8 text`);
      data.set(key, decoded);
    }
  }
  const stringData: unknown = secret.stringData;
  if (stringData !== undefined && stringData !== null) {
    if (!isRecord(stringData)) return invalid('the Secret stringData is not a map of strings');
    for (const key of Object.keys(stringData).sort()) {
      const value = stringData[key];
      if (typeof value !== 'string') return invalid(`key "${printable(key)}" of the Secret stringData is not a string`);
      data.set(key, value);
    }
  }
  return { ok: true, data };
}

function fromUserPassword(data: Map<string, string>, what: string, allowToken: boolean): ParsedRegistrySecret {
  const username = data.get('username');
  const password = data.get('password');
  const token = allowToken ? data.get('token') : undefined;
  if (password !== undefined && password !== '') {
    if (username === undefined || username === '') return invalid(`${what} needs a non-empty "username" key next to "password"`);
    return { ok: true, username, password };
  }
  if (token !== undefined && token !== '') {
    return { ok: true, username: username !== undefined && username !== '' ? username : TOKEN_USERNAME, password: token };
  }
  const keys = allowToken ? '"username" and "password" (or "token")' : '"username" and "password"';
  return invalid(`${what} needs non-empty ${keys} keys; found keys: ${describeKeys(data)}`);
}

function fromDockerConfig(data: Map<string, string>, key: string, wrapped: boolean, registryHost: string): ParsedRegistrySecret {
  const text = data.get(key);
  if (text === undefined || text.trim() === '') return invalid(`the Secret has no "${key}" key; found keys: ${describeKeys(data)}`);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return invalid(`"${key}" is not valid JSON`);
  }
  if (!isRecord(document)) return invalid(`"${key}" is not a JSON object`);
  let auths: unknown = document;
  if (wrapped) {
    auths = document.auths;
    if (!isRecord(auths)) return invalid(`"${key}" has no "auths" object`);
  }
  const entries = auths as Record<string, unknown>;

  const wanted = normalizeRegistryHost(registryHost);
  if (wanted === '') return invalid('the registry endpoint has no host to look up in the docker config');
  const matches = Object.keys(entries)
    .sort()
    .filter((candidate) => normalizeRegistryHost(candidate) === wanted);
  // An exact key is preferred over a spelling variant (scheme, path, Docker Hub aliases).
  const exact = matches.find((candidate) => candidate === registryHost);
  const chosen = exact ?? matches[0];
  if (chosen === undefined) {
    return invalid(`"${key}" has no entry for registry host "${printable(wanted)}"; it has entries for: ${describeHosts(entries)}`);
  }
  const entry = entries[chosen];
  if (!isRecord(entry)) return invalid(`the "${key}" entry for "${printable(wanted)}" is not an object`);

  const auth = entry.auth;
  if (auth !== undefined && auth !== null && auth !== '') {
    if (typeof auth !== 'string') return invalid(`the "auth" field of the "${key}" entry for "${printable(wanted)}" is not a string`);
    const decoded = decodeBase64(auth);
    if (decoded === undefined) return invalid(`the "auth" field of the "${key}" entry for "${printable(wanted)}" is not valid base64`);
    const colon = decoded.indexOf(':');
    if (colon <= 0 || colon === decoded.length - 1) {
      return invalid(`the "auth" field of the "${key}" entry for "${printable(wanted)}" is not base64 of "username:password"`);
    }
    return { ok: true, username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  const username = entry.username;
  const password = entry.password;
  if (typeof username === 'string' && username !== '' && typeof password === 'string' && password !== '') {
    return { ok: true, username, password };
  }
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') {
    return invalid(`the "${key}" entry for "${printable(wanted)}" only has an identitytoken, which is not supported; use username/password`);
  }
  return invalid(`the "${key}" entry for "${printable(wanted)}" needs "auth" or non-empty "username" and "password"`);
}

/**
 * A `.dockerconfigjson` document carrying one registry's credentials, as the kubelet and
 * Docker read it. Docker Hub hosts are written under Docker's canonical key.
 */
export function dockerConfigJson(host: string, username: string, password: string): string {
  const normalized = normalizeRegistryHost(host);
  const key = DOCKER_HUB_HOSTS.has(normalized) ? DOCKER_HUB_CONFIG_KEY : normalized === '' ? host : normalized;
  const auth = Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
  return JSON.stringify({ auths: { [key]: { username, password, auth } } });
}

/**
 * The comparable form of a registry host: lower case, no scheme, no path, no default port, every
 * Docker Hub spelling folded into `docker.io`. `https://index.docker.io/v1/` → `docker.io`,
 * `https://Registry.Example.com:443/` → `registry.example.com`, `127.0.0.1:5000` → `127.0.0.1:5000`.
 */
export function normalizeRegistryHost(value: string): string {
  let text = value.trim().toLowerCase();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//.exec(text);
  let defaultPort: string | undefined;
  if (scheme) {
    defaultPort = scheme[1] === 'http' ? '80' : scheme[1] === 'https' ? '443' : undefined;
    text = text.slice(scheme[0].length);
  }
  text = text.replace(/[/?#].*$/, '');
  text = text.replace(/^[^@]*@/, '');
  const port = /:(\d+)$/.exec(text);
  if (port && (port[1] === '443' || port[1] === defaultPort)) text = text.slice(0, port.index);
  if (DOCKER_HUB_HOSTS.has(text)) return 'docker.io';
  return text;
}

function decodeBase64(value: string): string | undefined {
  const compact = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(compact, 'base64'));
  } catch {
    return undefined;
  }
}

function describeKeys(data: Map<string, string>): string {
  const keys = [...data.keys()].sort().map((key) => `"${printable(key)}"`);
  return keys.length === 0 ? '(none)' : keys.join(', ');
}

function describeHosts(entries: Record<string, unknown>): string {
  const hosts = Object.keys(entries)
    .sort()
    .map((key) => `"${printable(normalizeRegistryHost(key))}"`);
  return hosts.length === 0 ? '(none)' : hosts.join(', ');
}

/** Keys and hosts are not secret, but they are user input: keep them short and printable. */
function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 100 ? `${clean.slice(0, 100)}...` : clean;
}

function invalid(message: string): { ok: false; reason: 'InvalidSecret'; message: string } {
  return { ok: false, reason: 'InvalidSecret', message };
}

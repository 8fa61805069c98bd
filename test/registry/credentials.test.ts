import { describe, expect, it } from 'vitest';
import type { Secret } from '../../hooks/lib/objects.ts';
import { dockerConfigJson, normalizeRegistryHost, parseRegistrySecret } from '../../hooks/registry/credentials.ts';

const MARKER = 'MARKER-pa55-7f3c9e';
const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

function secret(type: string | undefined, data: Record<string, string>): Secret {
  const object: Secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'push', namespace: 'kapsa-system' }, data };
  if (type !== undefined) object.type = type;
  return object;
}

function dockerSecret(config: unknown, type = 'kubernetes.io/dockerconfigjson', key = '.dockerconfigjson'): Secret {
  return secret(type, { [key]: b64(typeof config === 'string' ? config : JSON.stringify(config)) });
}

/** Every failure: the right reason, and no form of the marker in the message. */
function expectInvalid(result: ReturnType<typeof parseRegistrySecret>, reason: 'InvalidSecret' | 'SecretNotFound', pattern: RegExp): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.reason).toBe(reason);
  expect(result.message).toMatch(pattern);
  for (const form of [MARKER, b64(MARKER), b64(`robot:${MARKER}`), 'robot']) expect(result.message).not.toContain(form);
}

describe('parseRegistrySecret', () => {
  it('reads kubernetes.io/basic-auth', () => {
    expect(parseRegistrySecret(secret('kubernetes.io/basic-auth', { username: b64('robot'), password: b64(MARKER) }), 'registry.example.com')).toEqual({
      ok: true,
      username: 'robot',
      password: MARKER,
    });
  });

  it('reads Opaque username/password, token, and a Secret without a type', () => {
    expect(parseRegistrySecret(secret('Opaque', { username: b64('robot'), password: b64(MARKER) }), 'r.example.com')).toEqual({ ok: true, username: 'robot', password: MARKER });
    expect(parseRegistrySecret(secret(undefined, { username: b64('robot'), password: b64(MARKER) }), 'r.example.com')).toEqual({ ok: true, username: 'robot', password: MARKER });
    expect(parseRegistrySecret(secret('Opaque', { token: b64(MARKER) }), 'r.example.com')).toEqual({ ok: true, username: 'token', password: MARKER });
    expect(parseRegistrySecret(secret('Opaque', { username: b64('robot'), token: b64(MARKER) }), 'r.example.com')).toEqual({ ok: true, username: 'robot', password: MARKER });
  });

  it('lets stringData win over data', () => {
    const object = secret('Opaque', { username: b64('robot'), password: b64('old') });
    object.stringData = { password: MARKER };
    expect(parseRegistrySecret(object, 'r.example.com')).toEqual({ ok: true, username: 'robot', password: MARKER });
  });

  it('reads .dockerconfigjson with username/password and with auth', () => {
    const plain = dockerSecret({ auths: { 'registry.example.com': { username: 'robot', password: MARKER } } });
    expect(parseRegistrySecret(plain, 'https://registry.example.com')).toEqual({ ok: true, username: 'robot', password: MARKER });
    const auth = dockerSecret({ auths: { 'https://registry.example.com/': { auth: b64(`robot:${MARKER}`) } } });
    expect(parseRegistrySecret(auth, 'registry.example.com')).toEqual({ ok: true, username: 'robot', password: MARKER });
    // A password may contain colons: only the first one separates.
    const colon = dockerSecret({ auths: { 'registry.example.com': { auth: b64('robot:a:b') } } });
    expect(parseRegistrySecret(colon, 'registry.example.com')).toEqual({ ok: true, username: 'robot', password: 'a:b' });
  });

  it('matches hosts with or without scheme, default port, ports and Docker Hub aliases', () => {
    const hub = dockerSecret({ auths: { 'https://index.docker.io/v1/': { auth: b64(`robot:${MARKER}`) } } });
    for (const host of ['https://registry-1.docker.io', 'docker.io', 'index.docker.io', 'registry.hub.docker.com']) {
      expect(parseRegistrySecret(hub, host)).toMatchObject({ ok: true, username: 'robot' });
    }
    const ported = dockerSecret({ auths: { '127.0.0.1:5000': { username: 'robot', password: MARKER } } });
    expect(parseRegistrySecret(ported, 'http://127.0.0.1:5000')).toMatchObject({ ok: true });
    expectInvalid(parseRegistrySecret(ported, 'http://127.0.0.1:5001'), 'InvalidSecret', /no entry for registry host "127\.0\.0\.1:5001".*"127\.0\.0\.1:5000"/);
    const https443 = dockerSecret({ auths: { 'registry.example.com:443': { username: 'robot', password: MARKER } } });
    expect(parseRegistrySecret(https443, 'https://Registry.Example.com')).toMatchObject({ ok: true });
    expect(normalizeRegistryHost('https://user:pw@Registry.Example.com:443/v2/')).toBe('registry.example.com');
  });

  it('prefers the exactly matching key over a spelling variant', () => {
    const both = dockerSecret({
      auths: { 'https://registry.example.com': { username: 'other', password: 'x' }, 'registry.example.com': { username: 'robot', password: MARKER } },
    });
    expect(parseRegistrySecret(both, 'registry.example.com')).toMatchObject({ ok: true, username: 'robot' });
  });

  it('reads the legacy kubernetes.io/dockercfg', () => {
    const legacy = dockerSecret({ 'registry.example.com': { auth: b64(`robot:${MARKER}`), email: 'x@example.com' } }, 'kubernetes.io/dockercfg', '.dockercfg');
    expect(parseRegistrySecret(legacy, 'registry.example.com')).toEqual({ ok: true, username: 'robot', password: MARKER });
  });

  it('reports a missing Secret as SecretNotFound', () => {
    expectInvalid(parseRegistrySecret(undefined, 'registry.example.com'), 'SecretNotFound', /does not exist/);
  });

  it('reports every malformed form as InvalidSecret without the values', () => {
    const host = 'registry.example.com';
    expectInvalid(parseRegistrySecret(secret('kubernetes.io/basic-auth', { username: b64('robot') }), host), 'InvalidSecret', /"username" and "password".*found keys: "username"/);
    expectInvalid(parseRegistrySecret(secret('kubernetes.io/basic-auth', { password: b64(MARKER) }), host), 'InvalidSecret', /non-empty "username"/);
    expectInvalid(parseRegistrySecret(secret('Opaque', {}), host), 'InvalidSecret', /found keys: \(none\)/);
    expectInvalid(parseRegistrySecret(secret('Opaque', { username: b64('robot'), password: `${MARKER}!!` }), host), 'InvalidSecret', /"password".*not valid base64/);
    expectInvalid(parseRegistrySecret(secret('Opaque', { username: b64('robot'), password: Buffer.from([0xff, 0xfe, 0x00]).toString('base64') }), host), 'InvalidSecret', /not valid base64/);
    expectInvalid(parseRegistrySecret(secret('kubernetes.io/dockerconfigjson', {}), host), 'InvalidSecret', /no "\.dockerconfigjson" key/);
    expectInvalid(parseRegistrySecret(dockerSecret(`{"auths":{"${host}":{"password":"${MARKER}"`), host), 'InvalidSecret', /not valid JSON/);
    expectInvalid(parseRegistrySecret(dockerSecret(`${MARKER}`), host), 'InvalidSecret', /not valid JSON/);
    expectInvalid(parseRegistrySecret(dockerSecret([MARKER]), host), 'InvalidSecret', /not a JSON object/);
    expectInvalid(parseRegistrySecret(dockerSecret({ registries: {} }), host), 'InvalidSecret', /no "auths" object/);
    expectInvalid(parseRegistrySecret(dockerSecret({ auths: { 'other.example.com': { auth: b64(`robot:${MARKER}`) } } }), host), 'InvalidSecret', /no entry for registry host "registry\.example\.com"; it has entries for: "other\.example\.com"/);
    expectInvalid(parseRegistrySecret(dockerSecret({ auths: { [host]: { auth: `${MARKER}!` } } }), host), 'InvalidSecret', /"auth" field .* not valid base64/);
    expectInvalid(parseRegistrySecret(dockerSecret({ auths: { [host]: { auth: b64(MARKER) } } }), host), 'InvalidSecret', /not base64 of "username:password"/);
    expectInvalid(parseRegistrySecret(dockerSecret({ auths: { [host]: { username: 'robot' } } }), host), 'InvalidSecret', /needs "auth" or non-empty "username" and "password"/);
    expectInvalid(parseRegistrySecret(dockerSecret({ auths: { [host]: { identitytoken: MARKER } } }), host), 'InvalidSecret', /identitytoken/);
    expectInvalid(parseRegistrySecret(dockerSecret({ auths: { [host]: MARKER } }), host), 'InvalidSecret', /not an object/);
    expectInvalid(parseRegistrySecret(secret('kubernetes.io/tls', { 'tls.key': b64(MARKER) }), host), 'InvalidSecret', /type "kubernetes\.io\/tls" is not supported/);
  });

  it('never crashes on wrong-typed Secrets', () => {
    const weird: unknown[] = [
      { apiVersion: 'v1', kind: 'Secret', metadata: {}, data: 'nope' },
      { apiVersion: 'v1', kind: 'Secret', metadata: {}, data: { password: 42 } },
      { apiVersion: 'v1', kind: 'Secret', metadata: {}, data: [MARKER] },
      { apiVersion: 'v1', kind: 'Secret', metadata: {}, type: 7 },
      { apiVersion: 'v1', kind: 'Secret', metadata: {}, stringData: { password: {} } },
      'a string',
      42,
    ];
    for (const value of weird) expectInvalid(parseRegistrySecret(value as Secret, 'registry.example.com'), 'InvalidSecret', /./);
  });
});

describe('dockerConfigJson', () => {
  it('builds a document the parser reads back', () => {
    const text = dockerConfigJson('registry.example.com:5000', 'robot', MARKER);
    const document = JSON.parse(text) as { auths: Record<string, { username: string; password: string; auth: string }> };
    expect(document).toEqual({ auths: { 'registry.example.com:5000': { username: 'robot', password: MARKER, auth: b64(`robot:${MARKER}`) } } });
    const parsed = parseRegistrySecret({ apiVersion: 'v1', kind: 'Secret', metadata: {}, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64(text) } }, 'https://registry.example.com:5000');
    expect(parsed).toEqual({ ok: true, username: 'robot', password: MARKER });
  });

  it('strips a scheme and uses the canonical key for Docker Hub', () => {
    expect(Object.keys((JSON.parse(dockerConfigJson('https://ghcr.io/', 'u', 'p')) as { auths: object }).auths)).toEqual(['ghcr.io']);
    expect(Object.keys((JSON.parse(dockerConfigJson('https://registry-1.docker.io', 'u', 'p')) as { auths: object }).auths)).toEqual(['https://index.docker.io/v1/']);
  });
});

/**
 * registryCustomize / registrySync as JSON in, JSON out: against the real distribution registry
 * for the probe outcomes, with an injected probe for the churn rules.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Secret } from '../../hooks/lib/objects.ts';
import type { ProbeOptions, ProbeResult } from '../../hooks/registry/probe.ts';
import { registryCustomize, registrySync, type RegistrySyncDeps, type RegistrySyncRequest, type RegistrySyncResponse } from '../../hooks/registry/sync.ts';
import { startRegistryServer, type RegistryServer } from '../support/registry-server.ts';
import { closedPort } from './http-fixtures.ts';

const NS = 'kapsa-system';
const MARKER = 'MARKER-sync-c0ffee42';
const USER = 'robot';
const SECRET_FORMS = [MARKER, Buffer.from(MARKER).toString('base64'), Buffer.from(`${USER}:${MARKER}`).toString('base64')];
const T0 = new Date('2025-01-01T10:00:00.000Z');
const T1 = new Date('2025-01-01T10:05:00.000Z');
const T2 = new Date('2025-01-01T10:10:00.000Z');
const T3 = new Date('2025-01-01T10:15:00.000Z');

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

function registry(spec: unknown, status?: unknown, generation = 1): Record<string, unknown> {
  const parent: Record<string, unknown> = {
    apiVersion: 'kapsa-project.io/v1alpha1',
    kind: 'Registry',
    metadata: { name: 'main', uid: 'u-1', generation },
  };
  if (spec !== undefined) parent.spec = spec;
  if (status !== undefined) parent.status = status;
  return parent;
}

function secret(name: string, type: string, data: Record<string, string>, namespace = NS): Secret {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, type, data };
}

function basicSecret(name = 'push', password = MARKER): Secret {
  const made = secret(name, 'kubernetes.io/basic-auth', { username: b64(USER), password: b64(password) });
  // The label Project hooks select a Registry's push Secret by.
  made.metadata.labels = { 'kapsa-project.io/registry': 'main' };
  return made;
}

function request(parent: unknown, secrets: Secret[] = []): RegistrySyncRequest {
  const group: Record<string, Secret> = {};
  for (const item of secrets) group[`${item.metadata.namespace}/${item.metadata.name}`] = item;
  return { controller: { metadata: { name: 'kapsa-registry' } }, parent, children: {}, related: { 'Secret.v1': group }, finalizing: false };
}

function deps(now: Date, probe?: RegistrySyncDeps['probe']): RegistrySyncDeps {
  const value: RegistrySyncDeps = { kapsaNamespace: NS, probeTimeoutMs: 5000, resyncSeconds: 300, now };
  if (probe !== undefined) value.probe = probe;
  return value;
}

/** The response, checked for every serialized form of the marker secret. */
function clean(response: RegistrySyncResponse): RegistrySyncResponse {
  const text = JSON.stringify(response);
  for (const form of SECRET_FORMS) expect(text).not.toContain(form);
  return response;
}

function ready(response: RegistrySyncResponse): { status: string; reason: string; message: string; lastTransitionTime: string } {
  const condition = response.status.conditions.find((item) => item.type === 'Ready');
  if (!condition) throw new Error('no Ready condition');
  return condition;
}

describe('registryCustomize', () => {
  it('names exactly the referenced Secret, defaulting to Kapsa\'s namespace', () => {
    expect(registryCustomize({ parent: registry({ endpoint: 'https://r.example.com', auth: { secretRef: { name: 'push' } } }) }, { kapsaNamespace: NS })).toEqual({
      relatedResources: [{ apiVersion: 'v1', resource: 'secrets', namespace: NS, names: ['push'] }],
    });
    expect(
      registryCustomize({ parent: registry({ endpoint: 'https://r.example.com', auth: { secretRef: { name: 'push', namespace: 'infra' } } }) }, { kapsaNamespace: NS }),
    ).toEqual({ relatedResources: [{ apiVersion: 'v1', resource: 'secrets', namespace: 'infra', names: ['push'] }] });
  });

  it('still names the Secret when another field is invalid', () => {
    expect(registryCustomize({ parent: registry({ type: 'nope', auth: { secretRef: { name: 'push' } } }) }, { kapsaNamespace: NS }).relatedResources).toHaveLength(1);
  });

  it('asks for nothing without a usable secretRef, and never throws', () => {
    for (const parent of [
      registry({ endpoint: 'https://r.example.com' }),
      registry(undefined),
      registry({ auth: 'x' }),
      registry({ auth: { secretRef: { name: 'Bad_Name' } } }),
      registry({ auth: { secretRef: { name: 'push', namespace: 42 } } }),
      null,
      'garbage',
    ]) {
      expect(registryCustomize({ parent }, { kapsaNamespace: NS })).toEqual({ relatedResources: [] });
    }
    expect(registryCustomize(null as never, { kapsaNamespace: NS })).toEqual({ relatedResources: [] });
  });
});

describe('registrySync against the distribution registry', () => {
  let server: RegistryServer;
  let tlsServer: RegistryServer;
  beforeAll(async () => {
    [server, tlsServer] = await Promise.all([
      startRegistryServer({ users: [{ username: USER, password: MARKER }] }),
      startRegistryServer({ users: [{ username: USER, password: MARKER }], tls: true }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([server?.stop(), tlsServer?.stop()]);
  });

  const spec = (endpoint: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    type: 'generic',
    endpoint,
    auth: { secretRef: { name: 'push' } },
    imagePullSecret: { name: 'kapsa-pull', generatePerNamespace: true },
    ...extra,
  });

  it('right credentials: verified, Ready=True/Verified', async () => {
    const response = clean(await registrySync(request(registry(spec(server.endpoint)), [basicSecret()]), deps(T0)));
    expect(response).toEqual({
      status: {
        observedGeneration: 1,
        verified: true,
        lastVerified: '2025-01-01T10:00:00Z',
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'Verified',
            message: `registry ${server.endpoint} accepted the credentials`,
            lastTransitionTime: '2025-01-01T10:00:00Z',
            observedGeneration: 1,
          },
          {
            type: 'SharedWithProjects',
            status: 'True',
            reason: 'Labelled',
            message: 'Projects find Secret kapsa-system/push by its label',
            lastTransitionTime: '2025-01-01T10:00:00Z',
            observedGeneration: 1,
          },
        ],
      },
      children: [],
      resyncAfterSeconds: 300,
    });
  });

  it('says when Projects cannot use the push Secret: no label, or outside Kapsa\'s namespace', async () => {
    const unlabelled = secret('push', 'kubernetes.io/basic-auth', { username: b64(USER), password: b64(MARKER) });
    const response = clean(await registrySync(request(registry(spec(server.endpoint)), [unlabelled]), deps(T0)));
    expect(ready(response)).toMatchObject({ status: 'True', reason: 'Verified' });
    expect(response.status.conditions[1]).toMatchObject({ type: 'SharedWithProjects', status: 'False', reason: 'SecretNotLabelled' });
    expect(response.status.conditions[1]?.message).toContain('kapsa-project.io/registry=main');
    const elsewhere = secret('push', 'kubernetes.io/basic-auth', { username: b64(USER), password: b64(MARKER) }, 'team-a');
    const outside = clean(await registrySync(request(registry(spec(server.endpoint, { auth: { secretRef: { name: 'push', namespace: 'team-a' } } })), [elsewhere]), deps(T0)));
    expect(outside.status.conditions[1]).toMatchObject({ status: 'False', reason: 'SecretOutsideKapsaNamespace' });
  });

  it('credentials from a .dockerconfigjson keyed by host', async () => {
    const config = JSON.stringify({ auths: { [server.host]: { auth: b64(`${USER}:${MARKER}`) } } });
    const docker = secret('push', 'kubernetes.io/dockerconfigjson', { '.dockerconfigjson': b64(config) });
    const response = clean(await registrySync(request(registry(spec(server.endpoint)), [docker]), deps(T0)));
    expect(ready(response)).toMatchObject({ status: 'True', reason: 'Verified' });
  });

  it('wrong credentials: Unauthorized', async () => {
    const response = clean(await registrySync(request(registry(spec(server.endpoint)), [basicSecret('push', `${MARKER}x`)]), deps(T0)));
    expect(response.status.verified).toBe(false);
    expect(ready(response)).toMatchObject({ status: 'False', reason: 'Unauthorized', message: `${server.endpoint}/v2/ rejected the credentials (HTTP 401)` });
  });

  it('closed port: Unreachable', async () => {
    const port = await closedPort();
    const response = clean(await registrySync(request(registry(spec(`http://127.0.0.1:${port}`)), [basicSecret()]), deps(T0)));
    expect(ready(response)).toMatchObject({ status: 'False', reason: 'Unreachable', message: `GET http://127.0.0.1:${port}/v2/: connection refused (ECONNREFUSED)` });
  });

  it('self-signed certificate without the CA: TLSError; with spec.caBundle: Verified', async () => {
    const untrusted = clean(await registrySync(request(registry(spec(tlsServer.endpoint)), [basicSecret()]), deps(T0)));
    expect(ready(untrusted)).toMatchObject({ status: 'False', reason: 'TLSError' });
    const pem = tlsServer.caCert ?? '';
    const withSecret = clean(await registrySync(request(registry(spec(tlsServer.endpoint, { caBundle: pem })), [basicSecret()]), deps(T0)));
    expect(ready(withSecret)).toMatchObject({ status: 'True', reason: 'Verified' });
    const base64Pem = clean(await registrySync(request(registry(spec(tlsServer.endpoint, { caBundle: b64(pem) })), [basicSecret()]), deps(T0)));
    expect(ready(base64Pem)).toMatchObject({ status: 'True', reason: 'Verified' });
    const insecure = clean(await registrySync(request(registry(spec(tlsServer.endpoint, { insecureSkipTLSVerify: true })), [basicSecret()]), deps(T0)));
    expect(ready(insecure)).toMatchObject({ status: 'True', reason: 'Verified' });
  });

  it('real probe results do not churn: two syncs, byte-identical status', async () => {
    const first = clean(await registrySync(request(registry(spec(server.endpoint)), [basicSecret()]), deps(T0)));
    const second = clean(await registrySync(request(registry(spec(server.endpoint), first.status), [basicSecret()]), deps(T1)));
    expect(JSON.stringify(second.status)).toBe(JSON.stringify(first.status));
    const wrong = clean(await registrySync(request(registry(spec(server.endpoint), second.status), [basicSecret('push', 'nope-nope')]), deps(T2)));
    expect(wrong.status.lastVerified).toBe('2025-01-01T10:10:00Z');
    expect(ready(wrong).lastTransitionTime).toBe('2025-01-01T10:10:00Z');
  });
});

describe('registrySync: Secret problems never reach the probe and never crash', () => {
  const neverProbe = async (): Promise<ProbeResult> => {
    throw new Error('the probe must not run');
  };
  const spec = { endpoint: 'https://registry.example.com', auth: { secretRef: { name: 'push' } } };
  const host = 'registry.example.com';

  const cases: Array<{ name: string; secrets: Secret[]; reason: string; message: RegExp }> = [
    { name: 'missing Secret', secrets: [], reason: 'SecretNotFound', message: /^Secret kapsa-system\/push \(spec\.auth\.secretRef\) not found$/ },
    { name: 'Secret in another namespace', secrets: [basicSecret('push')].map((item) => ({ ...item, metadata: { ...item.metadata, namespace: 'other' } })), reason: 'SecretNotFound', message: /not found/ },
    { name: 'missing password key', secrets: [secret('push', 'kubernetes.io/basic-auth', { username: b64(USER) })], reason: 'InvalidSecret', message: /^Secret kapsa-system\/push: .*"password"/ },
    { name: 'missing username key', secrets: [secret('push', 'kubernetes.io/basic-auth', { password: b64(MARKER) })], reason: 'InvalidSecret', message: /"username"/ },
    { name: 'bad base64', secrets: [secret('push', 'kubernetes.io/basic-auth', { username: b64(USER), password: `${MARKER}%%` })], reason: 'InvalidSecret', message: /not valid base64/ },
    { name: 'malformed .dockerconfigjson', secrets: [secret('push', 'kubernetes.io/dockerconfigjson', { '.dockerconfigjson': b64(`{"auths":{"${host}":{"password":"${MARKER}"`) })], reason: 'InvalidSecret', message: /not valid JSON/ },
    { name: '.dockerconfigjson not base64', secrets: [secret('push', 'kubernetes.io/dockerconfigjson', { '.dockerconfigjson': `{"auths":{"${host}":{"password":"${MARKER}"}}}` })], reason: 'InvalidSecret', message: /not valid base64/ },
    { name: 'no entry for the host', secrets: [secret('push', 'kubernetes.io/dockerconfigjson', { '.dockerconfigjson': b64(JSON.stringify({ auths: { 'ghcr.io': { auth: b64(`${USER}:${MARKER}`) } } })) })], reason: 'InvalidSecret', message: /no entry for registry host "registry\.example\.com"/ },
    { name: 'auth that is not user:pass', secrets: [secret('push', 'kubernetes.io/dockerconfigjson', { '.dockerconfigjson': b64(JSON.stringify({ auths: { [host]: { auth: b64(MARKER) } } })) })], reason: 'InvalidSecret', message: /username:password/ },
    { name: 'unsupported type', secrets: [secret('push', 'kubernetes.io/ssh-auth', { 'ssh-privatekey': b64(MARKER) })], reason: 'InvalidSecret', message: /not supported/ },
    { name: 'wrong-typed data', secrets: [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'push', namespace: NS }, data: MARKER as never }], reason: 'InvalidSecret', message: /not a map/ },
  ];

  for (const item of cases) {
    it(`${item.name} → ${item.reason}`, async () => {
      const response = clean(await registrySync(request(registry(spec), item.secrets), deps(T0, neverProbe)));
      expect(response.status.verified).toBe(false);
      expect(ready(response)).toMatchObject({ status: 'False', reason: item.reason });
      expect(ready(response).message).toMatch(item.message);
    });
  }
});

describe('registrySync: bad parents become InvalidSpec conditions', () => {
  const probe = async (): Promise<ProbeResult> => ({ ok: true });
  const bad: Array<[string, unknown, RegExp]> = [
    ['no spec', registry(undefined), /spec is missing/],
    ['spec not an object', registry('x'), /spec must be an object/],
    ['unknown type', registry({ type: 'quay', endpoint: 'https://r.example.com' }), /spec\.type: must be one of: generic, dockerhub/],
    ['no endpoint', registry({ type: 'generic' }), /spec\.endpoint: Expected required property/],
    ['endpoint not a string', registry({ endpoint: 42 }), /spec\.endpoint: Expected string/],
    ['endpoint not a URL', registry({ endpoint: 'https://exa mple.com' }), /not a valid URL/],
    ['endpoint with credentials', registry({ endpoint: `https://${USER}:${MARKER}@r.example.com` }), /must not contain credentials/],
    ['endpoint ftp', registry({ endpoint: 'ftp://r.example.com' }), /http:\/\/ or https:\/\//],
    ['no auth (the CRD requires push credentials)', registry({ endpoint: 'https://r.example.com' }), /spec\.auth: Expected required property/],
    ['auth wrong type', registry({ endpoint: 'https://r.example.com', auth: [] }), /spec\.auth: Expected object/],
    ['secretRef missing', registry({ endpoint: 'https://r.example.com', auth: {} }), /spec\.auth\.secretRef: Expected required property/],
    ['secretRef name wrong', registry({ endpoint: 'https://r.example.com', auth: { secretRef: { name: 7 } } }), /secretRef\.name/],
    ['insecure not boolean', registry({ endpoint: 'https://r.example.com', insecureSkipTLSVerify: 'yes' }), /spec\.insecureSkipTLSVerify: Expected boolean/],
    ['bad caBundle', registry({ endpoint: 'https://r.example.com', caBundle: `-----BEGIN CERTIFICATE-----\n${MARKER}\n-----END CERTIFICATE-----` }), /caBundle must hold PEM/],
    ['imagePullSecret wrong', registry({ endpoint: 'https://r.example.com', imagePullSecret: { name: 'p', generatePerNamespace: 'yes' } }), /spec\.imagePullSecret\.generatePerNamespace: Expected boolean/],
    ['parent missing', undefined, /Registry object is missing/],
    ['parent garbage', [1, 2], /Registry object is missing/],
  ];
  for (const [name, parent, message] of bad) {
    it(name, async () => {
      const response = clean(await registrySync(request(parent), deps(T0, probe)));
      expect(response.status.verified).toBe(false);
      expect(ready(response)).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
      expect(ready(response).message).toMatch(message);
    });
  }

  it('lists several problems at once and survives a garbage request and status', async () => {
    const response = clean(await registrySync(request(registry({ type: 1, endpoint: false, insecureSkipTLSVerify: 1 }, { conditions: 'x', lastVerified: 5 })), deps(T0, probe)));
    expect(ready(response).message).toBe(
      'invalid spec: spec.auth: Expected required property; spec.type: must be one of: generic, dockerhub, ghcr, gcr, ecr, acr, harbor; spec.endpoint: Expected string; spec.insecureSkipTLSVerify: Expected boolean',
    );
    const empty = clean(await registrySync({} as RegistrySyncRequest, deps(T0, probe)));
    expect(ready(empty).reason).toBe('InvalidSpec');
    expect(empty.status.observedGeneration).toBeUndefined();
  });

  it('trusts auth.docker.io as the token realm of a dockerhub Registry', async () => {
    const seen: ProbeOptions[] = [];
    const recording = async (options: ProbeOptions): Promise<ProbeResult> => {
      seen.push(options);
      return { ok: true };
    };
    const hub = secret('push', 'kubernetes.io/dockerconfigjson', { '.dockerconfigjson': b64(JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: b64(`${USER}:${MARKER}`) } } })) });
    const response = clean(await registrySync(request(registry({ type: 'dockerhub', endpoint: 'https://registry-1.docker.io', auth: { secretRef: { name: 'push' } } }), [hub]), deps(T0, recording)));
    expect(ready(response).reason).toBe('Verified');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ endpoint: 'https://registry-1.docker.io', credentials: { username: USER, password: MARKER }, trustedHosts: ['auth.docker.io'], timeoutMs: 5000, insecureSkipTLSVerify: false });
  });
});

describe('registrySync: no churn, and secrets never leak from a misbehaving probe', () => {
  const spec = { endpoint: 'https://registry.example.com', auth: { secretRef: { name: 'push' } } };
  const fixed = (result: ProbeResult) => async (): Promise<ProbeResult> => result;
  const unauthorized: ProbeResult = { ok: false, reason: 'Unauthorized', message: 'https://registry.example.com/v2/ rejected the credentials (HTTP 401)' };
  const unreachable: ProbeResult = { ok: false, reason: 'Unreachable', message: 'GET https://registry.example.com/v2/: connection refused (ECONNREFUSED)' };

  it('identical results: byte-identical status; a change moves lastVerified and lastTransitionTime', async () => {
    const first = await registrySync(request(registry(spec), [basicSecret()]), deps(T0, fixed({ ok: true })));
    const second = await registrySync(request(registry(spec, first.status), [basicSecret()]), deps(T1, fixed({ ok: true })));
    expect(JSON.stringify(second.status)).toBe(JSON.stringify(first.status));
    expect(second.status.lastVerified).toBe('2025-01-01T10:00:00Z');

    const failed = await registrySync(request(registry(spec, second.status), [basicSecret()]), deps(T2, fixed(unauthorized)));
    expect(failed.status.lastVerified).toBe('2025-01-01T10:10:00Z');
    expect(ready(failed)).toMatchObject({ status: 'False', reason: 'Unauthorized', lastTransitionTime: '2025-01-01T10:10:00Z' });

    // Still failing, differently: the result changed (lastVerified moves), the status did not.
    const otherFailure = await registrySync(request(registry(spec, failed.status), [basicSecret()]), deps(T3, fixed(unreachable)));
    expect(otherFailure.status.lastVerified).toBe('2025-01-01T10:15:00Z');
    expect(ready(otherFailure)).toMatchObject({ reason: 'Unreachable', lastTransitionTime: '2025-01-01T10:10:00Z' });

    const again = await registrySync(request(registry(spec, otherFailure.status), [basicSecret()]), deps(new Date('2025-01-02T00:00:00Z'), fixed(unreachable)));
    expect(JSON.stringify(again.status)).toBe(JSON.stringify(otherFailure.status));
  });

  it('a new generation updates observedGeneration only', async () => {
    const first = await registrySync(request(registry(spec, undefined, 1), [basicSecret()]), deps(T0, fixed({ ok: true })));
    const bumped = await registrySync(request(registry(spec, first.status, 2), [basicSecret()]), deps(T1, fixed({ ok: true })));
    expect(bumped.status).toEqual({
      ...first.status,
      observedGeneration: 2,
      conditions: first.status.conditions.map((condition) => ({ ...condition, observedGeneration: 2 })),
    });
  });

  it('secret problems do not churn either', async () => {
    const first = await registrySync(request(registry(spec)), deps(T0));
    const second = await registrySync(request(registry(spec, first.status)), deps(T1));
    expect(JSON.stringify(second.status)).toBe(JSON.stringify(first.status));
  });

  it('redacts the password from a probe that echoes it or throws with it', async () => {
    const echoing = fixed({ ok: false, reason: 'Unauthorized', message: `bad password ${MARKER} / ${Buffer.from(`${USER}:${MARKER}`).toString('base64')}` });
    const echoed = clean(await registrySync(request(registry(spec), [basicSecret()]), deps(T0, echoing)));
    expect(ready(echoed).message).toContain('[REDACTED]');
    const throwing = async (): Promise<ProbeResult> => {
      throw new Error(`boom with ${MARKER}`);
    };
    const thrown = clean(await registrySync(request(registry(spec), [basicSecret()]), deps(T0, throwing)));
    expect(ready(thrown)).toMatchObject({ reason: 'Unreachable', message: 'probe failed: boom with [REDACTED]' });
    const nonsense = clean(await registrySync(request(registry(spec), [basicSecret()]), deps(T0, (async () => 'what') as never)));
    expect(ready(nonsense)).toMatchObject({ reason: 'Unreachable', message: 'probe returned no result' });
    const oddReason = clean(await registrySync(request(registry(spec), [basicSecret()]), deps(T0, fixed({ ok: false, reason: 'Weird' as never, message: '' }))));
    expect(ready(oddReason)).toMatchObject({ reason: 'Unreachable', message: 'probe failed: Unreachable' });
  });
});

/**
 * Where the registry probe sends credentials: the endpoint's exact origin, and a token realm only
 * under the realm rule (https; the registry's host or a trusted realm host; an address of the same
 * kind as the endpoint's unless public). Every case runs real listeners and asserts on what each
 * server saw, not on what the probe says it did.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addressKind, originOf, probeRegistry, type ProbeResult } from '../../hooks/registry/probe.ts';

const MARKER = 'MARKER-origins-51c2e0';
const GOOD = { username: 'robot', password: MARKER };
const BASIC = `Basic ${Buffer.from(`robot:${MARKER}`).toString('base64')}`;
const TOKEN = 'TOKEN-origins-7f3a';
const TIMEOUT = 5000;

interface Seen {
  path: string;
  authorization: string | undefined;
}

interface Listener {
  port: number;
  /** scheme://host:port */
  url: string;
  seen: Seen[];
  /** PEM of the self-signed certificate (https listeners). */
  cert?: string;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(closers.map((close) => close()));
});

async function listen(server: http.Server, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

function recording(seen: Seen[], handler: Handler): Handler {
  return (req, res) => {
    seen.push({ path: req.url ?? '/', authorization: req.headers.authorization });
    handler(req, res);
  };
}

async function httpListener(handler: Handler, host = '127.0.0.1'): Promise<Listener> {
  const seen: Seen[] = [];
  const port = await listen(http.createServer(recording(seen, handler)), host);
  return { port, url: `http://${host}:${port}`, seen };
}

/** https on 127.0.0.1 with a fresh self-signed certificate valid for 127.0.0.1 and localhost. */
async function httpsListener(handler: Handler): Promise<Listener> {
  const dir = await mkdtemp(join(tmpdir(), 'kapsa-origins-'));
  try {
    const result = spawnSync(
      '/usr/bin/openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
      { encoding: 'utf8' },
    );
    if (result.status !== 0) throw new Error(`openssl failed (install the Debian package "openssl"): ${result.stderr ?? result.error}`);
    const cert = await readFile(join(dir, 'cert.pem'), 'utf8');
    const key = await readFile(join(dir, 'key.pem'), 'utf8');
    const seen: Seen[] = [];
    const port = await listen(https.createServer({ cert, key }, recording(seen, handler)), '127.0.0.1');
    return { port, url: `https://127.0.0.1:${port}`, seen, cert };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A token realm that issues TOKEN for the right Basic credentials. */
const tokenRealm: Handler = (req, res) => {
  if (req.headers.authorization !== BASIC) {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="token"' });
    res.end();
    return;
  }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ token: TOKEN }));
};

/** A registry that accepts TOKEN and otherwise names `realm` in a Bearer challenge. */
function bearerRegistry(realm: () => string): Handler {
  return (req, res) => {
    if (req.headers.authorization === `Bearer ${TOKEN}`) {
      res.end('{}');
      return;
    }
    res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm()}",service="fixture"` });
    res.end();
  };
}

function failure(result: ProbeResult): { reason: string; message: string } {
  const text = JSON.stringify(result);
  expect(text).not.toContain(MARKER);
  expect(text).not.toContain(BASIC.slice('Basic '.length));
  if (result.ok) throw new Error('expected the probe to fail');
  return result;
}

function credentialsSeenBy(listener: Listener): Seen[] {
  return listener.seen.filter((request) => request.authorization !== undefined);
}

/** A non-loopback IPv4 address of this machine, for an endpoint that is not on loopback. */
function externalAddress(): string {
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.family === 'IPv4' && !entry.internal) return entry.address;
    }
  }
  throw new Error('this machine has no non-loopback IPv4 address; the address-kind tests need one (any interface)');
}

describe('credentials stay at the endpoint origin (scheme, host and port)', () => {
  it('a token realm on another port of the same host over plain http gets no credentials', async () => {
    const realm = await httpListener(tokenRealm);
    const registry = await httpListener(bearerRegistry(() => `${realm.url}/token`));
    const result = await probeRegistry({ endpoint: registry.url, credentials: GOOD, timeoutMs: TIMEOUT });
    // What the listener on the other port saw, first: nothing at all.
    expect(realm.seen).toEqual([]);
    expect(credentialsSeenBy(registry)).toEqual([]);
    const failed = failure(result);
    expect(failed.reason).toBe('Unauthorized');
    expect(failed.message).toBe(
      `the token realm ${realm.url}/token is plain http and not the registry's origin ${registry.url} (a realm at another origin gets the credentials only over https); the credentials were not sent to it`,
    );
  });

  it('a redirect to another port of the same host gets no credentials', async () => {
    const other = await httpListener((_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="other"' });
      res.end();
    });
    const registry = await httpListener((_req, res) => {
      res.writeHead(307, { location: `${other.url}/v2/` });
      res.end();
    });
    const result = failure(await probeRegistry({ endpoint: registry.url, credentials: GOOD, timeoutMs: TIMEOUT }));
    expect(other.seen.length).toBeGreaterThan(0);
    expect(credentialsSeenBy(other)).toEqual([]);
    expect(credentialsSeenBy(registry).map((request) => request.authorization)).toEqual([BASIC]);
    expect(result.reason).toBe('Unauthorized');
    expect(result.message).toBe(
      `${other.url}/v2/ rejected the credentials (HTTP 401); the credentials were not sent to ${other.url}, which is not the registry's origin ${registry.url}`,
    );
  });

  it('the Bearer token does not follow a redirect to another port either', async () => {
    const other = await httpListener((_req, res) => {
      res.writeHead(401);
      res.end();
    });
    const registry = await httpListener((req, res) => {
      if (req.url?.startsWith('/token')) return tokenRealm(req, res);
      if (req.headers.authorization === `Bearer ${TOKEN}`) {
        res.writeHead(307, { location: `${other.url}/v2/` });
        res.end();
        return;
      }
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="/token",service="fixture"' });
      res.end();
    });
    const result = failure(await probeRegistry({ endpoint: registry.url, credentials: GOOD, timeoutMs: TIMEOUT }));
    expect(result.reason).toBe('Unauthorized');
    expect(other.seen.length).toBeGreaterThan(0);
    expect(credentialsSeenBy(other)).toEqual([]);
    // The realm at the registry's own (http) origin did get the Basic credentials.
    expect(registry.seen.find((request) => request.path.startsWith('/token'))?.authorization).toBe(BASIC);
  });

  it('normalises default ports: https 443, http 80', () => {
    expect(originOf(new URL('https://Registry.Example.com'))).toBe('https://registry.example.com:443');
    expect(originOf(new URL('https://registry.example.com:443/v2/'))).toBe('https://registry.example.com:443');
    expect(originOf(new URL('http://registry.example.com:80'))).toBe('http://registry.example.com:80');
    expect(originOf(new URL('http://registry.example.com:443'))).not.toBe(originOf(new URL('https://registry.example.com')));
    expect(originOf(new URL('https://registry.example.com:5000'))).not.toBe(originOf(new URL('https://registry.example.com')));
  });
});

describe('a token realm at another origin: https, a known host, a fitting address', () => {
  it('an https realm on another port of the registry host gets the credentials, the registry only the token', async () => {
    const realm = await httpsListener(tokenRealm);
    const registry = await httpListener(bearerRegistry(() => `${realm.url}/token`));
    const result = await probeRegistry({ endpoint: registry.url, credentials: GOOD, caBundle: realm.cert, timeoutMs: TIMEOUT });
    expect(result).toEqual({ ok: true });
    expect(realm.seen.map((request) => request.authorization)).toEqual([BASIC]);
    expect(realm.seen[0]?.path).toBe('/token?service=fixture');
    expect(credentialsSeenBy(registry).map((request) => request.authorization)).toEqual([`Bearer ${TOKEN}`]);
  });

  it('an https realm on a trusted host gets the credentials', async () => {
    const realm = await httpsListener(tokenRealm);
    const registry = await httpListener(bearerRegistry(() => `https://localhost:${realm.port}/token`));
    const result = await probeRegistry({ endpoint: registry.url, credentials: GOOD, caBundle: realm.cert, trustedHosts: ['localhost'], timeoutMs: TIMEOUT });
    expect(result).toEqual({ ok: true });
    expect(realm.seen.map((request) => request.authorization)).toEqual([BASIC]);
  });

  it('an https realm on another, untrusted host gets nothing', async () => {
    const realm = await httpsListener(tokenRealm);
    const registry = await httpListener(bearerRegistry(() => `https://localhost:${realm.port}/token`));
    const result = failure(await probeRegistry({ endpoint: registry.url, credentials: GOOD, caBundle: realm.cert, timeoutMs: TIMEOUT }));
    expect(result.reason).toBe('Unauthorized');
    expect(result.message).toBe(
      `the token realm https://localhost:${realm.port}/token is not on the registry host 127.0.0.1 nor a trusted realm host; the credentials were not sent to it`,
    );
    expect(realm.seen).toEqual([]);
  });

  it('a plain-http realm on a trusted host gets nothing', async () => {
    const realm = await httpListener(tokenRealm);
    const registry = await httpListener(bearerRegistry(() => `http://localhost:${realm.port}/token`));
    const result = failure(await probeRegistry({ endpoint: registry.url, credentials: GOOD, trustedHosts: ['localhost'], timeoutMs: TIMEOUT }));
    expect(result.reason).toBe('Unauthorized');
    expect(result.message).toMatch(/is plain http and not the registry's origin/);
    expect(realm.seen).toEqual([]);
  });

  it('a loopback realm gets nothing when the endpoint is not on loopback (by name and by address)', async () => {
    const external = externalAddress();
    expect(addressKind(external)).not.toBe('loopback');
    const realm = await httpsListener(tokenRealm);
    for (const [host, trusted] of [
      ['localhost', 'localhost'],
      ['127.0.0.1', '127.0.0.1'],
    ] as const) {
      const registry = await httpListener(bearerRegistry(() => `https://${host}:${realm.port}/token`), external);
      const result = failure(await probeRegistry({ endpoint: registry.url, credentials: GOOD, caBundle: realm.cert, trustedHosts: [trusted], timeoutMs: TIMEOUT }));
      expect(result.reason).toBe('Unauthorized');
      expect(result.message).toMatch(
        new RegExp(`^the token realm https://${host.replace(/\./g, '\\.')}:${realm.port}/token is at loopback address (127\\.0\\.0\\.1|::1) while the registry's endpoint is at a ${addressKind(external)} address; the credentials were not sent to it$`),
      );
    }
    expect(realm.seen).toEqual([]);
  });

  it('classifies addresses', () => {
    for (const address of ['127.0.0.1', '127.8.0.1', '0.0.0.0', '::1', '::', '::ffff:127.0.0.1']) expect(addressKind(address)).toBe('loopback');
    for (const address of ['10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1', 'fd12::1', '::ffff:10.0.0.1']) expect(addressKind(address)).toBe('private');
    for (const address of ['169.254.169.254', 'fe80::1']) expect(addressKind(address)).toBe('link-local');
    for (const address of ['8.8.8.8', '172.32.0.1', '192.0.2.2', '2001:db8::1', '100.128.0.1']) expect(addressKind(address)).toBe('public');
  });
});

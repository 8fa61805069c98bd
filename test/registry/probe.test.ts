/**
 * probeRegistry against the real distribution registry (Basic via htpasswd, Bearer via token
 * auth, TLS) and against small fixtures for redirects, foreign realms and silence.
 */
import * as http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLinkLocal, parseChallenge, probeRegistry, type ProbeResult } from '../../hooks/registry/probe.ts';
import { startRegistryServer, type RegistryServer } from '../support/registry-server.ts';
import { closedPort, startFixture, startTlsFixture, type Fixture } from './http-fixtures.ts';

const MARKER = 'MARKER-probe-9d41b7';
const GOOD = { username: 'robot', password: MARKER };
const WRONG = { username: 'robot', password: `${MARKER}-wrong` };
const TIMEOUT = 5000;

function expectNoSecret(result: ProbeResult): void {
  const text = JSON.stringify(result);
  for (const form of [MARKER, Buffer.from(`robot:${MARKER}`).toString('base64'), Buffer.from(`robot:${MARKER}-wrong`).toString('base64')]) {
    expect(text).not.toContain(form);
  }
}

function failure(result: ProbeResult): { reason: string; message: string } {
  expectNoSecret(result);
  if (result.ok) throw new Error('expected the probe to fail');
  return result;
}

const fixtures: Fixture[] = [];
async function fixture(handler: Parameters<typeof startFixture>[0]): Promise<Fixture> {
  const started = await startFixture(handler);
  fixtures.push(started);
  return started;
}
afterAll(async () => {
  await Promise.all(fixtures.map((item) => item.close()));
});

function basicChallenge(res: http.ServerResponse): void {
  res.writeHead(401, { 'www-authenticate': 'Basic realm="fixture"' });
  res.end();
}

describe('probeRegistry against the distribution registry with htpasswd (Basic)', () => {
  let registry: RegistryServer;
  beforeAll(async () => {
    registry = await startRegistryServer({ users: [GOOD] });
  });
  afterAll(async () => registry?.stop());

  it('accepts the right credentials', async () => {
    expect(await probeRegistry({ endpoint: registry.endpoint, credentials: GOOD, timeoutMs: TIMEOUT })).toEqual({ ok: true });
  });

  it('ignores a path on the endpoint (the API lives at /v2/)', async () => {
    expect(await probeRegistry({ endpoint: `${registry.endpoint}/some/project`, credentials: GOOD, timeoutMs: TIMEOUT })).toEqual({ ok: true });
  });

  it('reports wrong credentials as Unauthorized', async () => {
    const result = failure(await probeRegistry({ endpoint: registry.endpoint, credentials: WRONG, timeoutMs: TIMEOUT }));
    expect(result.reason).toBe('Unauthorized');
    expect(result.message).toBe(`${registry.endpoint}/v2/ rejected the credentials (HTTP 401)`);
  });

  it('reports missing credentials as Unauthorized', async () => {
    const result = failure(await probeRegistry({ endpoint: registry.endpoint, timeoutMs: TIMEOUT }));
    expect(result.reason).toBe('Unauthorized');
    expect(result.message).toMatch(/no credentials are configured/);
  });
});

describe('probeRegistry against the distribution registry with token auth (Bearer, https realm on another port)', () => {
  let registry: RegistryServer;
  beforeAll(async () => {
    registry = await startRegistryServer({ auth: 'token', tokenTls: true, users: [GOOD] });
  });
  afterAll(async () => registry?.stop());

  it('the registry really validates tokens (a forged one is refused)', async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      http
        .get(`${registry.endpoint}/v2/`, { headers: { authorization: 'Bearer forged.token.value' }, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode);
        })
        .on('error', reject);
    });
    expect(status).toBe(401);
  });

  it('exchanges the right credentials for a token and is accepted', async () => {
    const before = registry.tokenRequests.length;
    expect(await probeRegistry({ endpoint: registry.endpoint, credentials: GOOD, caBundle: registry.tokenCaCert, timeoutMs: TIMEOUT })).toEqual({ ok: true });
    expect(registry.tokenRequests.slice(before)).toEqual([{ path: '/token', hadAuthorization: true, granted: true }]);
  });

  it('reports wrong credentials (refused by the realm) as Unauthorized', async () => {
    const result = failure(await probeRegistry({ endpoint: registry.endpoint, credentials: WRONG, caBundle: registry.tokenCaCert, timeoutMs: TIMEOUT }));
    expect(result.reason).toBe('Unauthorized');
    expect(result.message).toBe(`the token service ${registry.tokenRealm} rejected the credentials (HTTP 401)`);
  });
});

describe('probeRegistry against the distribution registry whose token realm is plain http on another port', () => {
  let registry: RegistryServer;
  beforeAll(async () => {
    registry = await startRegistryServer({ auth: 'token', users: [GOOD] });
  });
  afterAll(async () => registry?.stop());

  it('sends the realm no credentials and says why', async () => {
    const result = failure(await probeRegistry({ endpoint: registry.endpoint, credentials: GOOD, timeoutMs: TIMEOUT }));
    expect(result.reason).toBe('Unauthorized');
    expect(result.message).toBe(
      `the token realm ${registry.tokenRealm} is plain http and not the registry's origin ${registry.endpoint} (a realm at another origin gets the credentials only over https); the credentials were not sent to it`,
    );
    expect(registry.tokenRequests).toEqual([]);
  });
});

describe('probeRegistry over TLS (distribution registry with a self-signed certificate)', () => {
  let registry: RegistryServer;
  beforeAll(async () => {
    registry = await startRegistryServer({ tls: true, users: [GOOD] });
  });
  afterAll(async () => registry?.stop());

  it('reports an untrusted self-signed certificate as TLSError', async () => {
    const result = failure(await probeRegistry({ endpoint: registry.endpoint, credentials: GOOD, timeoutMs: TIMEOUT }));
    expect(result.reason).toBe('TLSError');
    expect(result.message).toMatch(/self-signed certificate/);
    expect(result.message).toMatch(/spec\.caBundle/);
    expect(result.message).not.toMatch(/--use-system-ca/);
  });

  it('trusts the certificate given as caBundle', async () => {
    expect(await probeRegistry({ endpoint: registry.endpoint, credentials: GOOD, caBundle: registry.caCert, timeoutMs: TIMEOUT })).toEqual({ ok: true });
  });

  it('reports a host name mismatch as TLSError even with the CA trusted', async () => {
    const result = failure(
      await probeRegistry({ endpoint: `https://localhost:${registry.port}`, credentials: GOOD, caBundle: registry.caCert, timeoutMs: TIMEOUT }),
    );
    expect(result.reason).toBe('TLSError');
    expect(result.message).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID|does not match/);
  });

  it('skips verification only when told to', async () => {
    expect(await probeRegistry({ endpoint: registry.endpoint, credentials: GOOD, insecureSkipTLSVerify: true, timeoutMs: TIMEOUT })).toEqual({ ok: true });
  });

  it('speaking TLS to a plain HTTP port is a TLSError', async () => {
    const plain = await fixture((_req, res) => res.end());
    const result = failure(await probeRegistry({ endpoint: `https://127.0.0.1:${plain.port}`, timeoutMs: TIMEOUT }));
    expect(result.reason).toBe('TLSError');
  });
});

describe('probeRegistry: unreachable and odd endpoints', () => {
  it('reports a closed port as Unreachable', async () => {
    const port = await closedPort();
    const result = failure(await probeRegistry({ endpoint: `http://127.0.0.1:${port}`, credentials: GOOD, timeoutMs: TIMEOUT }));
    expect(result.reason).toBe('Unreachable');
    expect(result.message).toBe(`GET http://127.0.0.1:${port}/v2/: connection refused (ECONNREFUSED)`);
  });

  it('gives up at the deadline when the server never answers', async () => {
    const silent = await fixture(() => undefined);
    const started = Date.now();
    const result = failure(await probeRegistry({ endpoint: silent.url, credentials: GOOD, timeoutMs: 300 }));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(result).toEqual({ ok: false, reason: 'Unreachable', message: `${silent.url}/v2/ did not answer within 300 ms` });
  });

  it('reports a server that is not a registry as Unreachable', async () => {
    const web = await fixture((_req, res) => {
      res.writeHead(404);
      res.end('not here');
    });
    const result = failure(await probeRegistry({ endpoint: web.url, timeoutMs: TIMEOUT }));
    expect(result.reason).toBe('Unreachable');
    expect(result.message).toMatch(/HTTP 404; is this the base URL of an OCI\/Docker registry/);
  });

  it('refuses endpoints with credentials in the URL without echoing them', async () => {
    const result = failure(await probeRegistry({ endpoint: `https://robot:${MARKER}@registry.example.com`, timeoutMs: TIMEOUT }));
    expect(result.message).toMatch(/must not contain credentials/);
  });
});

describe('probeRegistry: redirects and token realms', () => {
  it('keeps the credentials on a same-host redirect', async () => {
    const server = await fixture((req, res) => {
      if (req.url === '/v2/') {
        res.writeHead(307, { location: '/mirror/v2/' });
        res.end();
      } else if (req.headers.authorization === `Basic ${Buffer.from(`robot:${MARKER}`).toString('base64')}`) {
        res.end('{}');
      } else basicChallenge(res);
    });
    expect(await probeRegistry({ endpoint: server.url, credentials: GOOD, timeoutMs: TIMEOUT })).toEqual({ ok: true });
  });

  it('does not send the credentials to another host it is redirected to', async () => {
    const other = await fixture((_req, res) => basicChallenge(res));
    const origin = await fixture((_req, res) => {
      res.writeHead(302, { location: `${other.otherHostUrl}/v2/` });
      res.end();
    });
    const result = failure(await probeRegistry({ endpoint: origin.url, credentials: GOOD, timeoutMs: TIMEOUT }));
    expect(result.reason).toBe('Unauthorized');
    expect(result.message).toBe(
      `${other.otherHostUrl}/v2/ rejected the credentials (HTTP 401); the credentials were not sent to ${other.otherHostUrl}, which is not the registry's origin ${origin.url}`,
    );
    expect(other.requests.length).toBeGreaterThan(0);
    expect(other.requests.every((request) => request.authorization === undefined)).toBe(true);
    // The registry's own host did get them on the retry.
    expect(origin.requests.some((request) => request.authorization !== undefined)).toBe(true);
  });

  it('does not send the credentials over plain http after an https endpoint redirects there', async () => {
    const plain = await fixture((_req, res) => basicChallenge(res));
    const secure = await startTlsFixture((_req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${plain.port}/v2/` });
      res.end();
    });
    try {
      const result = failure(await probeRegistry({ endpoint: secure.url, credentials: GOOD, caBundle: secure.cert, timeoutMs: TIMEOUT }));
      expect(result.reason).toBe('Unauthorized');
      expect(result.message).toMatch(/not sent over plain http/);
      expect(plain.requests.length).toBeGreaterThan(0);
      expect(plain.requests.every((request) => request.authorization === undefined)).toBe(true);
      expect(secure.requests.some((request) => request.authorization !== undefined)).toBe(true);
    } finally {
      await secure.close();
    }
  });

  it('does not send the credentials to a token realm on another host', async () => {
    const realm = await fixture((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{"token":"anonymous"}');
    });
    const registry = await fixture((_req, res) => {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm.otherHostUrl}/token",service="fixture"` });
      res.end();
    });
    const result = failure(await probeRegistry({ endpoint: registry.url, credentials: GOOD, timeoutMs: TIMEOUT }));
    expect(result.reason).toBe('Unauthorized');
    expect(result.message).toBe(
      `the token realm ${realm.otherHostUrl}/token is plain http and not the registry's origin ${registry.url} (a realm at another origin gets the credentials only over https); the credentials were not sent to it`,
    );
    expect(realm.requests).toEqual([]);
  });

  // The https realm cases (another port, a trusted host, loopback addresses) are in probe-origins.test.ts.

  it('refuses redirects and realms to link-local / metadata addresses', async () => {
    for (const target of ['http://169.254.169.254/latest/meta-data/', 'http://[fe80::1]/v2/', 'http://[::ffff:169.254.169.254]/']) {
      const server = await fixture((_req, res) => {
        res.writeHead(302, { location: target });
        res.end();
      });
      const result = failure(await probeRegistry({ endpoint: server.url, credentials: GOOD, timeoutMs: TIMEOUT }));
      expect(result.reason).toBe('Unreachable');
      expect(result.message).toMatch(/^refused redirect to link-local\/metadata address/);
    }
    const realmed = await fixture((_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="http://169.254.169.254/token",service="x"' });
      res.end();
    });
    const result = failure(await probeRegistry({ endpoint: realmed.url, timeoutMs: TIMEOUT }));
    expect(result.message).toMatch(/^refused token realm to link-local\/metadata address 169\.254\.169\.254/);
  });

  it('bounds the number of redirects', async () => {
    const loop = await fixture((req, res) => {
      res.writeHead(302, { location: `${req.url ?? '/'}x` });
      res.end();
    });
    const result = failure(await probeRegistry({ endpoint: loop.url, timeoutMs: TIMEOUT }));
    expect(result.reason).toBe('Unreachable');
    expect(result.message).toMatch(/redirected more than 5 times/);
    expect(loop.requests).toHaveLength(6);
  });

  it('redacts credentials even if a server echoes them into a realm error', async () => {
    const registry = await fixture((req, res) => {
      if (req.url?.startsWith('/token')) {
        res.writeHead(500);
        return void res.end();
      }
      res.writeHead(401, { 'www-authenticate': `Bearer realm="/token/${MARKER}",service="x"` });
      res.end();
    });
    const result = failure(await probeRegistry({ endpoint: registry.url, credentials: GOOD, timeoutMs: TIMEOUT }));
    expect(result.reason).toBe('Unreachable');
    expect(result.message).toContain('[REDACTED]');
  });
});

describe('probe helpers', () => {
  it('parses WWW-Authenticate challenges', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull"')).toEqual({
      scheme: 'bearer',
      params: new Map([
        ['realm', 'https://auth.docker.io/token'],
        ['service', 'registry.docker.io'],
        ['scope', 'repository:a/b:pull'],
      ]),
    });
    expect(parseChallenge('Basic realm="Registry Realm"')?.scheme).toBe('basic');
    expect(parseChallenge('Negotiate')).toBeUndefined();
    expect(parseChallenge(undefined)).toBeUndefined();
  });

  it('knows link-local and metadata addresses', () => {
    for (const address of ['169.254.169.254', '169.254.0.1', 'fe80::1', 'febf::1', '::ffff:169.254.169.254', 'fd00:ec2::254']) expect(isLinkLocal(address)).toBe(true);
    for (const address of ['127.0.0.1', '10.0.0.1', '::1', 'fec0::1', '2001:db8::1', 'localhost']) expect(isLinkLocal(address)).toBe(false);
  });
});

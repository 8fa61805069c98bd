/**
 * A real OCI registry for tests: the CNCF distribution registry shipped by Debian's
 * `docker-registry` package, on 127.0.0.1 and a free port, with its own config, storage and
 * credentials in a temporary directory.
 *
 *   auth: 'htpasswd' (default)  registry's own Basic auth (bcrypt htpasswd from apache2-utils)
 *   auth: 'token'               registry's token auth; the realm is a small Node token server
 *                               that checks Basic credentials and issues RS256 JWTs signed by a
 *                               key whose certificate is the registry's rootcertbundle
 *   auth: 'none'                anonymous access
 *   tls: true                   https with a fresh self-signed certificate for 127.0.0.1
 *   tokenTls: true              the token realm (auth: 'token') is https with its own self-signed
 *                               certificate for 127.0.0.1 (`tokenCaCert`); without it the realm is
 *                               plain http on another port, which the probe refuses to send
 *                               credentials to
 *
 * A missing binary is an error naming the Debian package, never a skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, timingSafeEqual, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

export const REGISTRY_BINARY = process.env.KAPSA_TEST_REGISTRY_BINARY ?? '/usr/bin/docker-registry';
export const REGISTRY_PACKAGES = 'docker-registry apache2-utils openssl';
const APT_HINT = `install it with: apt-get install -y ${REGISTRY_PACKAGES}`;

export interface RegistryUser {
  username: string;
  password: string;
}

export interface RegistryServerOptions {
  users?: RegistryUser[];
  auth?: 'htpasswd' | 'token' | 'none';
  tls?: boolean;
  /** Serve the token realm over https (auth: 'token' only). */
  tokenTls?: boolean;
  /** Path of the registry binary; defaults to REGISTRY_BINARY. */
  binary?: string;
}

export interface TokenRequestRecord {
  path: string;
  hadAuthorization: boolean;
  granted: boolean;
}

export interface RegistryServer {
  /** e.g. http://127.0.0.1:40123 */
  endpoint: string;
  /** 127.0.0.1:40123 */
  host: string;
  port: number;
  users: RegistryUser[];
  /** PEM of the self-signed server certificate (tls only). */
  caCert?: string;
  /** The token realm (auth: 'token' only). */
  tokenRealm?: string;
  /** PEM of the token realm's self-signed certificate (tokenTls only). */
  tokenCaCert?: string;
  /** Every request the token server received (auth: 'token' only). */
  tokenRequests: TokenRequestRecord[];
  stop(): Promise<void>;
}

export const TOKEN_SERVICE = 'kapsa-test-registry';
const TOKEN_ISSUER = 'kapsa-test-token-issuer';

export async function startRegistryServer(options: RegistryServerOptions = {}): Promise<RegistryServer> {
  const binary = options.binary ?? REGISTRY_BINARY;
  requireTool(binary, 'docker-registry');
  const auth = options.auth ?? 'htpasswd';
  const users = options.users ?? [{ username: 'kapsa', password: `pw-${randomBytes(8).toString('hex')}` }];
  const dir = await mkdtemp(join(tmpdir(), 'kapsa-registry-'));
  const cleanups: Array<() => Promise<void>> = [async () => rm(dir, { recursive: true, force: true })];
  const cleanup = async (): Promise<void> => {
    for (const step of cleanups.splice(0).reverse()) await step().catch(() => undefined);
  };

  try {
    await mkdir(join(dir, 'data'));
    const tokenRequests: TokenRequestRecord[] = [];
    const httpConfig: Record<string, unknown> = { secret: randomBytes(16).toString('hex') };
    let caCert: string | undefined;
    if (options.tls === true) {
      requireTool('/usr/bin/openssl', 'openssl');
      const { certPath, keyPath } = selfSignedCertificate(dir, 'server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1');
      httpConfig.tls = { certificate: certPath, key: keyPath };
      caCert = await readFile(certPath, 'utf8');
    }

    const config: Record<string, unknown> = {
      version: 0.1,
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: join(dir, 'data') }, delete: { enabled: true } },
      http: httpConfig,
    };

    let tokenRealm: string | undefined;
    let tokenCaCert: string | undefined;
    if (auth === 'htpasswd') {
      const path = join(dir, 'htpasswd');
      await writeFile(path, users.map((user) => htpasswdLine(user)).join(''), { mode: 0o600 });
      config.auth = { htpasswd: { realm: 'kapsa-test', path } };
    } else if (auth === 'token') {
      requireTool('/usr/bin/openssl', 'openssl');
      const signer = selfSignedCertificate(dir, 'token', TOKEN_ISSUER, undefined, 'rsa');
      let tokenTls: { cert: string; key: string } | undefined;
      if (options.tokenTls === true) {
        const served = selfSignedCertificate(dir, 'token-server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1');
        tokenTls = { cert: await readFile(served.certPath, 'utf8'), key: await readFile(served.keyPath, 'utf8') };
        tokenCaCert = tokenTls.cert;
      }
      const tokenServer = await startTokenServer(users, await readFile(signer.keyPath, 'utf8'), await readFile(signer.certPath, 'utf8'), tokenRequests, tokenTls);
      cleanups.push(tokenServer.close);
      tokenRealm = `${tokenServer.url}/token`;
      config.auth = { token: { realm: tokenRealm, service: TOKEN_SERVICE, issuer: TOKEN_ISSUER, rootcertbundle: signer.certPath } };
    }

    const configPath = join(dir, 'config.yml');
    let child: ChildProcess | undefined;
    let port = 0;
    let output = '';
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      httpConfig.addr = `127.0.0.1:${port}`;
      await writeFile(configPath, stringify(config));
      output = '';
      const started = spawn(binary, ['serve', configPath], { env: registryEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      const collect = (chunk: Buffer): void => {
        output = (output + chunk.toString('utf8')).slice(-8000);
      };
      started.stdout?.on('data', collect);
      started.stderr?.on('data', collect);
      cleanups.push(() => stopProcess(started));
      const scheme = options.tls === true ? 'https' : 'http';
      const ready = await waitForRegistry(started, `${scheme}://127.0.0.1:${port}/v2/`, 20_000);
      if (ready) {
        child = started;
        break;
      }
      await stopProcess(started);
      if (attempt >= 3 || !/address already in use/i.test(output)) {
        throw new Error(`docker-registry did not become ready on 127.0.0.1:${port}; its output:\n${output}`);
      }
    }
    void child;

    const scheme = options.tls === true ? 'https' : 'http';
    const server: RegistryServer = {
      endpoint: `${scheme}://127.0.0.1:${port}`,
      host: `127.0.0.1:${port}`,
      port,
      users,
      tokenRequests,
      stop: cleanup,
    };
    if (caCert !== undefined) server.caCert = caCert;
    if (tokenRealm !== undefined) server.tokenRealm = tokenRealm;
    if (tokenCaCert !== undefined) server.tokenCaCert = tokenCaCert;
    return server;
  } catch (error) {
    await cleanup();
    throw error;
  }
}

function requireTool(path: string, debianPackage: string): void {
  if (!existsSync(path)) {
    throw new Error(`${path} not found: the registry tests need the Debian package "${debianPackage}"; ${APT_HINT}`);
  }
}

function registryEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('REGISTRY_')) env[key] = value;
  }
  return env;
}

/** A bcrypt htpasswd line (the only hash distribution accepts); the password goes over stdin. */
function htpasswdLine(user: RegistryUser): string {
  requireTool('/usr/bin/htpasswd', 'apache2-utils');
  const result = spawnSync('/usr/bin/htpasswd', ['-niBC', '4', user.username], { input: `${user.password}\n`, encoding: 'utf8' });
  const line = (result.stdout ?? '').split('\n').find((entry) => entry.startsWith(`${user.username}:`));
  if (result.status !== 0 || line === undefined) throw new Error(`htpasswd failed: ${result.stderr}`);
  return `${line}\n`;
}

function selfSignedCertificate(
  dir: string,
  name: string,
  commonName: string,
  extension?: string,
  keyType: 'ec' | 'rsa' = 'ec',
): { certPath: string; keyPath: string } {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  const keyArgs = keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
  const args = ['req', '-x509', ...keyArgs, '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', `/CN=${commonName}`];
  if (extension !== undefined) args.push('-addext', extension);
  const result = spawnSync('/usr/bin/openssl', args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`openssl failed: ${result.stderr}`);
  return { certPath, keyPath };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForRegistry(child: ChildProcess, url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    const status = await new Promise<number | undefined>((resolve) => {
      const client = url.startsWith('https:') ? https : http;
      const req = client.get(url, { agent: false, rejectUnauthorized: false, timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(undefined));
    });
    if (status === 200 || status === 401) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------
// Token server (the realm of distribution's token auth)

async function startTokenServer(
  users: RegistryUser[],
  keyPem: string,
  certPem: string,
  records: TokenRequestRecord[],
  tls?: { cert: string; key: string },
): Promise<{ url: string; close: () => Promise<void> }> {
  const key = createPrivateKey(keyPem);
  const der = new X509Certificate(certPem).raw.toString('base64');
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    const header = req.headers.authorization;
    const user = header === undefined ? undefined : checkBasic(header, users);
    const granted = url.pathname === '/token' && user !== undefined;
    records.push({ path: url.pathname, hadAuthorization: header !== undefined, granted });
    if (!granted) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="kapsa-test-token"' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const header64 = base64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [der] }));
    const claims = {
      iss: TOKEN_ISSUER,
      sub: user,
      aud: url.searchParams.get('service') ?? TOKEN_SERVICE,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access: scopeToAccess(url.searchParams.getAll('scope')),
    };
    const signingInput = `${header64}.${base64url(JSON.stringify(claims))}`;
    const token = `${signingInput}.${base64url(sign('sha256', Buffer.from(signingInput), key))}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date(now * 1000).toISOString() }));
  };
  const server = tls === undefined ? http.createServer(handler) : https.createServer({ cert: tls.cert, key: tls.key }, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function checkBasic(header: string, users: RegistryUser[]): string | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header);
  if (!match || match[1] === undefined) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const username = decoded.slice(0, colon);
  const password = Buffer.from(decoded.slice(colon + 1));
  const user = users.find((candidate) => candidate.username === username);
  if (user === undefined) return undefined;
  const expected = Buffer.from(user.password);
  return expected.length === password.length && timingSafeEqual(expected, password) ? username : undefined;
}

function scopeToAccess(scopes: string[]): Array<{ type: string; name: string; actions: string[] }> {
  return scopes.flatMap((scope) =>
    scope.split(' ').flatMap((item) => {
      const [type, name, actions] = item.split(':');
      return type && name && actions ? [{ type, name, actions: actions.split(',') }] : [];
    }),
  );
}

function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

/**
 * Tiny HTTP servers for the probe's edge cases (redirects, foreign token realms, silence) that a
 * real registry does not produce on demand. Every request is recorded with its Authorization
 * header so tests can prove where credentials did (not) go.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RecordedRequest {
  path: string;
  authorization: string | undefined;
}

export interface Fixture {
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  /** The same server under another host name (http://localhost:<port>). */
  otherHostUrl: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startFixture(handler: (req: http.IncomingMessage, res: http.ServerResponse, fixture: Fixture) => void): Promise<Fixture> {
  const requests: RecordedRequest[] = [];
  let fixture: Fixture | undefined;
  const server = http.createServer((req, res) => {
    requests.push({ path: req.url ?? '/', authorization: req.headers.authorization });
    handler(req, res, fixture as Fixture);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  fixture = {
    port,
    url: `http://127.0.0.1:${port}`,
    otherHostUrl: `http://localhost:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return fixture;
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** An https fixture with a fresh self-signed certificate for 127.0.0.1 (PEM returned as `cert`). */
export async function startTlsFixture(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<{ url: string; cert: string; requests: RecordedRequest[]; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'kapsa-tls-fixture-'));
  try {
    const result = spawnSync(
      '/usr/bin/openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
      { encoding: 'utf8' },
    );
    if (result.status !== 0) throw new Error(`openssl failed (install the Debian package "openssl"): ${result.stderr ?? result.error}`);
    const cert = await readFile(join(dir, 'cert.pem'), 'utf8');
    const key = await readFile(join(dir, 'key.pem'), 'utf8');
    const requests: RecordedRequest[] = [];
    const server = https.createServer({ cert, key }, (req, res) => {
      requests.push({ path: req.url ?? '/', authorization: req.headers.authorization });
      handler(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `https://127.0.0.1:${port}`,
      cert,
      requests,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

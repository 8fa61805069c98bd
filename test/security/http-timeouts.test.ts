// Issue 12, defect 4: fastify sets no request timeout and node's headers timeout is checked only
// every 30s, so clients that sent half a header or half a body held their connections for good.
// The server now closes them after KAPSA_HTTP_HEADERS_TIMEOUT / KAPSA_HTTP_REQUEST_TIMEOUT, closes
// idle keep-alive connections after KAPSA_HTTP_KEEPALIVE_TIMEOUT and holds at most
// KAPSA_HTTP_MAX_CONNECTIONS. Nothing here asserts a speed: each test waits for the server to
// close the sockets, and the test timeout is the bound.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { environmentRequest, rawExchange, rawPost, testApp, type TestApp } from '../support/app.ts';
import type { Config } from '../../hooks/server/config.ts';
import { freePorts } from '../k8s/cluster.ts';

const root = join(import.meta.dirname, '..', '..');
const SHORT: Partial<Config> = { httpHeadersTimeoutSeconds: 1, httpRequestTimeoutSeconds: 2, httpKeepAliveTimeoutSeconds: 1 };

let current: TestApp | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await current?.app.close();
  current = undefined;
});

async function listening(config: Partial<Config>, options: Parameters<typeof testApp>[0] = {}): Promise<number> {
  current = testApp({ ...options, config });
  await current.app.listen({ port: 0, host: '127.0.0.1' });
  return (current.app.server.address() as AddressInfo).port;
}

/** A socket that writes `text` once connected and then stalls; `closed` resolves with all it received. */
function stalled(port: number, text: string): { socket: Socket; closed: Promise<string> } {
  const socket = connect(port, '127.0.0.1', () => socket.write(text));
  sockets.push(socket);
  return { socket, closed: closedWith(socket) };
}

function closedWith(socket: Socket): Promise<string> {
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('error', () => {});
  return new Promise((resolve) => socket.on('close', () => resolve(received)));
}

const HALF_HEADER = 'POST /hooks/environment/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty';
const HALF_BODY = 'POST /hooks/environment/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{"parent": {';

describe('slow clients', () => {
  it('closes connections that sent half a header, with 408', async () => {
    const port = await listening(SHORT);
    const clients = Array.from({ length: 50 }, () => stalled(port, HALF_HEADER));
    const replies = await Promise.all(clients.map((client) => client.closed));
    for (const reply of replies) expect(reply).toMatch(/^HTTP\/1\.1 408 /);
  }, 20_000);

  it('closes connections that sent the headers and half the declared body, with 408', async () => {
    const port = await listening(SHORT);
    const clients = Array.from({ length: 50 }, () => stalled(port, HALF_BODY));
    const replies = await Promise.all(clients.map((client) => client.closed));
    for (const reply of replies) expect(reply).toMatch(/^HTTP\/1\.1 408 /);
  }, 20_000);

  it('closes a connection that sends nothing at all', async () => {
    const port = await listening(SHORT);
    const { closed } = stalled(port, '');
    await closed;
  }, 20_000);

  it('closes a body that trickles in, byte by byte, once the request timeout passes', async () => {
    const port = await listening(SHORT);
    const { socket, closed } = stalled(port, HALF_BODY);
    const trickle = setInterval(() => socket.writable && socket.write(' '), 200);
    try {
      expect(await closed).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(trickle);
    }
  }, 20_000);

  it('serves requests on a kept-alive connection, then closes it once idle', async () => {
    const port = await listening(SHORT);
    const body = JSON.stringify(environmentRequest);
    const request = `POST /hooks/environment/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    const closed = closedWith(socket);
    let answered = 0;
    socket.on('data', (chunk: Buffer) => {
      answered += (chunk.toString('latin1').match(/HTTP\/1\.1 200 OK/g) ?? []).length;
      if (answered === 1) socket.write(request);
    });
    socket.write(request);
    const received = await closed;
    expect(received.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
    expect(received).toMatch(/keep-alive/i);
  }, 20_000);

  it('leaves a request that arrives in time alone, however slowly the hook answers', async () => {
    let release: () => void = () => {};
    const routes = [
      {
        controller: 'slow',
        hook: 'sync' as const,
        envelope: 'composite' as const,
        handle: () => new Promise((resolve) => (release = () => resolve({ status: {}, children: [] }))),
      },
    ];
    const port = await listening(SHORT, { routes });
    const reply = rawExchange(port, rawPost('/hooks/slow/sync', environmentRequest));
    // Wait past the request timeout (checked every second) with the hook still running.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    release();
    expect((await reply).status).toBe(200);
  }, 20_000);
});

describe('the connection cap', () => {
  it('closes connections beyond KAPSA_HTTP_MAX_CONNECTIONS and accepts again once one is gone', async () => {
    // Long timeouts, so nothing but the cap closes the first connections.
    const port = await listening({ httpMaxConnections: 3, httpHeadersTimeoutSeconds: 60, httpRequestTimeoutSeconds: 60 });
    const server = current!.app.server;
    const held = Array.from({ length: 3 }, () => stalled(port, HALF_HEADER));
    const connections = () => new Promise<number>((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
    while ((await connections()) < 3) await new Promise((resolve) => setTimeout(resolve, 20));

    const dropped = new Promise<void>((resolve) => server.once('drop', () => resolve()));
    const extra = stalled(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(await extra.closed).toBe('');
    await dropped;

    held[0]!.socket.destroy();
    await held[0]!.closed;
    while ((await connections()) > 2) await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')).status).toBe(200);
  }, 20_000);

  it('is set on the server from the configuration, with the timeouts', async () => {
    await listening({ httpMaxConnections: 17, httpHeadersTimeoutSeconds: 7, httpRequestTimeoutSeconds: 45, httpKeepAliveTimeoutSeconds: 80 });
    const server = current!.app.server;
    expect(server.maxConnections).toBe(17);
    expect(server.headersTimeout).toBe(7000);
    expect(server.requestTimeout).toBe(45000);
    expect(server.keepAliveTimeout).toBe(80000);
  });
});

describe('over HTTPS', () => {
  it('closes a TLS connection that sent half a header', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kapsa-tls-'));
    try {
      const made = spawnSync(
        '/usr/bin/openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'],
        { encoding: 'utf8' },
      );
      expect(made.status, made.stderr).toBe(0);
      const https = { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) };
      const port = await listening(SHORT, { https });
      expect(current!.app.server.headersTimeout).toBe(1000);
      const socket = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => socket.write(HALF_HEADER));
      sockets.push(socket);
      expect(await closedWith(socket)).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);
});

describe('the service process', () => {
  it('applies the limits from KAPSA_HTTP_* to the hook port and to the separate metrics port', async () => {
    const [port = 0, metricsPort = 0] = await freePorts(2);
    const child = spawn(join(root, 'node_modules', '.bin', 'node'), [join(root, 'hooks', 'main.ts')], {
      env: {
        ...process.env,
        KAPSA_PORT: String(port),
        KAPSA_METRICS_PORT: String(metricsPort),
        KAPSA_HOST: '127.0.0.1',
        KAPSA_HTTP_HEADERS_TIMEOUT: '1s',
        KAPSA_HTTP_REQUEST_TIMEOUT: '2s',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      while (!output.includes('kapsa hooks listening') && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(output).toContain('kapsa hooks listening');
      const hooks = stalled(port, HALF_HEADER);
      const metrics = stalled(metricsPort, 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: te');
      expect(await hooks.closed).toMatch(/^HTTP\/1\.1 408 /);
      expect(await metrics.closed).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);
});

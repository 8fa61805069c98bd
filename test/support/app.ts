import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { buildApp, type AppOptions, type KapsaApp } from '../../hooks/server/app.ts';
import { defaultConfig, type Config } from '../../hooks/server/config.ts';
import { createLogger } from '../../hooks/server/logger.ts';
import { createMetrics, type Metrics } from '../../hooks/server/metrics.ts';

/** An app whose log lines are kept in memory, so tests can check what reaches the log. */
export interface TestApp {
  app: KapsaApp;
  metrics: Metrics;
  logs: string[];
}

export function testApp(options: Partial<Omit<AppOptions, 'config'>> & { config?: Partial<Config>; level?: string } = {}): TestApp {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString());
      callback();
    },
  });
  const config = defaultConfig(options.config);
  const metrics = options.metrics ?? createMetrics(false);
  const logger = createLogger({ level: options.level ?? 'debug', format: 'json' }, sink);
  const app = buildApp({ clock: () => new Date('2026-11-26T12:00:00Z'), ...options, config, logger, metrics });
  return { app, metrics, logs };
}

export const environmentRequest = {
  controller: { metadata: { name: 'kapsa-environment' } },
  parent: {
    apiVersion: 'kapsa-project.io/v1alpha1',
    kind: 'Environment',
    metadata: { name: 'dev', namespace: 'shop', generation: 1 },
    spec: {
      project: 'shop',
      image: 'registry.example.com/shop:abc',
      ingress: { host: 'dev.shop.apps.example.com', tls: { issuerRef: { name: 'letsencrypt-prod' } } },
    },
  },
  children: {},
  related: {},
  finalizing: false,
};

/** The reply to one raw HTTP/1.1 exchange: the status code, the head as sent and the body. */
export interface RawReply {
  status: number;
  head: string;
  body: string;
}

/**
 * Writes `text` as it is to a fresh TCP connection and reads until the server closes it. HTTP
 * clients normalise request targets; this does not, so `/%68ooks/...` or `http://host/...` reach
 * the server exactly as written. Send `Connection: close` so the server ends the exchange.
 */
export function rawExchange(port: number, text: string): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const reply = Buffer.concat(chunks).toString('utf8');
      const split = reply.indexOf('\r\n\r\n');
      const head = split === -1 ? reply : reply.slice(0, split);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body: split === -1 ? '' : reply.slice(split + 4) });
    });
  });
}

/** A raw `POST <target>` with a JSON body, as its bytes (nothing about `target` is normalised). */
export function rawPost(target: string, body: unknown, headers: Record<string, string> = {}): string {
  const payload = JSON.stringify(body);
  const lines = [`POST ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(payload)}`, 'Connection: close'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n${payload}`;
}

/**
 * A benchmarked HTTP server, run as a child process of bench/run.ts so the load generator
 * (autocannon, in the parent) never shares an event loop with it.
 *
 *   node bench/server.ts kapsa   the real hook service (buildApp), silent pino at level warn, createMetrics()
 *   node bench/server.ts bare    the floor: bare fastify that parses the JSON body and echoes it back
 *
 * Both listen on 127.0.0.1, port 0, with the same body limit, and report `{ type: 'ready', port }`
 * over IPC. `{ type: 'memory' }` is answered with `process.memoryUsage()`. The process exits when
 * the parent disconnects or goes away, and in any case after `--max-seconds` (default 900).
 */
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { buildApp } from '../hooks/server/app.ts';
import { defaultConfig } from '../hooks/server/config.ts';
import { createLogger } from '../hooks/server/logger.ts';
import { createMetrics } from '../hooks/server/metrics.ts';
import { BENCH_NOW } from './generate.ts';

export type ServerKind = 'kapsa' | 'bare';

export type ServerMessage =
  | { type: 'ready'; port: number; pid: number }
  | { type: 'memory'; rss: number; heapUsed: number; heapTotal: number; external: number };

const kind = process.argv[2];
const maxSecondsArg = process.argv.indexOf('--max-seconds');
const maxSeconds = maxSecondsArg > 0 ? Number(process.argv[maxSecondsArg + 1]) : 900;

if (kind !== 'kapsa' && kind !== 'bare') {
  process.stderr.write('usage: node bench/server.ts kapsa|bare [--max-seconds N]\n');
  process.exit(2);
}

const config = defaultConfig();

function kapsaServer(): FastifyInstance {
  const silent = new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
  const logger = createLogger({ level: 'warn', format: 'json' }, silent);
  // The generated requests carry a pinned clock (preview TTLs, condition times): the server uses the same.
  return buildApp({ config, logger, metrics: createMetrics(), clock: () => BENCH_NOW });
}

function bareServer(): FastifyInstance {
  const app = Fastify({ bodyLimit: config.bodyLimitBytes });
  const echo = async (request: { body: unknown }) => request.body;
  app.post('/hooks/environment/sync', echo);
  app.post('/hooks/project/sync', echo);
  return app;
}

const app = kind === 'kapsa' ? kapsaServer() : bareServer();

let closing = false;
async function shutdown(code: number): Promise<void> {
  if (closing) return;
  closing = true;
  const force = setTimeout(() => process.exit(code), 2000);
  force.unref();
  try {
    await app.close();
  } finally {
    process.exit(code);
  }
}

const lifetime = setTimeout(() => void shutdown(3), Math.max(1, maxSeconds) * 1000);
lifetime.unref();
process.on('disconnect', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));
process.on('message', (message: unknown) => {
  if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'memory') {
    const usage = process.memoryUsage();
    const reply: ServerMessage = { type: 'memory', rss: usage.rss, heapUsed: usage.heapUsed, heapTotal: usage.heapTotal, external: usage.external };
    process.send?.(reply);
  }
});

await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
const port = typeof address === 'object' && address !== null ? address.port : 0;
const ready: ServerMessage = { type: 'ready', port, pid: process.pid };
if (process.send) process.send(ready);
else process.stdout.write(`${JSON.stringify(ready)}\n`);

#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { buildApp, connectionLimits, limitConnections } from './server/app.ts';
import { ConfigError, loadConfig, webhookToken, type Config } from './server/config.ts';
import { createLogger } from './server/logger.ts';
import { createMetrics } from './server/metrics.ts';
import { kubeProjectStore } from './receiver/kube-store.ts';

/** Exit code of a configuration error, so an operator can tell it from a crash. */
const EXIT_BAD_CONFIG = 2;

function readConfig(): { config: Config; token: string } {
  try {
    const config = loadConfig();
    return { config, token: webhookToken(config) };
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`kapsa: invalid configuration: ${error.message}\n`);
      process.exit(EXIT_BAD_CONFIG);
    }
    throw error;
  }
}

async function receiverStore(config: Config) {
  try {
    return await kubeProjectStore(config.kubeconfig);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`kapsa: invalid configuration: ${error.message}\n`);
      process.exit(EXIT_BAD_CONFIG);
    }
    throw error;
  }
}

export async function main(): Promise<void> {
  const { config, token } = readConfig();
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  const metrics = createMetrics();
  const https =
    config.tlsCertFile === '' ? undefined : { cert: readFileSync(config.tlsCertFile), key: readFileSync(config.tlsKeyFile) };
  // Only push webhooks talk to the API server: without a receiver key no client is made.
  const projectStore = config.receiverKey === '' ? undefined : await receiverStore(config);
  const server = buildApp({ config, logger, metrics, token, ...(https ? { https } : {}), ...(projectStore ? { projectStore } : {}) });
  const closers: Array<() => Promise<unknown>> = [];
  await server.listen({ port: config.port, host: config.host });
  closers.push(() => server.close());

  if (config.metricsEnabled && config.metricsPort !== 0) {
    // The metrics port faces Prometheus, not only Metacontroller: the same connection limits apply.
    const metricsServer = Fastify({ logger: false, ...connectionLimits(config) });
    limitConnections(metricsServer.server, config);
    metricsServer.get('/metrics', async (_request, reply) => {
      reply.header('content-type', metrics.registry.contentType);
      return metrics.registry.metrics();
    });
    await metricsServer.listen({ port: config.metricsPort, host: config.host });
    closers.push(() => metricsServer.close());
  }
  logger.info({ port: config.port, tls: config.tlsCertFile !== '', auth: token !== '', pushWebhooks: projectStore !== undefined }, 'kapsa hooks listening');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    server.markShuttingDown();
    // In-flight hooks finish; new connections are refused once close() starts.
    Promise.all(closers.map((close) => close()))
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

await main();

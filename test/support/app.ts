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

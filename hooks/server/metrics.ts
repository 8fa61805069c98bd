import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Metrics keep the names of the original Kapsa controller so dashboards carry over. Labels never
 * carry object names: a cluster with many Projects must not explode the series count.
 */
export interface Metrics {
  registry: Registry;
  hookRequests: Counter<'controller' | 'hook' | 'outcome'>;
  /** Bytes of hook request bodies: what Metacontroller sends is what a cluster pays per resync. */
  hookRequestBytes: Counter<'controller' | 'hook'>;
  hookDuration: Histogram<'controller' | 'hook' | 'outcome'>;
  projectsTotal: Gauge<'phase'>;
  projectReconcileTotal: Counter<'result'>;
  projectReconcileDuration: Histogram<'result'>;
  environmentsTotal: Gauge<'phase'>;
  buildsTotal: Counter<'strategy' | 'result'>;
  gitPollTotal: Counter<'result'>;
  /** Push webhooks by forge and outcome (hooks/receiver/routes.ts). */
  receiverRequests: Counter<'forge' | 'outcome'>;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(withDefaults = true): Metrics {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    hookRequests: new Counter({
      name: 'kapsa_hook_requests_total',
      help: 'Hook requests by controller, hook and outcome (ok, bad_request, unauthorized, error, not_modified).',
      labelNames: ['controller', 'hook', 'outcome'],
      registers,
    }),
    hookRequestBytes: new Counter({
      name: 'kapsa_hook_request_bytes_total',
      help: 'Bytes of hook request bodies received, by controller and hook.',
      labelNames: ['controller', 'hook'],
      registers,
    }),
    hookDuration: new Histogram({
      name: 'kapsa_hook_request_duration_seconds',
      help: 'Time to answer a hook request, by controller, hook and outcome.',
      labelNames: ['controller', 'hook', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    projectsTotal: new Gauge({
      name: 'kapsa_projects_total',
      help: 'Projects seen by the last sync of each, by phase (counted per process since its start).',
      labelNames: ['phase'],
      registers,
    }),
    projectReconcileTotal: new Counter({
      name: 'kapsa_project_reconcile_total',
      help: 'Project syncs by result (ready, not_ready, invalid, error).',
      labelNames: ['result'],
      registers,
    }),
    projectReconcileDuration: new Histogram({
      name: 'kapsa_project_reconcile_duration_seconds',
      help: 'Time spent computing one Project sync.',
      labelNames: ['result'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    environmentsTotal: new Gauge({
      name: 'kapsa_environments_total',
      help: 'Environments seen by the last sync of each, by phase (counted per process since its start).',
      labelNames: ['phase'],
      registers,
    }),
    buildsTotal: new Counter({
      name: 'kapsa_builds_total',
      help: 'Build results observed by Project syncs, by strategy and result (started, succeeded, failed).',
      labelNames: ['strategy', 'result'],
      registers,
    }),
    gitPollTotal: new Counter({
      name: 'kapsa_git_poll_total',
      help: 'Git polls by result (ok, cached, or the failure reason).',
      labelNames: ['result'],
      registers,
    }),
    receiverRequests: new Counter({
      name: 'kapsa_receiver_requests_total',
      help: 'Push-webhook requests by forge (or unknown) and outcome.',
      labelNames: ['forge', 'outcome'],
      registers,
    }),
  };
}

/**
 * Per-object phase gauges: each object's last phase is remembered so the gauge counts objects,
 * not syncs. Keys are object identities held only in memory, never exported as labels.
 */
export class PhaseTracker {
  readonly #phases = new Map<string, string>();
  readonly #gauge: Gauge<'phase'>;

  constructor(gauge: Gauge<'phase'>) {
    this.#gauge = gauge;
  }

  observe(key: string, phase: string): void {
    const previous = this.#phases.get(key);
    if (previous === phase) return;
    if (previous !== undefined) this.#gauge.dec({ phase: previous });
    this.#gauge.inc({ phase });
    this.#phases.set(key, phase);
  }

  forget(key: string): void {
    const previous = this.#phases.get(key);
    if (previous === undefined) return;
    this.#gauge.dec({ phase: previous });
    this.#phases.delete(key);
  }
}

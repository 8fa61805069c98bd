/**
 * In-process timings: the pure sync functions per call against JSON.parse + JSON.stringify of the
 * same bytes, and the scale run (many Projects and their Environments on one core).
 */
import { createHash } from 'node:crypto';
import { syncEnvironment } from '../hooks/environment/sync.ts';
import type { CompositeSyncRequest, CompositeSyncResponse } from '../hooks/lib/hook.ts';
import type { ProjectSettings } from '../hooks/project/settings.ts';
import { syncProject } from '../hooks/project/sync.ts';
import { BENCH_NOW, environmentRequest, environmentsOf, generateProject } from './generate.ts';
import { median } from './report.ts';

export interface Timing {
  /** Median over batches of the CPU time per call (this process), in ms: robust to other work on the machine. */
  perCallMs: number;
  /** Median over batches of the wall time per call, in ms. */
  wallMs: number;
  iterations: number;
}

/** CPU time of this process so far, in ms. */
export function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/**
 * Times several functions per call, interleaved: after a warm-up, rounds of one ~20 ms batch of
 * each, until `budgetMs` per function is spent (at least five rounds). Noise from other work on
 * the machine then hits every function alike, and the median batch resists it.
 */
export function timeInterleaved<K extends string>(fns: Record<K, () => unknown>, budgetMs: number): Record<K, Timing> {
  const keys = Object.keys(fns) as K[];
  let sink: unknown;
  const batches = {} as Record<K, number>;
  for (const key of keys) {
    const fn = fns[key];
    const warmupEnd = performance.now() + Math.min(500, budgetMs / 4);
    let probe = 0;
    const probeStart = performance.now();
    while (performance.now() < warmupEnd || probe < 2) {
      sink = fn();
      probe++;
    }
    const single = (performance.now() - probeStart) / probe;
    batches[key] = Math.max(1, Math.min(10_000, Math.round(20 / Math.max(single, 1e-6))));
  }
  const walls = Object.fromEntries(keys.map((key) => [key, [] as number[]])) as Record<K, number[]>;
  const cpus = Object.fromEntries(keys.map((key) => [key, [] as number[]])) as Record<K, number[]>;
  const iterations = Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
  const end = performance.now() + budgetMs * keys.length;
  for (let round = 0; round < 10_000 && (performance.now() < end || round < 5); round++) {
    for (const key of keys) {
      const fn = fns[key];
      const batch = batches[key];
      const cpu = cpuMs();
      const started = performance.now();
      for (let i = 0; i < batch; i++) sink = fn();
      walls[key].push((performance.now() - started) / batch);
      cpus[key].push((cpuMs() - cpu) / batch);
      iterations[key] += batch;
    }
  }
  if (sink === Symbol.for('never')) throw new Error('unreachable');
  return Object.fromEntries(keys.map((key) => [key, { perCallMs: median(cpus[key]), wallMs: median(walls[key]), iterations: iterations[key] }])) as Record<K, Timing>;
}

export interface CostRow {
  hook: string;
  requestBytes: number;
  replyBytes: number;
  sync: Timing;
  floor: Timing;
  /** JSON.parse + sync + JSON.stringify + sha256 of the reply: the handler's work without HTTP. */
  pipeline: Timing;
}

function costOf(hook: string, request: CompositeSyncRequest, run: (request: CompositeSyncRequest) => CompositeSyncResponse, budgetMs: number): CostRow {
  const requestText = JSON.stringify(request);
  const reply = run(request);
  const replyText = JSON.stringify(reply);
  const timings = timeInterleaved(
    {
      sync: () => run(request),
      floor: () => {
        JSON.parse(requestText);
        return JSON.stringify(reply);
      },
      pipeline: () => {
        const body = JSON.stringify(run(JSON.parse(requestText) as CompositeSyncRequest));
        return createHash('sha256').update(body).digest('base64url');
      },
    },
    budgetMs,
  );
  const { sync, floor, pipeline } = timings;
  return { hook, requestBytes: Buffer.byteLength(requestText), replyBytes: Buffer.byteLength(replyText), sync, floor, pipeline };
}

export function inProcessCosts(
  requests: { environment: CompositeSyncRequest; project: CompositeSyncRequest },
  settings: ProjectSettings,
  budgetMs: number,
): CostRow[] {
  return [
    costOf('environment/sync', requests.environment, (request) => syncEnvironment(request, { now: BENCH_NOW }), budgetMs),
    costOf('project/sync', requests.project, (request) => syncProject(request, { now: BENCH_NOW, settings }), budgetMs),
  ];
}

// -------------------------------------------------------------------------------------------------
// Scale

/** Times are CPU time of this thread's timed loops, in ms (the floor likewise); wallMs is the whole run. */
export interface ScaleRow {
  projects: number;
  environments: number;
  projectSyncMs: number;
  environmentSyncMs: number;
  /** Wall time of the same timed sync loops. */
  projectSyncWallMs: number;
  environmentSyncWallMs: number;
  /** JSON.parse of each request + JSON.stringify of each reply, the same items. */
  projectFloorMs: number;
  environmentFloorMs: number;
  /** Projects whose reply said phase Ready (every generated one should). */
  projectsReady: number;
  environmentsRunning: number;
  wallMs: number;
}

const TEMPLATE = 'bench-p-000000';

function nameOf(index: number): string {
  return `bench-p-${String(index).padStart(6, '0')}`;
}

export interface ScaleTemplates {
  project: string;
  environments: string[];
}

/** One steady-state Project (3 environments) and its Environments, as JSON to be renamed per item. */
export function scaleTemplates(settings: ProjectSettings): ScaleTemplates {
  const generated = generateProject({ name: TEMPLATE, environments: 3, previews: 0 }, settings);
  return {
    project: JSON.stringify(generated.request),
    environments: environmentsOf(generated.reply).map((environment) => JSON.stringify(environmentRequest(environment, { project: generated.request.parent }))),
  };
}

function phaseOf(reply: CompositeSyncResponse): unknown {
  return reply.status.phase;
}

/**
 * Runs the project sync for `count` Projects and the environment sync for their Environments on
 * this thread. Requests are made (renamed and parsed) in batches of 100 outside the timed loops, so only
 * the sync calls are timed and memory stays bounded; parse and stringify are timed as the floor.
 */
export function scaleRun(templates: ScaleTemplates, count: number, settings: ProjectSettings, batchSize = 100): ScaleRow {
  const row: ScaleRow = {
    projects: count,
    environments: count * templates.environments.length,
    projectSyncMs: 0,
    environmentSyncMs: 0,
    projectSyncWallMs: 0,
    environmentSyncWallMs: 0,
    projectFloorMs: 0,
    environmentFloorMs: 0,
    projectsReady: 0,
    environmentsRunning: 0,
    wallMs: 0,
  };
  const wallStart = performance.now();
  for (let first = 0; first < count; first += batchSize) {
    const size = Math.min(batchSize, count - first);
    // Projects of this batch.
    const texts = Array.from({ length: size }, (_, i) => templates.project.replaceAll(TEMPLATE, nameOf(first + i + 1)));
    let started = cpuMs();
    const projects = texts.map((text) => JSON.parse(text) as CompositeSyncRequest);
    row.projectFloorMs += cpuMs() - started;
    started = cpuMs();
    let wall = performance.now();
    const replies = projects.map((request) => syncProject(request, { now: BENCH_NOW, settings }));
    row.projectSyncMs += cpuMs() - started;
    row.projectSyncWallMs += performance.now() - wall;
    started = cpuMs();
    for (const reply of replies) JSON.stringify(reply);
    row.projectFloorMs += cpuMs() - started;
    for (const reply of replies) if (phaseOf(reply) === 'Ready') row.projectsReady++;

    // Their Environments.
    const environmentTexts = texts.flatMap((_, i) => templates.environments.map((template) => template.replaceAll(TEMPLATE, nameOf(first + i + 1))));
    started = cpuMs();
    const environments = environmentTexts.map((text) => JSON.parse(text) as CompositeSyncRequest);
    row.environmentFloorMs += cpuMs() - started;
    started = cpuMs();
    wall = performance.now();
    const environmentReplies = environments.map((request) => syncEnvironment(request, { now: BENCH_NOW }));
    row.environmentSyncMs += cpuMs() - started;
    row.environmentSyncWallMs += performance.now() - wall;
    started = cpuMs();
    for (const reply of environmentReplies) JSON.stringify(reply);
    row.environmentFloorMs += cpuMs() - started;
    for (const reply of environmentReplies) if (phaseOf(reply) === 'Running') row.environmentsRunning++;
  }
  row.wallMs = performance.now() - wallStart;
  return row;
}

/**
 * scaleRun repeated `repeats` times; the run with the median sync time is kept (small sizes are
 * a fraction of a second, so one burst of other work on the machine would otherwise decide them).
 */
export function scaleMedian(templates: ScaleTemplates, count: number, settings: ProjectSettings, repeats: number): ScaleRow {
  const rows = Array.from({ length: Math.max(1, repeats) }, () => scaleRun(templates, count, settings));
  rows.sort((a, b) => a.projectSyncMs + a.environmentSyncMs - (b.projectSyncMs + b.environmentSyncMs));
  const middle = rows[Math.floor(rows.length / 2)];
  if (!middle) throw new Error('no scale run');
  return middle;
}

/** Warms the JIT on the template so the smallest size is not measuring compilation. */
export function warmScale(templates: ScaleTemplates, settings: ProjectSettings, iterations = 300): void {
  const project = JSON.parse(templates.project) as CompositeSyncRequest;
  const environments = templates.environments.map((text) => JSON.parse(text) as CompositeSyncRequest);
  for (let i = 0; i < iterations; i++) {
    syncProject(project, { now: BENCH_NOW, settings });
    for (const environment of environments) syncEnvironment(environment, { now: BENCH_NOW });
  }
}

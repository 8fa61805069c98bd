/**
 * The engine section of `npm run bench`: the whole chain on the control plane of the e2e tests
 * (test/e2e/engine.ts), where what a user feels and what an operator pays can be measured.
 *
 *  - push → preview Environment created → its Deployment Available, against a floor of the wait the
 *    configuration imposes (a push lands at a uniformly random point of the poll interval) plus the
 *    time the API server, controller-manager and kwok take for the same objects applied directly
 *    with server-side apply;
 *  - Project applied → Ready with URLs, against the stand-in build time plus the same objects
 *    applied directly;
 *  - N Projects with 3 environments each: time until all are Ready, the hook service's CPU seconds
 *    and peak RSS, and Metacontroller's hook calls per minute and request bytes in steady state.
 */
import { readFileSync } from 'node:fs';
import { API_VERSION } from '../hooks/lib/labels.ts';
import { startEngine, type Engine } from '../test/e2e/engine.ts';
import { platformObjects } from '../test/e2e/platform.ts';
import { CertManagerStandIn, IngressControllerStandIn, KpackStandIn } from '../test/e2e/stand-ins.ts';
import { hasCondition, KubeClient, waitFor, type KubeObject } from '../test/k8s/client.ts';
import { createBareRepo, startGitServer, type BareRepo, type GitServer } from '../test/support/git-server.ts';
import { startRegistryServer, type RegistryServer } from '../test/support/registry-server.ts';
import { bytes, median, ms, num, percentile, ratio, SECTIONS, table } from './report.ts';

export interface EnginePlan {
  pushes: number;
  projectApplies: number;
  scaleSizes: number[];
  steadySeconds: number;
}

// 330 s of steady state: longer than every controller's resync (300 s at most), so each is counted.
export const ENGINE_FULL: EnginePlan = { pushes: 20, projectApplies: 10, scaleSizes: [100, 1000], steadySeconds: 330 };
export const ENGINE_QUICK: EnginePlan = { pushes: 2, projectApplies: 2, scaleSizes: [5, 20], steadySeconds: 10 };

/** The settings the figures depend on; the report states them. */
export const ENGINE_SETTINGS = {
  pollIntervalSeconds: 10,
  // The scale Projects poll at Kapsa's default: at 10 s, 1,000 Projects would measure the poller
  // alone, and a platform that wants pushes in seconds uses the push receiver, not a short interval.
  scalePollIntervalSeconds: 60,
  gitPollerResyncSeconds: 30,
  buildMs: 500,
  metacontrollerWorkers: 5,
};

export interface Latency {
  samples: number[];
  median: number;
  p95: number;
}

export interface ScalePoint {
  projects: number;
  readySeconds: number;
  kapsaCpuSeconds: number;
  kapsaPeakRssBytes: number;
  hookCallsPerMinute: number;
  requestBytesPerMinute: number;
  callsByHook: Record<string, number>;
}

export interface EngineResult {
  pushToCreated: Latency;
  pushToAvailable: Latency;
  pushFloor: { median: number; p95: number; directApplyMs: number };
  projectReady: Latency;
  projectFloor: { directApplyMs: number; buildMs: number };
  scale: ScalePoint[];
}

const MANAGER = 'kapsa-bench';
const BASE_DOMAIN = 'apps.bench.test';

function latency(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  return { samples, median: median(samples), p95: percentile(sorted, 95) };
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function peakRss(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/** Sum of a counter over its series, by `controller/hook`. */
async function hookCounter(hookUrl: string, name: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${hookUrl}/metrics`)).text();
  const sums: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const controller = /controller="([^"]*)"/.exec(line)?.[1] ?? '';
    const hook = /hook="([^"]*)"/.exec(line)?.[1] ?? '';
    const key = `${controller}/${hook}`;
    sums[key] = (sums[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sums;
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

function project(name: string, repositoryUrl: string, environments: string[], previews: boolean, pollIntervalSeconds = ENGINE_SETTINGS.pollIntervalSeconds): KubeObject {
  return {
    apiVersion: API_VERSION,
    kind: 'Project',
    metadata: { name },
    spec: {
      repository: { url: repositoryUrl, branch: 'main', pollInterval: `${pollIntervalSeconds}s` },
      build: { strategy: 'buildpacks' },
      registry: { name: 'main', imageRepository: `bench/${name}` },
      domain: { subdomain: name, domainPoolRef: { name: 'apps' } },
      runtime: { ports: [{ name: 'http', containerPort: 8080 }] },
      environments: environments.map((environment) => ({ name: environment, branch: 'main' })),
      previewEnvironments: { enabled: previews, ttl: '1h', maxActive: 50, branches: { include: ['feature/*'] } },
    },
  };
}

/** A copy of a live object as a user would apply it: same spec, new name or namespace, no server fields. */
function copyOf(object: KubeObject, apiVersion: string, kind: string, name: string, namespace: string): KubeObject {
  const { spec } = object as { spec?: Record<string, unknown> };
  // None of the original's labels: Metacontroller claims what carries a parent's selector labels
  // (controller-uid, generateSelector) and deletes it as an unwanted child.
  const labels = { 'bench.kapsa/copy': name };
  const copy: KubeObject = { apiVersion, kind, metadata: { name, namespace, labels } };
  if (spec) copy.spec = JSON.parse(JSON.stringify(spec)) as Record<string, unknown>;
  if (kind === 'Service') {
    // The server allocates these; a copy must ask for its own.
    const serviceSpec = copy.spec as Record<string, unknown>;
    delete serviceSpec.clusterIP;
    delete serviceSpec.clusterIPs;
  }
  if (kind === 'Deployment') {
    // Labels of its own only: a copy whose pods the original's ReplicaSets or Service also select
    // would measure the controllers sorting out overlaps, not an apply.
    const deploymentSpec = copy.spec as { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> } } };
    deploymentSpec.selector = { matchLabels: { 'bench.kapsa/copy': name } };
    deploymentSpec.template.metadata.labels = { 'bench.kapsa/copy': name };
  }
  if (kind === 'Service') (copy.spec as Record<string, unknown>).selector = { 'bench.kapsa/copy': name };
  return copy;
}

/** Applies Deployment, Service, Ingress (and Certificate) copies of `source` directly and waits for the Deployment. */
async function directApply(client: KubeClient, namespace: string, source: string, name: string): Promise<number> {
  const kinds: Array<[string, string]> = [
    ['apps/v1', 'Deployment'],
    ['v1', 'Service'],
    ['networking.k8s.io/v1', 'Ingress'],
    ['cert-manager.io/v1', 'Certificate'],
  ];
  const objects: KubeObject[] = [];
  for (const [apiVersion, kind] of kinds) {
    const live = await client.tryGet({ apiVersion, kind, name: kind === 'Certificate' ? `${source}-tls` : source, namespace });
    if (live) objects.push(copyOf(live, apiVersion, kind, kind === 'Certificate' ? `${name}-tls` : name, namespace));
  }
  const started = performance.now();
  for (const object of objects) await client.apply(object, { fieldManager: MANAGER, force: true });
  let last: KubeObject | undefined;
  await waitFor(
    async () => {
      last = await client.tryGet({ apiVersion: 'apps/v1', kind: 'Deployment', name, namespace });
      return hasCondition(last, 'Available');
    },
    { timeoutMs: 120_000, intervalMs: 50, description: `the directly applied Deployment ${namespace}/${name}` },
  ).catch((error: Error) => {
    throw new Error(`${error.message}; its status: ${JSON.stringify(last?.status ?? {})}`);
  });
  return performance.now() - started;
}

export async function engineBenchmark(plan: EnginePlan, log: (line: string) => void): Promise<EngineResult> {
  const largest = Math.max(...plan.scaleSizes);
  const engine: Engine = await startEngine({ kapsaEnv: { KAPSA_LOG_LEVEL: 'warn' }, nodePods: largest * 3 + 500, watchCache: true, progress: (line) => log(`engine: ${line}`) });
  let git: GitServer | undefined;
  let registry: RegistryServer | undefined;
  const client = new KubeClient(engine.kube);
  const standIns = [new KpackStandIn(client, ENGINE_SETTINGS.buildMs), new CertManagerStandIn(client), new IngressControllerStandIn(client)];
  try {
    git = await startGitServer();
    const repo: BareRepo = await createBareRepo(git.root, 'app.git');
    await repo.commit('main', 'first');
    registry = await startRegistryServer({ auth: 'htpasswd' });
    for (const standIn of standIns) standIn.start();
    for (const object of platformObjects(registry, BASE_DOMAIN)) await client.apply(object, { fieldManager: MANAGER, force: true });
    const url = git.url('app.git');
    const ready = async (name: string) => hasCondition(await client.tryGet({ apiVersion: API_VERSION, kind: 'Project', name }), 'Ready');

    // Project applied → Ready.
    const projectSamples: number[] = [];
    for (let index = 0; index < plan.projectApplies; index++) {
      const name = `apply-${index}`;
      const started = performance.now();
      await client.apply(project(name, url, ['dev'], false), { fieldManager: MANAGER, force: true });
      await waitFor(() => ready(name), { timeoutMs: 120_000, intervalMs: 50, description: `Project ${name} Ready` });
      projectSamples.push(performance.now() - started);
      log(`engine: Project ${name} Ready in ${(projectSamples.at(-1) ?? 0).toFixed(0)} ms`);
    }
    const projectDirect = await directApply(client, 'apply-0', 'dev', 'direct-dev');

    // Push → preview.
    await client.apply(project('pushes', url, ['dev'], true), { fieldManager: MANAGER, force: true });
    await waitFor(() => ready('pushes'), { timeoutMs: 120_000, intervalMs: 100, description: 'Project pushes Ready' });
    const created: number[] = [];
    const availableAfter: number[] = [];
    let lastPreview = '';
    for (let index = 0; index < plan.pushes; index++) {
      const branch = `feature/push-${index}`;
      // Land each push at a uniformly random point of the poll cycle, as real pushes do: one push
      // right after the previous preview appeared would be phase-locked to the poller.
      await new Promise((r) => setTimeout(r, Math.random() * ENGINE_SETTINGS.pollIntervalSeconds * 1000));
      const started = performance.now();
      await repo.commit(branch, `push ${index}`);
      const preview = await waitFor(
        async () => (await client.list(API_VERSION, 'Environment', { namespace: 'pushes' })).items.find((item) => (item.spec as { branch?: string }).branch === branch),
        { timeoutMs: 120_000, intervalMs: 50, description: `the preview of ${branch}` },
      );
      created.push(performance.now() - started);
      const name = preview.metadata.name ?? '';
      await waitFor(async () => hasCondition(await client.tryGet({ apiVersion: 'apps/v1', kind: 'Deployment', name, namespace: 'pushes' }), 'Available'), {
        timeoutMs: 120_000,
        intervalMs: 50,
        description: `the preview Deployment ${name}`,
      });
      availableAfter.push(performance.now() - started);
      lastPreview = name;
      log(`engine: push ${index + 1}/${plan.pushes}: Environment after ${(created.at(-1) ?? 0).toFixed(0)} ms, Available after ${(availableAfter.at(-1) ?? 0).toFixed(0)} ms`);
    }
    const pushDirect = await directApply(client, 'pushes', lastPreview, 'direct-preview');
    const interval = ENGINE_SETTINGS.pollIntervalSeconds * 1000;

    // Scale: add Projects up to each size, then watch the steady state.
    const scale: ScalePoint[] = [];
    let applied = 0;
    for (const size of plan.scaleSizes) {
      const cpuBefore = cpuSeconds(engine.pids.kapsa);
      const started = performance.now();
      const names: string[] = [];
      for (let index = 0; index < size; index++) names.push(`scale-${index}`);
      const fresh = names.slice(applied);
      for (let offset = 0; offset < fresh.length; offset += 20) {
        await Promise.all(fresh.slice(offset, offset + 20).map((name) => client.apply(project(name, url, ['dev', 'staging', 'prod'], false, ENGINE_SETTINGS.scalePollIntervalSeconds), { fieldManager: MANAGER, force: true })));
      }
      applied = size;
      let reported = performance.now();
      await waitFor(
        async () => {
          const list = await client.list(API_VERSION, 'Project');
          const readyCount = list.items.filter((item) => item.metadata.name?.startsWith('scale-') && hasCondition(item, 'Ready')).length;
          // A long wait says how far it got, so a stalled run can be told from a slow one.
          if (performance.now() - reported > 30_000) {
            reported = performance.now();
            log(`engine: ${readyCount}/${size} Projects Ready after ${((reported - started) / 1000).toFixed(0)} s`);
          }
          return readyCount >= size;
        },
        { timeoutMs: 3_600_000, intervalMs: Math.max(1000, size * 5), description: `${size} Projects Ready` },
      );
      const readySeconds = (performance.now() - started) / 1000;
      const cpu = cpuSeconds(engine.pids.kapsa) - cpuBefore;
      log(`engine: ${size} Projects Ready after ${readySeconds.toFixed(1)} s (${cpu.toFixed(1)} CPU s in the service); steady state for ${plan.steadySeconds} s`);
      const callsBefore = await hookCounter(engine.hookUrl, 'kapsa_hook_requests_total');
      const bytesBefore = await hookCounter(engine.hookUrl, 'kapsa_hook_request_bytes_total');
      await new Promise((r) => setTimeout(r, plan.steadySeconds * 1000));
      const callsAfter = await hookCounter(engine.hookUrl, 'kapsa_hook_requests_total');
      const bytesAfter = await hookCounter(engine.hookUrl, 'kapsa_hook_request_bytes_total');
      const perMinute = 60 / plan.steadySeconds;
      const callsByHook = Object.fromEntries(Object.keys(callsAfter).map((key) => [key, ((callsAfter[key] ?? 0) - (callsBefore[key] ?? 0)) * perMinute]));
      scale.push({
        projects: size,
        readySeconds,
        kapsaCpuSeconds: cpu,
        kapsaPeakRssBytes: peakRss(engine.pids.kapsa),
        hookCallsPerMinute: (total(callsAfter) - total(callsBefore)) * perMinute,
        requestBytesPerMinute: (total(bytesAfter) - total(bytesBefore)) * perMinute,
        callsByHook,
      });
    }

    return {
      pushToCreated: latency(created),
      pushToAvailable: latency(availableAfter),
      pushFloor: { median: interval / 2 + pushDirect, p95: interval * 0.95 + pushDirect, directApplyMs: pushDirect },
      projectReady: latency(projectSamples),
      projectFloor: { directApplyMs: projectDirect, buildMs: ENGINE_SETTINGS.buildMs },
      scale,
    };
  } finally {
    await Promise.all(standIns.map((standIn) => standIn.stop()));
    client.close();
    await registry?.stop();
    await git?.close();
    await engine.stop();
  }
}

// -------------------------------------------------------------------------------------------------
// Report


export function engineSection(plan: EnginePlan, result: EngineResult): string[] {
  const lat = (l: Latency) => [ms(l.median), ms(l.p95)];
  const scaleRows = result.scale.map((point, index) => {
    const previous = index > 0 ? result.scale[index - 1] : undefined;
    const perProject = (value: number) => value / point.projects;
    const growth = previous ? ratio(perProject(point.readySeconds) * 1000, (previous.readySeconds / previous.projects) * 1000) : '—';
    return [
      num(point.projects),
      `${num(point.readySeconds, 1)} s`,
      `${num(perProject(point.readySeconds) * 1000, 0)} ms`,
      growth,
      `${num(point.kapsaCpuSeconds, 1)} s`,
      bytes(point.kapsaPeakRssBytes),
      num(point.hookCallsPerMinute, 0),
      `${bytes(point.requestBytesPerMinute)}/min`,
      `${num(perProject(point.hookCallsPerMinute), 2)} calls, ${bytes(perProject(point.requestBytesPerMinute))}`,
    ];
  });
  const busiest = result.scale.at(-1);
  const byHook = busiest
    ? Object.entries(busiest.callsByHook)
        .filter(([, value]) => value > 0)
        .sort((a, b) => b[1] - a[1])
        .map(([key, value]) => `${key} ${num(value, 0)}`)
        .join(', ')
    : '';
  return [
    SECTIONS.engine,
    '',
    `The e2e control plane (kube-apiserver with its watch cache on as in a real cluster, controller-manager, scheduler, one kwok node, Metacontroller with ${ENGINE_SETTINGS.metacontrollerWorkers} workers per controller, the service as its own process), ` +
      `a real git server and the distribution registry; kpack, cert-manager and the ingress controller are the stand-ins of test/e2e/stand-ins.ts (a build takes ${ENGINE_SETTINGS.buildMs} ms). ` +
      `Poll interval ${ENGINE_SETTINGS.pollIntervalSeconds} s for the push and apply figures and ${ENGINE_SETTINGS.scalePollIntervalSeconds} s (Kapsa's default) for the scale table, git-poller resync floor ${ENGINE_SETTINGS.gitPollerResyncSeconds} s, the poller asks to be called again when the interval ends.`,
    '',
    table(
      ['what', 'samples', 'median', 'p95', 'floor median', 'floor p95', 'median / floor'],
      [
        ['push → preview Environment created', String(result.pushToCreated.samples.length), ...lat(result.pushToCreated), ms(result.pushFloor.median - result.pushFloor.directApplyMs), ms(result.pushFloor.p95 - result.pushFloor.directApplyMs), ratio(result.pushToCreated.median, result.pushFloor.median - result.pushFloor.directApplyMs)],
        ['push → preview Deployment Available', String(result.pushToAvailable.samples.length), ...lat(result.pushToAvailable), ms(result.pushFloor.median), ms(result.pushFloor.p95), ratio(result.pushToAvailable.median, result.pushFloor.median)],
        ['Project applied → Ready with URLs', String(result.projectReady.samples.length), ...lat(result.projectReady), ms(result.projectFloor.directApplyMs + result.projectFloor.buildMs), '—', ratio(result.projectReady.median, result.projectFloor.directApplyMs + result.projectFloor.buildMs)],
      ],
    ),
    '',
    `Floors: a push lands at a uniformly random point of the ${ENGINE_SETTINGS.pollIntervalSeconds} s poll interval, so the configured wait alone is interval/2 at the median and 0.95 × interval at p95; ` +
      `the Available floors add the time the API server, controller-manager, scheduler and kwok took for the same Deployment, Service, Ingress and Certificate applied directly with server-side apply ` +
      `(${ms(result.pushFloor.directApplyMs)} for a preview, ${ms(result.projectFloor.directApplyMs)} for an environment); the Project floor adds the stand-in build time to that.`,
    '',
    table(['Projects (3 environments each)', 'until all Ready', 'per Project', 'per-Project growth', 'service CPU', 'service peak RSS', 'hook calls/min (steady)', 'request bytes (steady)', 'per Project per minute'], scaleRows),
    '',
    `Sizes are cumulative: the larger size adds Projects to the ones already Ready, and "until all Ready" counts from the first new apply. Steady state is measured over ${plan.steadySeconds} s after all are Ready` +
      (byHook ? `; at ${num(busiest?.projects ?? 0)} Projects the calls per minute by hook were: ${byHook}.` : '.'),
    '',
  ];
}

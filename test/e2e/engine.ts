// The whole engine for the end-to-end tests, installed the way a cluster admin would install Kapsa:
// etcd + kube-apiserver (test/k8s/cluster.ts), kube-controller-manager (garbage collector,
// namespace, deployment, replicaset and serviceaccount controllers), kube-scheduler, kwok (one
// fake node that makes scheduled pods Running and Ready), the real Metacontroller built from the
// vendored source, and the Kapsa service as its own process with a bearer token. The controllers
// are the generated definitions (hooks/metacontroller/definitions.ts) with the URL pointed at that
// process and the chart's authorization wiring.
//
// Only kpack and cert-manager are missing here: they need a container runtime or a CA. Their
// stand-ins (test/e2e/stand-ins.ts) run in the test process and write status as the real ones do.

import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { controllerDefinitions, DEFAULT_CONTROLLER_OPTIONS } from '../../hooks/metacontroller/definitions.ts';
import { KubeClient, type KubeConnection, type KubeObject } from '../k8s/client.ts';
import {
  ensureBinaries,
  freePorts,
  launch,
  readOr,
  registerExitCleanup,
  sleep,
  spawnWatchdog,
  startCluster,
  tail,
  terminate,
  type Cluster,
} from '../k8s/cluster.ts';
import { installCrds } from '../k8s/global-setup.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const KAPSA_NAMESPACE = 'kapsa-system';
export const TOKEN_SECRET = 'kapsa-webhook-token';
export const ENGINE_FIELD_MANAGER = 'kapsa-e2e-setup';
/** The annotation kwok selects its nodes by. */
const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

export interface EngineInfo {
  kube: KubeConnection;
  /** http://127.0.0.1:<port> of the Kapsa service. */
  hookUrl: string;
  /** KAPSA_RECEIVER_KEY of the service ('' unless pushWebhooks); the receiver uses the admin kubeconfig. */
  receiverKey: string;
  logs: { metacontroller: string; kapsa: string; controllerManager: string; scheduler: string; kwok: string; apiserver: string };
}

export interface Engine extends EngineInfo {
  /** Process ids of the service and Metacontroller, for the benchmark's CPU and memory figures. */
  pids: { kapsa: number; metacontroller: number };
  stop(): Promise<void>;
}

export interface EngineOptions {
  /** More KAPSA_* settings of the service. */
  kapsaEnv?: Record<string, string>;
  /** Metacontroller resync per controller (seconds); the definitions' defaults otherwise. */
  resyncSeconds?: Partial<typeof DEFAULT_CONTROLLER_OPTIONS.resyncSeconds>;
  /** Progress lines (what starts, how long it took). */
  progress?: (line: string) => void;
  /** Keep the log folder after stop() (for `npm run cluster`, which prints its path). */
  keepLogs?: boolean;
  /** Pods the fake node takes (the benchmark runs thousands). */
  nodePods?: number;
  /** The API server's watch cache (see ClusterOptions); the tests keep it off. */
  watchCache?: boolean;
  /** Turn the push-webhook receiver on (a receiver key, and API access through the admin kubeconfig). */
  pushWebhooks?: boolean;
}

export async function startEngine(options: EngineOptions = {}): Promise<Engine> {
  const say = options.progress ?? (() => {});
  let started = Date.now();
  const step = (what: string) => {
    say(`${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    started = Date.now();
  };
  const binaries = await ensureBinaries(['kube-controller-manager', 'kube-scheduler', 'kwok', 'metacontroller']);
  step('control-plane binaries ready');
  const cluster = await startCluster({ watchCache: options.watchCache ?? false });
  step(`kube-apiserver ready at ${cluster.url}`);
  const dir = mkdtempSync(join(tmpdir(), 'kapsa-engine-'));
  const procs: ChildProcess[] = [];
  const logs = {
    metacontroller: join(dir, 'metacontroller.log'),
    kapsa: join(dir, 'kapsa.log'),
    controllerManager: join(dir, 'kube-controller-manager.log'),
    scheduler: join(dir, 'kube-scheduler.log'),
    kwok: join(dir, 'kwok.log'),
    apiserver: cluster.apiserverLog,
  };
  const unregister = registerExitCleanup(() => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Metacontroller first, so it does not spend its last seconds on a hook service that is gone.
    for (const p of [...procs].reverse()) await terminate(p, 5_000);
    unregister();
    await cluster.stop();
    if (!options.keepLogs) rmSync(dir, { recursive: true, force: true });
  };

  try {
    const client = new KubeClient(cluster);
    try {
      await installCrds(cluster);
      step('CRDs established');
      await bootstrapObjects(client, options.nodePods ?? 500);
    } finally {
      client.close();
    }

    const [kapsaPort, kwokPort] = await freePorts(2);
    const token = randomBytes(24).toString('hex');
    const receiverKey = options.pushWebhooks ? randomBytes(32).toString('hex') : '';
    const hookUrl = `http://127.0.0.1:${kapsaPort}`;

    procs.push(
      launch(
        binaries['kube-controller-manager'],
        [
          `--kubeconfig=${cluster.kubeconfig}`,
          // node-lifecycle lifts the not-ready taint the API server puts on a new Node once kwok reports it Ready.
          '--controllers=garbage-collector-controller,namespace-controller,deployment-controller,replicaset-controller,serviceaccount-controller,node-lifecycle-controller',
          '--leader-elect=false',
          '--secure-port=0',
          '--use-service-account-credentials=false',
          '--v=1',
        ],
        logs.controllerManager,
      ),
      launch(binaries['kube-scheduler'], [`--kubeconfig=${cluster.kubeconfig}`, '--leader-elect=false', '--secure-port=0', '--v=1'], logs.scheduler),
      launch(
        binaries.kwok,
        [
          `--kubeconfig=${cluster.kubeconfig}`,
          // kwok's own "fast" stages, put beside the binary by scripts/kube-binaries.sh.
          `--config=${join(dirname(binaries.kwok), 'stages.yaml')}`,
          '--manage-all-nodes=false',
          `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
          '--cidr=10.0.0.0/16',
          '--node-ip=10.0.0.1',
          `--server-address=127.0.0.1:${kwokPort}`,
        ],
        logs.kwok,
      ),
    );

    const kapsaEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      KAPSA_PORT: String(kapsaPort),
      KAPSA_HOST: '127.0.0.1',
      KAPSA_WEBHOOK_TOKEN: token,
      KAPSA_NAMESPACE: KAPSA_NAMESPACE,
      KAPSA_LOG_LEVEL: 'info',
      // The test git server and registry listen on loopback over plain HTTP.
      KAPSA_GIT_ALLOW_HTTP: 'true',
      KAPSA_GIT_ALLOWED_HOSTS: '127.0.0.1',
      KAPSA_DEFAULT_POLL_INTERVAL: '10s',
      KAPSA_REGISTRY_PROBE_INTERVAL: '10s',
      ...(options.pushWebhooks ? { KAPSA_RECEIVER_KEY: receiverKey, KAPSA_KUBECONFIG: cluster.kubeconfig } : {}),
      ...options.kapsaEnv,
    };
    const kapsa = launch(process.execPath, [join(REPO_ROOT, 'hooks', 'main.ts')], logs.kapsa, kapsaEnv);
    procs.push(kapsa);
    await waitForHttp(`${hookUrl}/readyz`, kapsa, logs.kapsa);
    step(`Kapsa service ready at ${hookUrl}`);

    const setup = new KubeClient(cluster);
    try {
      await setup.apply(
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: TOKEN_SECRET, namespace: KAPSA_NAMESPACE },
          type: 'Opaque',
          stringData: { token },
        },
        { fieldManager: ENGINE_FIELD_MANAGER, force: true },
      );
      for (const definition of controllerDefinitions({
        ...DEFAULT_CONTROLLER_OPTIONS,
        baseUrl: hookUrl,
        resyncSeconds: { ...DEFAULT_CONTROLLER_OPTIONS.resyncSeconds, ...options.resyncSeconds },
        // What the chart's kapsa.webhookOptions adds: the token from a Secret Metacontroller reads.
        webhookFields: () => ({ authorization: { type: 'Bearer', secretRef: { name: TOKEN_SECRET, namespace: KAPSA_NAMESPACE, key: 'token' } } }),
      })) {
        await setup.apply(definition.object as KubeObject, { fieldManager: ENGINE_FIELD_MANAGER, force: true });
      }
    } finally {
      setup.close();
    }

    const metacontroller = launch(
      binaries.metacontroller,
      [
        '--metrics-address=0',
        '--health-probe-bind-address=0',
        '--pprof-address=0',
        // New CRDs and controllers are picked up within seconds, not the default 30.
        '--discovery-interval=2s',
        '--client-go-qps=100',
        '--client-go-burst=200',
        '--zap-log-level=info',
      ],
      logs.metacontroller,
      { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: cluster.kubeconfig },
    );
    procs.push(metacontroller);
    // A SIGKILLed test process runs no exit handler: the watchdog ends these too.
    procs.unshift(spawnWatchdog(procs.map((p) => p.pid), dir));
    await waitForNodeReady(cluster, procs, logs);
    step('kwok node Ready; controller-manager, scheduler and Metacontroller running');

    return {
      kube: { url: cluster.url, token: cluster.token, kubeconfig: cluster.kubeconfig },
      hookUrl,
      receiverKey,
      logs,
      pids: { kapsa: kapsa.pid ?? 0, metacontroller: metacontroller.pid ?? 0 },
      stop,
    };
  } catch (error) {
    const tails = Object.entries(logs)
      .map(([name, file]) => `--- ${name} (tail) ---\n${tail(readOr(file), 20)}`)
      .join('\n');
    await stop();
    throw new Error(`${(error as Error).message}\n${tails}`);
  }
}

/** Kapsa's namespace and the fake node; kwok takes the node over and reports it Ready. */
async function bootstrapObjects(client: KubeClient, pods: number): Promise<void> {
  const apply = (object: KubeObject) => client.apply(object, { fieldManager: ENGINE_FIELD_MANAGER, force: true });
  await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: KAPSA_NAMESPACE } });
  await apply({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: 'kwok-node-0',
      annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: { 'kubernetes.io/hostname': 'kwok-node-0', 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
    },
    status: {
      allocatable: { cpu: '1000', memory: '4Ti', pods: String(pods) },
      capacity: { cpu: '1000', memory: '4Ti', pods: String(pods) },
    },
  });
}

async function waitForNodeReady(cluster: Cluster, procs: ChildProcess[], logs: Record<string, string>): Promise<void> {
  const client = new KubeClient(cluster);
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const exited = procs.find((p) => p.exitCode !== null || p.signalCode !== null);
      if (exited) throw new Error(`${exited.spawnfile} exited (code ${exited.exitCode}) while the engine started`);
      const node = await client.tryGet({ apiVersion: 'v1', kind: 'Node', name: 'kwok-node-0' });
      const conditions = (node?.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions ?? [];
      const taints = (node?.spec as { taints?: unknown[] } | undefined)?.taints ?? [];
      if (conditions.some((c) => c.type === 'Ready' && c.status === 'True') && taints.length === 0) return;
      if (Date.now() > deadline) throw new Error(`the kwok node did not become Ready and untainted in 60 s\n${tail(readOr(logs.kwok ?? ''), 20)}`);
      await sleep(200);
    }
  } finally {
    client.close();
  }
}

function waitForHttp(url: string, proc: ChildProcess, log: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  return new Promise((resolvePromise, reject) => {
    const attempt = () => {
      if (proc.exitCode !== null) return reject(new Error(`the Kapsa service exited (code ${proc.exitCode}):\n${tail(readOr(log), 20)}`));
      const req = request(url, { timeout: 1_000 }, (res) => {
        res.resume();
        if (res.statusCode === 200) resolvePromise();
        else retry();
      });
      req.on('error', retry);
      req.on('timeout', () => req.destroy());
      req.end();
    };
    const retry = () => {
      if (Date.now() > deadline) reject(new Error(`${url} did not answer 200 in 30 s:\n${tail(readOr(log), 20)}`));
      else setTimeout(attempt, 100);
    };
    attempt();
  });
}

/** Lines of a log file, read whole (the logs of one run stay small). */
export function logLines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '');
}

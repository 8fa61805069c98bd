// `npm run cluster` / `kapsa cluster`: Kapsa doing its job on this machine, in the foreground.
//
// Starts the engine the e2e tests use (test/e2e/engine.ts: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, a kwok node, Metacontroller and the Kapsa service),
// the kpack / cert-manager / ingress stand-ins, a git smart-HTTP server with a small sample
// repository (main, develop, feature/hello) that accepts pushes, and the distribution registry;
// applies a DomainPool, a Registry and a Project adapted from examples/, and prints what to do
// next. Ctrl-C (or SIGTERM) stops every process it started and removes its files. Everything
// listens on 127.0.0.1 only.

import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { API_VERSION } from '../hooks/lib/labels.ts';
import { startEngine, type Engine } from '../test/e2e/engine.ts';
import { platformObjects } from '../test/e2e/platform.ts';
import { CertManagerStandIn, IngressControllerStandIn, KpackStandIn } from '../test/e2e/stand-ins.ts';
import { hasCondition, KubeClient, waitFor, type KubeObject } from '../test/k8s/client.ts';
import { ensureBinaries } from '../test/k8s/cluster.ts';
import { createBareRepo, git, startGitServer, type GitServer } from '../test/support/git-server.ts';
import { startRegistryServer } from '../test/support/registry-server.ts';

// The pid lock and a copy of the kubeconfig live here while a cluster runs.
const STATE_DIR = process.env.KAPSA_CLUSTER_DIR ?? join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'kapsa');
const LOCK_FILE = join(STATE_DIR, 'cluster.pid');
const KUBECONFIG_LINK = join(STATE_DIR, 'kubeconfig');
const FIELD_MANAGER = 'kapsa-cluster';
const BASE_DOMAIN = 'apps.kapsa.localhost';

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Another `kapsa cluster` holds the lock while its pid lives; a stale lock is taken over. */
function takeLock(): boolean {
  mkdirSync(STATE_DIR, { recursive: true });
  if (existsSync(LOCK_FILE)) {
    const pid = Number(readFileSync(LOCK_FILE, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      process.stderr.write(`kapsa cluster: one is already running (pid ${pid}); its kubeconfig is ${KUBECONFIG_LINK}. Stop it with Ctrl-C in its terminal or kill ${pid}.\n`);
      return false;
    }
  }
  const fd = openSync(LOCK_FILE, 'w', 0o600);
  writeFileSync(fd, `${process.pid}\n`);
  closeSync(fd);
  return true;
}

/** True while a process of that pid exists (signal 0 only checks). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** examples/project.yaml, pointed at the local repository (and without its hand-set refs). */
function sampleProject(repositoryUrl: string): KubeObject {
  return {
    apiVersion: API_VERSION,
    kind: 'Project',
    metadata: { name: 'shop' },
    spec: {
      repository: { url: repositoryUrl, branch: 'main', pollInterval: '10s' },
      build: { strategy: 'buildpacks', env: [{ name: 'BP_NODE_VERSION', value: '24' }] },
      registry: { name: 'main', imageRepository: 'acme/shop' },
      domain: { subdomain: 'shop', domainPoolRef: { name: 'apps' } },
      runtime: {
        ports: [{ name: 'http', containerPort: 8080 }],
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
        probes: { readiness: { path: '/healthz' } },
      },
      environments: [
        { name: 'dev', branch: 'develop' },
        { name: 'prod', branch: 'main', autoSync: false },
      ],
      previewEnvironments: { enabled: true, ttl: '72h', maxActive: 5, branches: { include: ['feature/*'] } },
    },
  };
}

async function sampleRepository(gitServer: GitServer): Promise<string> {
  const repo = await createBareRepo(gitServer.root, 'shop.git');
  // Pushes over HTTP: git http-backend serves receive-pack only when the repository allows it.
  await git(repo.dir, ['config', 'http.receivepack', 'true']);
  const main = await repo.commit('main', 'a small web shop');
  await repo.branch('develop', main);
  await repo.commit('develop', 'work in progress');
  await repo.branch('feature/hello', main);
  await repo.commit('feature/hello', 'say hello');
  return gitServer.url('shop.git');
}

export async function runCluster(): Promise<number> {
  if (!takeLock()) return 1;
  const started = Date.now();
  const stops: Array<() => Promise<unknown>> = [];
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      for (const stop of stops.reverse()) await stop().catch(() => {});
      rmSync(KUBECONFIG_LINK, { force: true });
      rmSync(LOCK_FILE, { force: true });
    })());
  const onSignal = (signal: NodeJS.Signals) => {
    say(`\n${signal}: stopping every process the cluster started ...`);
    void stopAll().then(() => {
      say('stopped; nothing left running.');
      process.exit(0);
    });
  };
  // `on`, not `once`: the engine's own exit handler re-raises a signal nobody else listens to.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    say('Starting a local Kapsa cluster (a first run builds the control plane from Go modules; that takes a few minutes) ...');
    const { kubectl } = await ensureBinaries(['kubectl']);
    const engine: Engine = await startEngine({ progress: (line) => say(`  ${line}`) });
    stops.push(() => engine.stop());
    writeFileSync(KUBECONFIG_LINK, readFileSync(engine.kube.kubeconfig), { mode: 0o600 });

    const gitServer = await startGitServer();
    stops.push(() => gitServer.close());
    const repositoryUrl = await sampleRepository(gitServer);
    const registry = await startRegistryServer({ auth: 'htpasswd' });
    stops.push(() => registry.stop());
    say(`  git server at ${gitServer.baseUrl}, registry at ${registry.endpoint}`);

    const client = new KubeClient(engine.kube);
    stops.push(async () => client.close());
    for (const standIn of [new KpackStandIn(client), new CertManagerStandIn(client), new IngressControllerStandIn(client)]) {
      standIn.start();
      stops.push(() => standIn.stop());
    }
    for (const object of [...platformObjects(registry, BASE_DOMAIN), sampleProject(repositoryUrl)]) {
      await client.apply(object, { fieldManager: FIELD_MANAGER, force: true });
    }
    const project = await waitFor(
      async () => {
        const object = await client.tryGet({ apiVersion: API_VERSION, kind: 'Project', name: 'shop' });
        return hasCondition(object, 'Ready') ? object : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 250, description: 'Project shop to become Ready' },
    );
    const urls = ((project.status as { urls?: string[] }).urls ?? []).join(', ');
    say(`\nProject shop is Ready in ${((Date.now() - started) / 1000).toFixed(0)} s: ${urls}`);
    say(
      [
        '',
        'What to do next (in another terminal):',
        `  export KUBECONFIG=${KUBECONFIG_LINK} PATH=${dirname(kubectl)}:$PATH   # kubectl ${'v1.34.4'}, built with the control plane`,
        '  kubectl get projects,environments -A',
        '  kubectl get deployments,pods -n shop',
        '',
        'Push a branch and watch its preview appear (the poller looks every 10 s):',
        `  git clone ${repositoryUrl} /tmp/shop && cd /tmp/shop`,
        '  git switch -c feature/checkout && git commit --allow-empty -m checkout && git push -u origin feature/checkout',
        '  kubectl get environments -n shop -w',
        '',
        'Promote prod (autoSync off) to a commit that was built:',
        "  kubectl patch project shop --type=json -p '[{\"op\":\"add\",\"path\":\"/spec/environments/1/revision\",\"value\":\"'$(git rev-parse origin/main)'\"}]'",
        '',
        `Logs: Kapsa ${engine.logs.kapsa}, Metacontroller ${engine.logs.metacontroller}`,
        'Ctrl-C stops everything.',
      ].join('\n'),
    );
    await new Promise<never>(() => {});
  } catch (error) {
    process.stderr.write(`kapsa cluster: ${(error as Error).message}\n`);
    await stopAll();
    return 1;
  }
  return 0;
}

if (import.meta.main) process.exitCode = await runCluster();

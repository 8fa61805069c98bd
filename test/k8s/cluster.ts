// A real, throwaway control plane for the tests: etcd + kube-apiserver on loopback.
//
// No controller-manager, no scheduler, no kubelet: objects are stored, validated, defaulted and
// admitted (Pod Security admission included) exactly as on a real cluster, but nothing runs them.
// The binaries are built once by scripts/kube-binaries.sh and cached under .cache/bin.

import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Cluster {
  /** https://127.0.0.1:<port> */
  url: string;
  /** Bearer token of an admin user (group system:masters). */
  token: string;
  /** Path of a kubeconfig file for the admin user (in the cluster's temp dir). */
  kubeconfig: string;
  /** The cluster's temp dir (etcd data, certs, logs); removed by stop(). */
  dir: string;
  apiserverLog: string;
  etcdLog: string;
  /** Kills kube-apiserver and etcd (SIGTERM, then SIGKILL) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface KubeBinaries {
  kubeApiserver: string;
  etcd: string;
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BINARIES_SCRIPT = join(REPO_ROOT, 'scripts', 'kube-binaries.sh');

const READY_TIMEOUT_MS = Number(process.env.KAPSA_KUBE_READY_TIMEOUT_MS ?? 90_000);
const ADMIN_USER = 'kapsa-test-admin';

/** What scripts/kube-binaries.sh can build, by the name it prints (`KUBE_APISERVER=…`). */
export type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kubectl' | 'kwok' | 'metacontroller';

/**
 * Runs scripts/kube-binaries.sh for `components` (a few `--version` calls when they are cached)
 * and returns their paths by component. A missing Go toolchain or a failed build throws.
 */
export function ensureBinaries(components: readonly Component[]): Promise<Record<Component, string>> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [BINARIES_SCRIPT, ...components], { cwd: REPO_ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      if (stderr.length > 1_000_000) stderr = stderr.slice(-500_000);
      // A cold build takes many minutes: say so (the cached case stays quiet).
      for (const line of c.split('\n')) {
        if (/^\[kube-binaries\] (building|built|done)/.test(line)) process.stderr.write(`${line}\n`);
      }
    });
    child.on('error', (err) => reject(new Error(`could not run scripts/kube-binaries.sh: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code !== 0) {
        reject(
          new Error(
            `scripts/kube-binaries.sh ${components.join(' ')} failed (exit code ${code}, signal ${signal}); the tests need ` +
              `the Go toolchain and the Go module proxy to build the control plane.\n` +
              `--- stderr (tail) ---\n${tail(stderr, 60)}`,
          ),
        );
        return;
      }
      const out = new Map<string, string>();
      for (const line of stdout.split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) out.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
      }
      const paths = {} as Record<Component, string>;
      for (const component of components) {
        const path = out.get(component.toUpperCase().replaceAll('-', '_'));
        if (!path) {
          reject(new Error(`scripts/kube-binaries.sh printed no path for ${component}:\n${stdout}\n${tail(stderr, 30)}`));
          return;
        }
        paths[component] = path;
      }
      resolvePromise(paths);
    });
  });
}

/** kube-apiserver and etcd, the two binaries every API-server test needs. */
export async function ensureKubeBinaries(): Promise<KubeBinaries> {
  const paths = await ensureBinaries(['etcd', 'kube-apiserver']);
  return { kubeApiserver: paths['kube-apiserver'], etcd: paths.etcd };
}

export interface ClusterOptions {
  /**
   * Serve lists and watches from the API server's cache, as every real cluster does. Off for the
   * tests, where a read straight after a write must see it; on for the engine benchmark, where
   * thousands of objects are listed over and over and etcd reads would be the figure instead.
   */
  watchCache?: boolean;
}

/** Starts etcd and kube-apiserver on random loopback ports and waits for /readyz. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const binaries = await ensureKubeBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'kapsa-kube-'));
  const etcdLog = join(dir, 'etcd.log');
  const apiserverLog = join(dir, 'kube-apiserver.log');
  const token = randomBytes(24).toString('hex');
  const procs: ChildProcess[] = [];
  let stopped = false;

  const killAllSync = (): void => {
    for (const p of procs) {
      if (p.exitCode === null && p.signalCode === null) {
        try {
          p.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort at exit
    }
  };
  const unregister = registerExitCleanup(killAllSync);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // apiserver first, so it does not spend its shutdown complaining about etcd.
    for (const p of [...procs].reverse()) await terminate(p, 5_000);
    unregister();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const [etcdClientPort, etcdPeerPort, apiPort] = await freePorts(3);
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const etcdPeerUrl = `http://127.0.0.1:${etcdPeerPort}`;

    const etcd = launch(
      binaries.etcd,
      [
        '--name=kapsa-test',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${etcdPeerUrl}`,
        `--initial-advertise-peer-urls=${etcdPeerUrl}`,
        `--initial-cluster=kapsa-test=${etcdPeerUrl}`,
        '--initial-cluster-state=new',
        // Throwaway data: no fsync makes etcd (and so every write) much faster.
        '--unsafe-no-fsync=true',
        '--quota-backend-bytes=1073741824',
        '--log-level=warn',
      ],
      etcdLog,
    );
    procs.push(etcd);

    const certDir = join(dir, 'certs');
    const tokenFile = join(dir, 'tokens.csv');
    writeFileSync(tokenFile, `${token},${ADMIN_USER},${ADMIN_USER},"system:masters"\n`, { mode: 0o600 });
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const saKey = join(dir, 'sa.key');
    const saPub = join(dir, 'sa.pub');
    writeFileSync(saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(saPub, publicKey.export({ type: 'spki', format: 'pem' }));

    const apiserver = launch(
      binaries.kubeApiserver,
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${certDir}`,
        `--token-auth-file=${tokenFile}`,
        '--authorization-mode=RBAC',
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        '--service-cluster-ip-range=10.96.0.0/16',
        // No controller-manager creates the default ServiceAccounts. Pod Security stays enabled.
        '--disable-admission-plugins=ServiceAccount',
        // Lets privileged Pods through validation, so Pod Security admission is what rejects them.
        '--allow-privileged=true',
        '--endpoint-reconciler-type=none',
        `--watch-cache=${options.watchCache ?? false}`,
        '--enable-priority-and-fairness=false',
        '--profiling=false',
        '--v=1',
      ],
      apiserverLog,
    );
    procs.push(apiserver);

    // Even a SIGKILLed test process (no exit handler runs) must not leave the servers behind.
    procs.unshift(spawnWatchdog([etcd.pid, apiserver.pid], dir));

    const url = `https://127.0.0.1:${apiPort}`;
    await waitForReady(url, token, { apiserver, etcd }, { apiserverLog, etcdLog });

    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, kubeconfigYaml(url, token), { mode: 0o600 });

    return { url, token, kubeconfig, dir, apiserverLog, etcdLog, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export function launch(binary: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(binary, args, { stdio: ['ignore', fd, fd], detached: false, env });
    child.on('error', () => {
      // reported through exitCode / waitForReady
    });
    return child;
  } finally {
    closeSync(fd);
  }
}

/**
 * A detached `sh` that polls this process and, once it is gone, SIGKILLs `pids` and removes `dir`.
 * stop() ends it last (it is first in `procs`), after the servers it guards.
 */
export function spawnWatchdog(pids: (number | undefined)[], dir: string): ChildProcess {
  const script =
    'parent=$1; dir=$2; shift 2\n' +
    'while kill -0 "$parent" 2>/dev/null; do sleep 1; done\n' +
    'kill -9 "$@" 2>/dev/null\n' +
    'rm -rf "$dir"\n';
  const live = pids.filter((p): p is number => p !== undefined).map(String);
  const w = spawn('sh', ['-c', script, 'kapsa-kube-watchdog', String(process.pid), dir, ...live], {
    detached: true,
    stdio: 'ignore',
  });
  w.on('error', () => {});
  w.unref();
  return w;
}

async function waitForReady(
  url: string,
  token: string,
  procs: { apiserver: ChildProcess; etcd: ChildProcess },
  logs: { apiserverLog: string; etcdLog: string },
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer yet';
  for (;;) {
    for (const [name, p] of Object.entries(procs)) {
      if (p.exitCode !== null || p.signalCode !== null) {
        throw new Error(
          `${name} exited (code ${p.exitCode}, signal ${p.signalCode}) before kube-apiserver became ready.\n` +
            logTails(logs),
        );
      }
    }
    try {
      const res = await httpsGet(`${url}/readyz`, token, 2_000);
      if (res.status === 200) return;
      last = `HTTP ${res.status}: ${tail(res.body, 15)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `kube-apiserver did not become ready at ${url}/readyz within ${READY_TIMEOUT_MS} ms; last answer: ${last}\n` +
          logTails(logs),
      );
    }
    await sleep(150);
  }
}

function logTails(logs: { apiserverLog: string; etcdLog: string }): string {
  return (
    `--- kube-apiserver log (tail) ---\n${tail(readOr(logs.apiserverLog), 40)}\n` +
    `--- etcd log (tail) ---\n${tail(readOr(logs.etcdLog), 15)}`
  );
}

function httpsGet(url: string, token: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request(
      url,
      { method: 'GET', headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: timeoutMs },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export async function terminate(p: ChildProcess, graceMs: number): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

/** Asks the kernel for `n` distinct free loopback ports (all held open until all are known). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((r, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => r(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === 'string') throw new Error('unexpected server address');
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

// ---- cleanup when the test process goes away ----------------------------------------------------

const exitCallbacks = new Set<() => void>();
let exitHooksInstalled = false;

/** Runs `cb` (synchronously) if the process exits or is signalled before `unregister()`. */
export function registerExitCleanup(cb: () => void): () => void {
  exitCallbacks.add(cb);
  if (!exitHooksInstalled) {
    exitHooksInstalled = true;
    const runAll = (): void => {
      for (const f of [...exitCallbacks]) {
        exitCallbacks.delete(f);
        f();
      }
    };
    process.on('exit', runAll);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      const onSignal = (): void => {
        runAll();
        process.off(sig, onSignal);
        // Nobody else handles it: keep the default behaviour (die of the signal).
        if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
      };
      process.on(sig, onSignal);
    }
  }
  return () => {
    exitCallbacks.delete(cb);
  };
}

// ---- helpers ------------------------------------------------------------------------------------

function kubeconfigYaml(url: string, token: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: kapsa-test',
    '  cluster:',
    `    server: ${url}`,
    '    insecure-skip-tls-verify: true',
    'users:',
    `- name: ${ADMIN_USER}`,
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: kapsa-test',
    '  context:',
    '    cluster: kapsa-test',
    `    user: ${ADMIN_USER}`,
    'current-context: kapsa-test',
    '',
  ].join('\n');
}

export function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '(no log)';
  }
}

export function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

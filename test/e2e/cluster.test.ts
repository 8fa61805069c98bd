// `npm run cluster` as a newcomer runs it: a Project becomes Ready with its URLs, a branch pushed
// over HTTP gets its preview, a second run refuses to start, and Ctrl-C leaves no process behind.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KubeClient, waitFor } from '../k8s/client.ts';
import { alive } from '../../scripts/cluster.ts';
import { git } from '../support/git-server.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const stateDir = mkdtempSync(join(tmpdir(), 'kapsa-cluster-state-'));
const work = mkdtempSync(join(tmpdir(), 'kapsa-cluster-push-'));
const env = { ...process.env, KAPSA_CLUSTER_DIR: stateDir };
let cluster: ChildProcess | undefined;
let output = '';

function startCluster(): ChildProcess {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'hooks', 'cli', 'kapsa.ts'), 'cluster'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return child;
}

/** Every process below `pid`, read from /proc (children of children included). */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of parents.get(queue.shift() ?? -1) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

afterAll(() => {
  if (cluster?.exitCode === null) cluster.kill('SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe.sequential('npm run cluster', () => {
  it('brings the sample Project to Ready with its URLs and prints what to do next', async () => {
    cluster = startCluster();
    await waitFor(() => /Project shop is Ready in \d+ s: https:\/\//.test(output) || cluster?.exitCode !== null, { timeoutMs: 240_000, intervalMs: 250, description: 'the Ready line' });
    expect(cluster.exitCode, output).toBeNull();
    expect(output).toMatch(/export KUBECONFIG=\S+/);
    expect(output).toContain('kubectl get projects,environments -A');
    expect(output).toMatch(/git clone http:\/\/127\.0\.0\.1:\d+\/shop\.git/);
  });

  it('a branch pushed over HTTP to the sample repository gets its preview', async () => {
    const url = /git clone (http:\/\/127\.0\.0\.1:\d+\/shop\.git)/.exec(output)?.[1] ?? '';
    const checkout = join(work, 'shop');
    await git(work, ['clone', '-q', url, checkout]);
    await git(checkout, ['switch', '-q', '-c', 'feature/checkout']);
    await git(checkout, ['commit', '-q', '--allow-empty', '-m', 'checkout']);
    await git(checkout, ['push', '-q', 'origin', 'feature/checkout']);
    const kubeconfig = readFileSync(join(stateDir, 'kubeconfig'), 'utf8');
    const client = new KubeClient({ url: /server: (\S+)/.exec(kubeconfig)?.[1] ?? '', token: /token: (\S+)/.exec(kubeconfig)?.[1] ?? '' });
    try {
      const started = Date.now();
      await waitFor(
        async () => (await client.list('kapsa-project.io/v1alpha1', 'Environment', { namespace: 'shop' })).items.some((item) => (item.spec as { branch?: string }).branch === 'feature/checkout'),
        { timeoutMs: 60_000, intervalMs: 250, description: 'the feature/checkout preview' },
      );
      console.log(`[e2e] npm run cluster: push to preview Environment in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      client.close();
    }
  });

  it('a second run while one is up says so and exits 1', async () => {
    let second = '';
    const child = spawn(process.execPath, [join(REPO_ROOT, 'hooks', 'cli', 'kapsa.ts'), 'cluster'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (second += chunk));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(1);
    expect(second).toMatch(/already running \(pid \d+\)/);
  });

  it('Ctrl-C stops every process it started and removes its state', async () => {
    const pid = cluster?.pid ?? 0;
    const started = descendants(pid);
    expect(started.length).toBeGreaterThan(5);
    const exited = new Promise<number | null>((r) => cluster?.on('exit', r));
    cluster?.kill('SIGINT');
    expect(await exited).toBe(0);
    await waitFor(() => started.every((child) => !alive(child)), { timeoutMs: 20_000, description: 'every started process to be gone' });
    expect(readdirSync(stateDir)).toEqual([]);
  });
});

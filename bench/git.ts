/**
 * Git polling: one poll of a large repository with isomorphic-git (listBranchHeads, protocol v2
 * with the refs/heads/ prefix) against `git ls-remote --heads` on the same server, and many
 * repositories polled at once through a PollScheduler under its concurrency bound.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { EgressPolicy } from '../hooks/git-poller/egress.ts';
import { listBranchHeads, type PollOutcome } from '../hooks/git-poller/remote.ts';
import { PollScheduler, type PollSource } from '../hooks/git-poller/scheduler.ts';
import type { GitServerMessage } from './git-server.ts';
import { forkChild, stopChild, waitForMessage } from './http.ts';
import { median } from './report.ts';

const run = promisify(execFile);
const GIT_SERVER_SCRIPT = path.join(import.meta.dirname, 'git-server.ts');

export interface GitOptions {
  branches: number;
  repos: number;
  repoBranches: number;
  iterations: number;
  maxConcurrent: number;
  maxSeconds: number;
}

export interface SinglePoll {
  branches: number;
  iterations: number;
  /** Median wall time of listBranchHeads, ms. */
  isomorphicMs: number;
  /** Median CPU time this process spent per listBranchHeads (parsing and building the heads), ms. */
  isomorphicCpuMs: number;
  protocolVersion: number | undefined;
  /** Median wall time of `git ls-remote --heads`, ms. */
  lsRemoteMs: number;
  lsRemoteBranches: number;
  heapGrowth: number;
}

export interface ManyPolls {
  repos: number;
  /** Branches of each repository (main included). */
  repoBranches: number;
  bound: number;
  wallMs: number;
  /** The same polls one after the other, without the scheduler: the floor. */
  sequentialMs: number;
  /** Sum of the individual poll durations while they ran at once. */
  sumMs: number;
  meanPollMs: number;
  maxObservedConcurrent: number;
  ok: number;
  sources: Record<PollSource, number>;
  /** The same 50 calls again right away: every one answered from the scheduler's cache. */
  cachedWallMs: number;
  cachedSources: Record<PollSource, number>;
}

export interface GitResult {
  single: SinglePoll;
  many: ManyPolls;
  setupMs: number;
}

function countSources(results: Array<{ source: PollSource }>): Record<PollSource, number> {
  const counts: Record<PollSource, number> = { polled: 0, shared: 0, cached: 0, deadline: 0 };
  for (const result of results) counts[result.source]++;
  return counts;
}

async function lsRemote(url: string): Promise<number> {
  const { stdout } = await run('git', ['-c', 'protocol.version=2', 'ls-remote', '--heads', url], {
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
    maxBuffer: 256 * 1024 * 1024,
    timeout: 120_000,
  });
  return stdout.split('\n').filter((line) => line.includes('\trefs/heads/')).length;
}

function expectOk(outcome: PollOutcome, branches: number, what: string): Extract<PollOutcome, { ok: true }> {
  if (!outcome.ok) throw new Error(`${what}: poll failed (${outcome.reason}: ${outcome.message})`);
  const count = Object.keys(outcome.heads).length;
  if (count !== branches) throw new Error(`${what}: expected ${branches} branches, got ${count}`);
  return outcome;
}

export async function gitBenchmark(options: GitOptions): Promise<GitResult> {
  const setupStart = performance.now();
  const child = forkChild(GIT_SERVER_SCRIPT, [
    '--branches',
    String(options.branches),
    '--repos',
    String(options.repos),
    '--repo-branches',
    String(options.repoBranches),
    '--max-seconds',
    String(Math.ceil(options.maxSeconds)),
  ]);
  try {
    const ready = await waitForMessage<GitServerMessage>(child, 'ready', 180_000);
    const setupMs = performance.now() - setupStart;
    const policy: EgressPolicy = { allowHttp: true, allowedHosts: [ready.hostPort] };
    const manyUrl = `${ready.baseUrl}/${ready.many}`;
    const poll = (url: string) => listBranchHeads({ url, policy, timeoutMs: 60_000 });

    // Warm both clients once (JIT, git's own start-up caches).
    expectOk(await poll(manyUrl), ready.manyBranches, 'warm-up');
    await lsRemote(manyUrl);

    const isoTimes: number[] = [];
    const isoCpu: number[] = [];
    const lsTimes: number[] = [];
    let protocolVersion: number | undefined;
    let lsRemoteBranches = 0;
    const heapBefore = process.memoryUsage().heapUsed;
    for (let i = 0; i < options.iterations; i++) {
      const cpu = process.cpuUsage();
      const started = performance.now();
      const outcome = expectOk(await poll(manyUrl), ready.manyBranches, 'listBranchHeads');
      isoTimes.push(performance.now() - started);
      const used = process.cpuUsage(cpu);
      isoCpu.push((used.user + used.system) / 1000);
      protocolVersion = outcome.protocolVersion;

      const lsStarted = performance.now();
      lsRemoteBranches = await lsRemote(manyUrl);
      lsTimes.push(performance.now() - lsStarted);
    }
    const single: SinglePoll = {
      branches: ready.manyBranches,
      iterations: options.iterations,
      isomorphicMs: median(isoTimes),
      isomorphicCpuMs: median(isoCpu),
      protocolVersion,
      lsRemoteMs: median(lsTimes),
      lsRemoteBranches,
      heapGrowth: process.memoryUsage().heapUsed - heapBefore,
    };

    // Many repositories: first one at a time (the floor), then all at once through the scheduler.
    const sequentialStart = performance.now();
    for (const name of ready.repos) expectOk(await poll(`${ready.baseUrl}/${name}`), ready.repoBranches, name);
    const sequentialMs = performance.now() - sequentialStart;
    const scheduler = new PollScheduler({ maxConcurrent: options.maxConcurrent });
    let active = 0;
    let maxActive = 0;
    const durations: number[] = [];
    const urls = ready.repos.map((name) => `${ready.baseUrl}/${name}`);
    const request = (url: string) => ({
      url,
      intervalSeconds: 60,
      waitMs: 120_000,
      poll: async () => {
        active++;
        maxActive = Math.max(maxActive, active, scheduler.running);
        const started = performance.now();
        try {
          return await poll(url);
        } finally {
          durations.push(performance.now() - started);
          active--;
        }
      },
    });
    const started = performance.now();
    const results = await Promise.all(urls.map((url) => scheduler.run(request(url))));
    const wallMs = performance.now() - started;
    const ok = results.filter((result) => result.outcome.ok && Object.keys(result.outcome.heads).length === ready.repoBranches).length;
    const cachedStart = performance.now();
    const cached = await Promise.all(urls.map((url) => scheduler.run(request(url))));
    const cachedWallMs = performance.now() - cachedStart;
    const sumMs = durations.reduce((sum, value) => sum + value, 0);
    const many: ManyPolls = {
      repos: urls.length,
      repoBranches: ready.repoBranches,
      bound: options.maxConcurrent,
      wallMs,
      sequentialMs,
      sumMs,
      meanPollMs: urls.length === 0 ? Number.NaN : sumMs / Math.max(1, results.filter((result) => result.source === 'polled').length),
      maxObservedConcurrent: maxActive,
      ok,
      sources: countSources(results),
      cachedWallMs,
      cachedSources: countSources(cached),
    };
    return { single, many, setupMs };
  } finally {
    await stopChild(child, 10_000);
  }
}

/**
 * HTTP side of the benchmarks: servers in child processes (bench/server.ts), autocannon in this
 * process, latencies recorded per response at full resolution.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import autocannon from 'autocannon';
import { percentile } from './report.ts';
import type { ServerKind, ServerMessage } from './server.ts';

const SERVER_SCRIPT = path.join(import.meta.dirname, 'server.ts');

export interface MemoryUsage {
  rss: number;
  heapUsed: number;
  heapTotal: number;
}

export interface ServerHandle {
  kind: ServerKind;
  port: number;
  pid: number;
  url(route: string): string;
  memory(): Promise<MemoryUsage>;
  /** Current RSS from /proc (no work in the server); undefined where /proc is not available. */
  rss(): number | undefined;
  stop(): Promise<void>;
}

/** Every child this process started, so an early exit can still end them (by pid). */
export const children = new Set<ChildProcess>();

export function killChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

export function waitForMessage<T extends { type: string }>(child: ChildProcess, type: T['type'], timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`child ${child.pid} sent no ${type} message within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: unknown) => {
      if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type) {
        cleanup();
        resolve(message as T);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`child ${child.pid} exited (${code}) before sending ${type}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

export function procRss(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** Forks `script` with Node (type stripping) and an IPC channel; the child is ended by stop(). */
export function forkChild(script: string, args: string[]): ChildProcess {
  const child = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execPath: process.execPath });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

export async function stopChild(child: ChildProcess, timeoutMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.disconnect();
  else child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

export async function startServer(kind: ServerKind, maxSeconds: number): Promise<ServerHandle> {
  const child = forkChild(SERVER_SCRIPT, [kind, '--max-seconds', String(Math.ceil(maxSeconds))]);
  const ready = await waitForMessage<Extract<ServerMessage, { type: 'ready' }>>(child, 'ready', 30_000);
  return {
    kind,
    port: ready.port,
    pid: ready.pid,
    url: (route) => `http://127.0.0.1:${ready.port}${route}`,
    async memory() {
      const reply = waitForMessage<Extract<ServerMessage, { type: 'memory' }>>(child, 'memory', 10_000);
      child.send({ type: 'memory' });
      const usage = await reply;
      return { rss: usage.rss, heapUsed: usage.heapUsed, heapTotal: usage.heapTotal };
    },
    rss: () => procRss(ready.pid),
    stop: () => stopChild(child),
  };
}

export interface LoadOptions {
  url: string;
  body: string;
  headers?: Record<string, string>;
  connections: number;
  durationSeconds: number;
  /** Requests per second across all connections (open-loop); unset = as fast as the server answers. */
  overallRate?: number;
  /** Sampled every 250 ms while the load runs; the maximum is reported. */
  sampleRss?: () => number | undefined;
}

export interface LoadResult {
  responses: number;
  seconds: number;
  rps: number;
  /** Latency percentiles in ms, from every response (full resolution). */
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  /** autocannon's own p99 (whole milliseconds; corrected for coordinated omission with overallRate). */
  autocannonP99: number;
  /** Responses by status code. */
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  /** Mean response size on the wire (status line, headers and body). */
  bytesPerResponse: number;
  bytesPerSecond: number;
  peakRss?: number;
  /** Every latency (ms), sorted; for merging runs. */
  latencies: Float64Array;
  responseBytes: number;
}

/** Several runs of the same load as one (interleaved runs of two loads resist drift on a busy machine). */
export function mergeLoads(results: readonly LoadResult[]): LoadResult {
  const latencies = Float64Array.from(results.flatMap((result) => Array.from(result.latencies))).sort();
  const responses = latencies.length;
  const seconds = results.reduce((sum, result) => sum + result.seconds, 0);
  const responseBytes = results.reduce((sum, result) => sum + result.responseBytes, 0);
  const statuses: Record<string, number> = {};
  for (const result of results) for (const [code, count] of Object.entries(result.statuses)) statuses[code] = (statuses[code] ?? 0) + count;
  const peaks = results.flatMap((result) => (result.peakRss === undefined ? [] : [result.peakRss]));
  const merged: LoadResult = {
    responses,
    seconds,
    rps: responses / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    p999: percentile(latencies, 99.9),
    max: latencies[latencies.length - 1] ?? Number.NaN,
    mean: responses === 0 ? Number.NaN : latencies.reduce((sum, value) => sum + value, 0) / responses,
    autocannonP99: Math.max(...results.map((result) => result.autocannonP99)),
    statuses,
    errors: results.reduce((sum, result) => sum + result.errors, 0),
    timeouts: results.reduce((sum, result) => sum + result.timeouts, 0),
    bytesPerResponse: responses === 0 ? Number.NaN : responseBytes / responses,
    bytesPerSecond: responseBytes / seconds,
    latencies,
    responseBytes,
  };
  if (peaks.length > 0) merged.peakRss = Math.max(...peaks);
  return merged;
}

export async function load(options: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let responseBytes = 0;
  let peakRss: number | undefined;
  const sample = () => {
    const rss = options.sampleRss?.();
    if (rss !== undefined) peakRss = Math.max(peakRss ?? 0, rss);
  };
  const sampler = options.sampleRss ? setInterval(sample, 250) : undefined;
  const started = performance.now();
  const instance = autocannon({
    url: options.url,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    body: options.body,
    connections: options.connections,
    duration: options.durationSeconds,
    timeout: 30,
    ...(options.overallRate !== undefined ? { overallRate: Math.max(1, Math.round(options.overallRate)) } : {}),
  });
  instance.on('response', (_client: unknown, statusCode: number, resBytes: number, responseTime: number) => {
    if (latencies.length < 5_000_000) latencies.push(responseTime);
    statuses[String(statusCode)] = (statuses[String(statusCode)] ?? 0) + 1;
    responseBytes += resBytes;
  });
  let result;
  try {
    result = await instance;
  } finally {
    if (sampler) clearInterval(sampler);
  }
  sample();
  const seconds = (performance.now() - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  const responses = latencies.length;
  const mean = responses === 0 ? Number.NaN : latencies.reduce((sum, value) => sum + value, 0) / responses;
  const loadResult: LoadResult = {
    responses,
    seconds,
    rps: responses / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mean,
    autocannonP99: result.latency.p99,
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    bytesPerResponse: responses === 0 ? Number.NaN : responseBytes / responses,
    bytesPerSecond: responseBytes / seconds,
    latencies: sorted,
    responseBytes,
  };
  if (peakRss !== undefined) loadResult.peakRss = peakRss;
  return loadResult;
}

export interface PacedOptions {
  url: string;
  body: string;
  headers?: Record<string, string>;
  /** Requests per second, sent at evenly spaced instants. */
  rate: number;
  durationSeconds: number;
  /** Keep-alive connections the requests are spread over (a request waits when all are busy). */
  connections: number;
}

/**
 * Open-loop load with evenly spaced arrivals. autocannon's `overallRate` hands every connection
 * its quota at the start of each second, so N connections fire together and queue behind each
 * other; this sends request i at start + i / rate and measures its latency from that instant (so
 * time spent waiting for a free connection or a late timer counts: coordinated omission corrected).
 */
export async function pacedLoad(options: PacedOptions): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const url = new URL(options.url);
  const payload = Buffer.from(options.body);
  const headers = { 'content-type': 'application/json', 'content-length': String(payload.length), ...options.headers };
  const total = Math.max(1, Math.round(options.rate * options.durationSeconds));
  const interval = 1000 / options.rate;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let responseBytes = 0;
  const inFlight = new Set<Promise<void>>();
  const send = (scheduled: number) => {
    const done = new Promise<void>((resolve) => {
      const request = http.request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers, agent, timeout: 30_000 },
        (response) => {
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
          });
          response.on('end', () => {
            latencies.push(performance.now() - scheduled);
            statuses[String(response.statusCode)] = (statuses[String(response.statusCode)] ?? 0) + 1;
            // Body only: the status line and headers are a few hundred bytes either way.
            responseBytes += size;
            resolve();
          });
          response.on('error', () => {
            errors++;
            resolve();
          });
        },
      );
      request.on('timeout', () => request.destroy(new Error('timeout')));
      request.on('error', () => {
        errors++;
        resolve();
      });
      request.end(payload);
    });
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
  };
  const started = performance.now();
  let next = 0;
  while (next < total) {
    const now = performance.now();
    while (next < total && started + next * interval <= now) {
      send(started + next * interval);
      next++;
    }
    if (next < total) {
      const wait = started + next * interval - performance.now();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
    }
  }
  const deadline = new Promise<void>((resolve) => setTimeout(resolve, 30_000).unref());
  await Promise.race([Promise.all(inFlight), deadline]);
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  const sorted = Float64Array.from(latencies).sort();
  const responses = latencies.length;
  return {
    responses,
    seconds,
    rps: responses / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mean: responses === 0 ? Number.NaN : latencies.reduce((sum, value) => sum + value, 0) / responses,
    autocannonP99: Number.NaN,
    statuses,
    errors,
    timeouts: 0,
    bytesPerResponse: responses === 0 ? Number.NaN : responseBytes / responses,
    bytesPerSecond: responseBytes / seconds,
    latencies: sorted,
    responseBytes,
  };
}

/** One request with fetch, for the ETag and a sanity check of the reply. */
export async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; etag: string | undefined; bytes: number }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, signal: AbortSignal.timeout(30_000) });
  const text = await response.text();
  return { status: response.status, etag: response.headers.get('etag') ?? undefined, bytes: Buffer.byteLength(text) };
}

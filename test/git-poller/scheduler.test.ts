import { describe, expect, it } from 'vitest';
import { PollScheduler } from '../../hooks/git-poller/scheduler.ts';
import type { PollOutcome } from '../../hooks/git-poller/remote.ts';
import { clock, deferred, down, ok } from '../support/poll-doubles.ts';



const URL_A = 'https://git.example.com/a.git';

describe('PollScheduler', () => {
  it('polls at most once per interval and returns the cached outcome in between', async () => {
    const c = clock();
    const s = new PollScheduler({ now: c.now, jitterRatio: 0 });
    let polls = 0;
    const poll = async () => (polls++, ok());
    const first = await s.run({ url: URL_A, intervalSeconds: 60, waitMs: 1000, poll });
    expect(first).toMatchObject({ source: 'polled', resyncAfterSeconds: 60, outcome: ok() });
    c.advance(20);
    const second = await s.run({ url: URL_A, intervalSeconds: 60, waitMs: 1000, poll });
    expect(second).toMatchObject({ source: 'cached', resyncAfterSeconds: 40 });
    expect(polls).toBe(1);
    c.advance(40);
    expect(await s.run({ url: URL_A, intervalSeconds: 60, waitMs: 1000, poll })).toMatchObject({ source: 'polled' });
    expect(polls).toBe(2);
  });

  it('jitter is deterministic per repository and within ±10%', () => {
    const s1 = new PollScheduler();
    const s2 = new PollScheduler();
    const factors = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const url = `https://git.example.com/r${i}.git`;
      const f = s1.jitterFactor(url, undefined);
      expect(f).toBe(s2.jitterFactor(url, undefined));
      expect(f).toBeGreaterThanOrEqual(0.9);
      expect(f).toBeLessThanOrEqual(1.1);
      factors.add(Math.round(f * 100));
    }
    expect(factors.size).toBeGreaterThan(10); // actually spread
  });

  it('applies the jitter to the due time', async () => {
    const c = clock();
    const s = new PollScheduler({ now: c.now });
    const factor = s.jitterFactor(URL_A, undefined);
    const r = await s.run({ url: URL_A, intervalSeconds: 100, waitMs: 1000, poll: async () => ok() });
    expect(r.resyncAfterSeconds).toBe(Math.ceil(100 * factor));
  });

  it('backs off exponentially on consecutive failures, capped, and resets on success', async () => {
    const c = clock();
    const s = new PollScheduler({ now: c.now, jitterRatio: 0, maxBackoffSeconds: 400 });
    let result: PollOutcome = down;
    let polls = 0;
    const poll = async () => (polls++, result);
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await s.run({ url: URL_A, intervalSeconds: 60, waitMs: 1000, poll });
      expect(r.source).toBe('polled');
      delays.push(r.resyncAfterSeconds);
      // a call just before the due time is still served from the cache (the failing server is left alone)
      c.advance(r.resyncAfterSeconds - 1);
      expect((await s.run({ url: URL_A, intervalSeconds: 60, waitMs: 1000, poll })).source).toBe('cached');
      c.advance(1);
    }
    expect(delays).toEqual([60, 120, 240, 400, 400, 400]);
    expect(polls).toBe(6);
    result = ok();
    expect((await s.run({ url: URL_A, intervalSeconds: 60, waitMs: 1000, poll })).resyncAfterSeconds).toBe(60);
  });

  it('single flight: concurrent callers share one poll', async () => {
    const s = new PollScheduler({ jitterRatio: 0 });
    const gate = deferred<PollOutcome>();
    let polls = 0;
    const poll = () => (polls++, gate.promise);
    const calls = Array.from({ length: 5 }, () => s.run({ url: URL_A, intervalSeconds: 60, waitMs: 5000, poll }));
    gate.resolve(ok());
    const results = await Promise.all(calls);
    expect(polls).toBe(1);
    expect(results.map((r) => r.source)).toEqual(['polled', 'shared', 'shared', 'shared', 'shared']);
    expect(results.every((r) => r.outcome.ok)).toBe(true);
  });

  it('keys by URL and credential identity, without the secret in the key', () => {
    const s = new PollScheduler();
    const a = s.keyFor(URL_A, { username: 'u', password: 'secret-one' });
    const b = s.keyFor(URL_A, { username: 'u', password: 'secret-two' });
    const anon = s.keyFor(URL_A, undefined);
    expect(new Set([a, b, anon]).size).toBe(3);
    expect(a).not.toContain('secret-one');
    expect(a.startsWith(URL_A)).toBe(true);
    expect(s.keyFor(`${URL_A}/`, undefined)).toBe(anon);
  });

  it('bounds concurrency across repositories; waiting has a deadline reported as Timeout', async () => {
    const s = new PollScheduler({ maxConcurrent: 2, jitterRatio: 0 });
    const gates = Array.from({ length: 4 }, () => deferred<PollOutcome>());
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const calls = gates.map((gate, i) =>
      s.run({
        url: `https://git.example.com/r${i}.git`,
        intervalSeconds: 60,
        waitMs: i === 3 ? 50 : 5000,
        poll: async () => {
          started.push(i);
          running++;
          peak = Math.max(peak, running);
          const result = await gate.promise;
          running--;
          return result;
        },
      }),
    );
    await new Promise((r) => setTimeout(r, 10));
    expect(started).toEqual([0, 1]);
    expect(s.running).toBe(2);
    expect(s.waiting).toBe(2);
    // r3 gives up waiting after 50ms
    const r3 = await calls[3];
    expect(r3).toMatchObject({ source: 'deadline', outcome: { ok: false, reason: 'Timeout' } });
    gates[0]!.resolve(ok());
    gates[1]!.resolve(ok());
    gates[2]!.resolve(ok());
    gates[3]!.resolve(ok('b'.repeat(40)));
    await Promise.all(calls);
    expect(peak).toBe(2);
    expect(started).toEqual([0, 1, 2, 3]);
    // the abandoned poll still ran and its answer is cached for the next call
    await new Promise((r) => setTimeout(r, 10));
    const again = await s.run({ url: 'https://git.example.com/r3.git', intervalSeconds: 60, waitMs: 10, poll: async () => down });
    expect(again).toMatchObject({ source: 'cached', outcome: ok('b'.repeat(40)) });
  });

  it('a poll that throws becomes a failure outcome', async () => {
    const s = new PollScheduler();
    const r = await s.run({ url: URL_A, intervalSeconds: 60, waitMs: 1000, poll: async () => Promise.reject(new Error('boom')) });
    expect(r.outcome).toMatchObject({ ok: false, reason: 'InvalidResponse' });
  });

  it('forgets the least recently used entries beyond maxEntries', async () => {
    const c = clock();
    const s = new PollScheduler({ now: c.now, maxEntries: 3 });
    for (let i = 0; i < 5; i++) {
      c.advance(1);
      await s.run({ url: `https://git.example.com/r${i}.git`, intervalSeconds: 60, waitMs: 1000, poll: async () => ok() });
    }
    expect(s.size).toBe(3);
  });
});

/**
 * The scheduler's answer to reconcile requests, with polls as controllable promises so the order
 * of "request seen" and "poll began" is exact. The same rules against the real git server are in
 * reconcile.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { PollScheduler } from '../../hooks/git-poller/scheduler.ts';
import type { PollOutcome } from '../../hooks/git-poller/remote.ts';
import { clock, deferred, down, ok } from '../support/poll-doubles.ts';

const URL_A = 'https://git.example.com/org/a.git';


/** A poll function that counts its calls and answers with the current head. */
function counter(head = () => ok()) {
  const state = { polls: 0, poll: async () => (state.polls++, head()) };
  return state;
}

describe('PollScheduler reconcile requests', () => {
  it('a request polls past the interval and the cache; the same request again is answered from the cache', async () => {
    const c = clock();
    const s = new PollScheduler({ now: c.now, jitterRatio: 0 });
    const p = counter();
    await s.run({ url: URL_A, intervalSeconds: 600, waitMs: 1000, poll: p.poll });
    c.advance(10);
    const forced = await s.run({ url: URL_A, intervalSeconds: 600, waitMs: 1000, poll: p.poll, reconcile: 'shop\0t1' });
    expect(forced).toMatchObject({ source: 'polled', reconcile: 'handled', resyncAfterSeconds: 600 });
    expect(p.polls).toBe(2);
    // Metacontroller retrying the same call (its update lost a conflict) does not poll again.
    c.advance(1);
    expect(await s.run({ url: URL_A, intervalSeconds: 600, waitMs: 1000, poll: p.poll, reconcile: 'shop\0t1' })).toMatchObject({ source: 'cached', reconcile: 'handled' });
    expect(p.polls).toBe(2);
  });

  it('polls past the failure backoff', async () => {
    const c = clock();
    const s = new PollScheduler({ now: c.now, jitterRatio: 0 });
    const p = counter(() => down);
    for (let i = 0; i < 4; i++) {
      const r = await s.run({ url: URL_A, intervalSeconds: 60, waitMs: 1000, poll: p.poll });
      c.advance(r.resyncAfterSeconds);
    }
    // backoff now 480s
    c.advance(1);
    const forced = await s.run({ url: URL_A, intervalSeconds: 60, waitMs: 1000, poll: p.poll, reconcile: 'x' });
    expect(forced).toMatchObject({ source: 'polled', reconcile: 'handled', outcome: down });
    expect(p.polls).toBe(5);
  });

  it('a request arriving 2s after a forced poll is not answered with it: it waits for the window, then polls', async () => {
    const c = clock();
    const s = new PollScheduler({ now: c.now, jitterRatio: 0, reconcileMinIntervalSeconds: 5 });
    let head = 'a'.repeat(40);
    const p = counter(() => ok(head));
    await s.run({ url: URL_A, intervalSeconds: 600, waitMs: 1000, poll: p.poll });
    c.advance(30);
    expect(await s.run({ url: URL_A, intervalSeconds: 600, waitMs: 1000, poll: p.poll, reconcile: 'push-1' })).toMatchObject({ reconcile: 'handled' });
    expect(p.polls).toBe(2);
    // A second push 2s later.
    c.advance(2);
    head = 'b'.repeat(40);
    const early = await s.run({ url: URL_A, intervalSeconds: 600, waitMs: 1000, poll: p.poll, reconcile: 'push-2' });
    expect(early).toMatchObject({ source: 'cached', reconcile: 'waiting', resyncAfterSeconds: 3, outcome: ok('a'.repeat(40)) });
    expect(p.polls).toBe(2);
    // The resync Metacontroller was asked for.
    c.advance(3);
    const late = await s.run({ url: URL_A, intervalSeconds: 600, waitMs: 1000, poll: p.poll, reconcile: 'push-2' });
    expect(late).toMatchObject({ source: 'polled', reconcile: 'handled', outcome: ok('b'.repeat(40)) });
    expect(p.polls).toBe(3);
  });

  it('a poll already talking to the server when the request arrives does not answer it; one queued for a slot does', async () => {
    const c = clock();
    const s = new PollScheduler({ now: c.now, jitterRatio: 0, maxConcurrent: 1 });
    const gates = [deferred<PollOutcome>(), deferred<PollOutcome>(), deferred<PollOutcome>()];
    let polls = 0;
    const poll = () => gates[polls++]!.promise;
    // An ordinary poll of A is in flight.
    const ordinary = s.run({ url: URL_A, intervalSeconds: 600, waitMs: 5000, poll });
    await Promise.resolve();
    const request = s.run({ url: URL_A, intervalSeconds: 600, waitMs: 5000, poll, reconcile: 'r1' });
    gates[0]!.resolve(ok('a'.repeat(40)));
    await ordinary;
    await new Promise((r) => setTimeout(r, 5));
    // The request started its own (forced) poll rather than taking the one that began before it.
    expect(polls).toBe(2);
    gates[1]!.resolve(ok('b'.repeat(40)));
    expect(await request).toMatchObject({ source: 'polled', reconcile: 'handled', outcome: ok('b'.repeat(40)) });

    // B holds the only slot; a poll of A queues behind it, and a request seen while it queues shares it.
    const other = 'https://git.example.com/org/b.git';
    const holder = deferred<PollOutcome>();
    const busy = s.run({ url: other, intervalSeconds: 600, waitMs: 5000, poll: () => holder.promise });
    c.advance(601);
    const queued = s.run({ url: URL_A, intervalSeconds: 600, waitMs: 5000, poll });
    await Promise.resolve();
    expect(s.waiting).toBe(1);
    const joined = s.run({ url: URL_A, intervalSeconds: 600, waitMs: 5000, poll, reconcile: 'r2' });
    holder.resolve(ok());
    await busy;
    await new Promise((r) => setTimeout(r, 5));
    gates[2]!.resolve(ok('c'.repeat(40)));
    await queued;
    expect(await joined).toMatchObject({ source: 'shared', reconcile: 'handled', outcome: ok('c'.repeat(40)) });
    expect(polls).toBe(3);
  });

  it('a burst of requests from many Projects of one repository shares one poll per window', async () => {
    const c = clock();
    const s = new PollScheduler({ now: c.now, jitterRatio: 0, reconcileMinIntervalSeconds: 5 });
    const gate = deferred<PollOutcome>();
    let polls = 0;
    const poll = () => (polls++, polls === 1 ? gate.promise : Promise.resolve(ok('b'.repeat(40))));
    await s.run({ url: URL_A, intervalSeconds: 600, waitMs: 1000, poll: async () => ok() });
    c.advance(60);
    const burst = Array.from({ length: 50 }, (_, i) => s.run({ url: URL_A, intervalSeconds: 600, waitMs: 5000, poll, reconcile: `p${i % 20}\0v${i}` }));
    gate.resolve(ok('b'.repeat(40)));
    const results = await Promise.all(burst);
    expect(polls).toBe(1);
    expect(results.every((r) => r.reconcile === 'handled')).toBe(true);
    // A second burst inside the window waits, whatever its size, and its resync lands at the window's end.
    c.advance(1);
    const second = await Promise.all(Array.from({ length: 50 }, (_, i) => s.run({ url: URL_A, intervalSeconds: 600, waitMs: 5000, poll, reconcile: `p${i % 20}\0w${i}` })));
    expect(polls).toBe(1);
    expect(new Set(second.map((r) => `${r.reconcile}/${r.resyncAfterSeconds}`))).toEqual(new Set(['waiting/4']));
    c.advance(4);
    const third = await Promise.all(Array.from({ length: 50 }, (_, i) => s.run({ url: URL_A, intervalSeconds: 600, waitMs: 5000, poll, reconcile: `p${i % 20}\0w${i}` })));
    expect(polls).toBe(2);
    expect(third.every((r) => r.reconcile === 'handled')).toBe(true);
  });

  it('spellings of one repository share the window; other credentials or repositories do not', async () => {
    const c = clock();
    const s = new PollScheduler({ now: c.now, jitterRatio: 0, reconcileMinIntervalSeconds: 5 });
    const p = counter();
    const spellings = [URL_A, 'https://git.example.com/Org/A', 'https://GIT.example.com:443/org/a'];
    for (const url of spellings) await s.run({ url, intervalSeconds: 600, waitMs: 1000, poll: p.poll });
    expect(p.polls).toBe(3); // the cache is per spelling
    c.advance(60);
    const answers = [];
    for (const url of spellings) answers.push(await s.run({ url, intervalSeconds: 600, waitMs: 1000, poll: p.poll, reconcile: 'r' }));
    expect(answers.map((r) => r.reconcile)).toEqual(['handled', 'waiting', 'waiting']);
    expect(p.polls).toBe(4);
    expect(s.repositoryKeyFor(spellings[1]!, undefined)).toBe(s.repositoryKeyFor(URL_A, undefined));
    expect(s.repositoryKeyFor(URL_A, { username: 'u', password: 'p' })).not.toBe(s.repositoryKeyFor(URL_A, undefined));
    expect(s.repositoryKeyFor(URL_A, { username: 'u', password: 'p' })).not.toContain('p@');
    // Different credentials or another repository: their own window.
    expect(await s.run({ url: URL_A, credentials: { username: 'u', password: 'p' }, intervalSeconds: 600, waitMs: 1000, poll: p.poll, reconcile: 'r' })).toMatchObject({ reconcile: 'handled' });
    expect(await s.run({ url: 'https://git.example.com/org/b.git', intervalSeconds: 600, waitMs: 1000, poll: p.poll, reconcile: 'r' })).toMatchObject({ reconcile: 'handled' });
  });

  it('keeps the concurrency bound across forced polls and reports a deadline as waiting', async () => {
    const s = new PollScheduler({ maxConcurrent: 2, jitterRatio: 0 });
    const gates = Array.from({ length: 4 }, () => deferred<PollOutcome>());
    let running = 0;
    let peak = 0;
    const calls = gates.map((gate, i) =>
      s.run({
        url: `https://git.example.com/r${i}.git`,
        intervalSeconds: 600,
        waitMs: i === 3 ? 50 : 5000,
        reconcile: 'now',
        poll: async () => {
          running++;
          peak = Math.max(peak, running);
          const result = await gate.promise;
          running--;
          return result;
        },
      }),
    );
    await new Promise((r) => setTimeout(r, 10));
    expect(s.running).toBe(2);
    expect(await calls[3]).toMatchObject({ source: 'deadline', reconcile: 'waiting', outcome: { reason: 'Timeout' } });
    for (const gate of gates) gate.resolve(ok());
    await Promise.all(calls);
    expect(peak).toBe(2);
    // The abandoned poll began after the request was seen: the retry is answered by it, without a new poll.
    await new Promise((r) => setTimeout(r, 10));
    expect(await s.run({ url: 'https://git.example.com/r3.git', intervalSeconds: 600, waitMs: 10, reconcile: 'now', poll: async () => down })).toMatchObject({
      source: 'cached',
      reconcile: 'handled',
      outcome: ok(),
    });
  });

  it('remembers a bounded number of requests', async () => {
    const c = clock();
    const s = new PollScheduler({ now: c.now, jitterRatio: 0, maxEntries: 5, reconcileMinIntervalSeconds: 1 });
    const p = counter();
    for (let i = 0; i < 20; i++) {
      c.advance(1);
      await s.run({ url: URL_A, intervalSeconds: 600, waitMs: 1000, poll: p.poll, reconcile: `r${i}` });
    }
    expect(p.polls).toBe(20);
    expect((s as unknown as { requestsSeen: Map<string, number> }).requestsSeen.size).toBe(5);
  });
});

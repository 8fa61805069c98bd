/**
 * Poll outcomes, a hand-driven clock and promises resolved on demand, for the scheduler tests that
 * need an exact order of "request seen", "poll began" and "poll finished".
 */
import type { PollOutcome } from '../../hooks/git-poller/remote.ts';

export const ok = (sha = 'a'.repeat(40)): PollOutcome => ({ ok: true, heads: { main: sha }, protocolVersion: 2 });
export const down: PollOutcome = { ok: false, reason: 'Unreachable', message: 'connection refused' };

export function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (seconds: number) => (t += seconds * 1000) };
}

export function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

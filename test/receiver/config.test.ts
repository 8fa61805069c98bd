// Push webhooks misconfigured: the process stops at start with exit code 2 and a message naming the
// variable, never the key itself, instead of failing at the first webhook.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const KEY = randomBytes(32).toString('hex');

function start(env: Record<string, string>) {
  const base = { ...process.env };
  delete base.KUBERNETES_SERVICE_HOST;
  return spawnSync(join(root, 'node_modules', '.bin', 'node'), [join(root, 'hooks', 'main.ts')], {
    env: { ...base, KAPSA_PORT: '1', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('the receiver settings at start', () => {
  it.each([
    ['a key without API access outside a cluster', { KAPSA_RECEIVER_KEY: KEY }, 'KAPSA_KUBECONFIG: required with KAPSA_RECEIVER_KEY outside a cluster (no in-cluster service account)'],
    ['a kubeconfig that does not exist', { KAPSA_RECEIVER_KEY: KEY, KAPSA_KUBECONFIG: '/nonexistent/kubeconfig' }, 'KAPSA_KUBECONFIG: cannot load /nonexistent/kubeconfig: ENOENT'],
    ['a key that is too short', { KAPSA_RECEIVER_KEY: 'short-key' }, 'KAPSA_RECEIVER_KEY: must be at least 32 characters (or empty to turn push webhooks off)'],
    ['a body limit below 1 KiB', { KAPSA_RECEIVER_BODY_LIMIT: '10' }, 'KAPSA_RECEIVER_BODY_LIMIT: must be an integer from 1024 to 33554432, got "10"'],
  ])('stops with exit code 2: %s', (_name, env, message) => {
    const result = start(env);
    expect(result.status, result.stderr).toBe(2);
    expect(result.stderr).toBe(`kapsa: invalid configuration: ${message}\n`);
    expect(result.stderr).not.toContain(KEY);
  });
});

import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

describe('the service process', () => {
  it('serves, then shuts down cleanly on SIGTERM (exit 0)', async () => {
    const port = await freePort();
    const child = spawn(join(root, 'node_modules', '.bin', 'node'), [join(root, 'hooks', 'main.ts')], {
      env: { ...process.env, KAPSA_PORT: String(port), KAPSA_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      for (let attempt = 0; attempt < 100 && !output.includes('kapsa hooks listening'); attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(output).toContain('kapsa hooks listening');
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toContain('kapsa_hook_requests_total');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(output).toContain('shutting down');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

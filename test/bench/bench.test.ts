import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECTIONS, TITLE } from '../../bench/report.ts';

// A smoke run of the benchmarks: it must produce the whole report. The figures themselves are
// not checked here (speed is measured by the benchmark, never asserted by a test).

const run = promisify(execFile);
const root = path.join(import.meta.dirname, '..', '..');

let out: string;
let stdout = '';
let files: string[] = [];

beforeAll(async () => {
  out = await mkdtemp(path.join(tmpdir(), 'kapsa-bench-'));
  // The engine group needs the whole control plane: test/e2e/bench-engine.test.ts smoke-runs it.
  const result = await run(process.execPath, [path.join(root, 'bench', 'run.ts'), '--quick', '--only', 'http,inprocess,scale,git', '--out', out], {
    cwd: root,
    timeout: 115_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  stdout = result.stdout;
  files = await readdir(out);
}, 120_000);

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe('npm run bench -- --quick (all but the engine)', () => {
  it('prints the report with the machine and every section', () => {
    expect(stdout.startsWith(`${TITLE}\n`)).toBe(true);
    expect(stdout).toMatch(/^Machine: .+, \d+ cores, .+ memory, Node v\d+\.\d+\.\d+, .+$/m);
    for (const heading of Object.values(SECTIONS)) {
      expect(stdout.split('\n')).toContain(heading);
    }
    // Only the engine section is left out, and it says so.
    expect(stdout.split('Not run (--only).').length - 1).toBe(1);
    expect(stdout).toContain(`${SECTIONS.engine}\n\nNot run (--only).`);
    // Tables, not just headings.
    expect(stdout).toMatch(/^\| hook \| server \|/m);
    expect(stdout).toMatch(/^\| target \| measured \|/m);
  });

  it('writes the same report into --out, not into the repository', async () => {
    expect(files).toHaveLength(1);
    const [file] = files;
    expect(file).toMatch(/^\d{4}-\d{2}-\d{2}-quick\.md$/);
    expect(await readFile(path.join(out, file ?? ''), 'utf8')).toBe(stdout);
  });
});

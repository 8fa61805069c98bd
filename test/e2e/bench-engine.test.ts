// A smoke run of the engine section of `npm run bench`: the whole report section with every figure
// beside its floor. The figures are not checked (speed is measured by the benchmark, not asserted).
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { SECTIONS } from '../../bench/report.ts';

const run = promisify(execFile);
const root = path.join(import.meta.dirname, '..', '..');
let out: string | undefined;

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe('npm run bench -- --quick --only engine', () => {
  it('prints the engine section: push → preview, Project → Ready and the scale table, each against its floor', async () => {
    out = await mkdtemp(path.join(tmpdir(), 'kapsa-bench-engine-'));
    const { stdout } = await run(process.execPath, [path.join(root, 'bench', 'run.ts'), '--quick', '--only', 'engine', '--out', out], {
      cwd: root,
      timeout: 230_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const section = stdout.slice(stdout.indexOf(SECTIONS.engine));
    expect(section).not.toContain('Not run (--only)');
    for (const row of ['push → preview Environment created', 'push → preview Deployment Available', 'Project applied → Ready with URLs']) {
      expect(section).toMatch(new RegExp(`^\\| ${row} \\| \\d+ \\| [\\d.,]+ m?s \\| [\\d.,]+ m?s \\| [\\d.,]+ m?s \\|`, 'm'));
    }
    expect(section).toMatch(/^\| 5 \| [\d.]+ s \|/m);
    expect(section).toMatch(/^\| 20 \| [\d.]+ s \|/m);
  }, 240_000);
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { goldenEnvironment, goldenEnvironmentReply, LIBRARY_FUNCTIONS, runProbe } from '../support/library.ts';

const root = join(import.meta.dirname, '..', '..');

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

describe('the library entry (hooks/index.ts)', () => {
  it('imports without reading the environment, starting anything, adding globals or printing', () => {
    const report = runProbe(join(root, 'hooks', 'index.ts'));
    expect(report.afterImport).toEqual({ envReads: [], newGlobals: [], newResources: [], timersSet: [], output: [] });
    // The pure hooks called with the watch on read no environment either.
    expect(report.afterCalls.envReads).toEqual([]);
    expect(report.exports).toEqual(expect.arrayContaining(LIBRARY_FUNCTIONS));
    expect(goldenEnvironment.now.toISOString()).toBe('2026-11-26T12:00:00.000Z');
    expect(report.environmentReply).toEqual(goldenEnvironmentReply);
  });

  it('is watched by a probe that does see a module read the environment, start a timer or print', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kapsa-probe-'));
    made.push(dir);
    const noisy = join(dir, 'noisy.mjs');
    writeFileSync(
      noisy,
      [
        "export * from '" + join(root, 'hooks', 'index.ts') + "';",
        'export const level = process.env.KAPSA_LOG_LEVEL;',
        'globalThis.kapsaLoaded = true;',
        'setInterval(() => {}, 1000).unref();',
        "process.stdin.on('data', () => {});",
        "console.log('loaded');",
      ].join('\n'),
    );
    const report = runProbe(noisy);
    expect(report.afterImport.envReads).toEqual([expect.stringMatching(/^KAPSA_LOG_LEVEL at .*noisy\.mjs/)]);
    expect(report.afterImport.newGlobals).toEqual(['kapsaLoaded']);
    expect(report.afterImport.timersSet).toEqual(['setInterval']);
    expect(report.afterImport.newResources.length).toBeGreaterThan(0);
    expect(report.afterImport.output).toEqual(['loaded\n']);
  });
});

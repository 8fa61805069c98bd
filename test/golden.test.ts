import { describe, expect, it } from 'vitest';
import { syncDomainPool } from '../hooks/domainpool/sync.ts';
import { syncEnvironment } from '../hooks/environment/sync.ts';
import type { CompositeSyncRequest, CompositeSyncResponse } from '../hooks/lib/hook.ts';
import { projectSettings, type ProjectSettings } from '../hooks/project/settings.ts';
import { syncProject } from '../hooks/project/sync.ts';
import { defaultConfig } from '../hooks/server/config.ts';
import { loadCases, observedKeys, readExpected, replyKeys, UPDATE, writeExpected, type GoldenCase } from './support/golden.ts';

type Run = (testCase: GoldenCase) => CompositeSyncResponse;

const baseSettings = projectSettings(defaultConfig());

const controllers: Record<string, Run> = {
  domainpool: (testCase) =>
    syncDomainPool(testCase.request as unknown as CompositeSyncRequest, { now: testCase.now, settings: { kapsaNamespace: baseSettings.kapsaNamespace } }),
  environment: (testCase) => syncEnvironment(testCase.request as unknown as CompositeSyncRequest, { now: testCase.now }),
  project: (testCase) =>
    syncProject(testCase.request as unknown as CompositeSyncRequest, {
      now: testCase.now,
      settings: { ...baseSettings, ...(testCase.settings as Partial<ProjectSettings>) },
    }),
};

for (const [controller, run] of Object.entries(controllers)) {
  describe(`${controller} golden fixtures`, () => {
    const cases = loadCases(controller);
    it('has cases', () => {
      expect(cases.length).toBeGreaterThan(0);
    });
    for (const testCase of cases) {
      it(`${testCase.name}: ${testCase.description}`, () => {
        const reply = run(testCase);
        // Purity: the same input gives byte-identical output (and the input is not mutated).
        const before = JSON.stringify(testCase.request);
        const again = run(testCase);
        expect(JSON.stringify(again)).toBe(JSON.stringify(reply));
        expect(JSON.stringify(testCase.request)).toBe(before);

        // Nothing running is lost: every observed child is in the reply unless the case says why not.
        const returned = replyKeys(reply.children);
        const dropped = observedKeys(testCase.request.children).filter((key) => !returned.has(key));
        expect(dropped.sort()).toEqual([...testCase.deletes].sort());

        const plain = JSON.parse(JSON.stringify(reply)) as unknown;
        if (UPDATE) writeExpected(testCase, plain);
        const expected = readExpected(testCase);
        expect(expected, `${testCase.dir}/expected.yaml is missing (run with UPDATE_GOLDEN=1)`).toBeDefined();
        expect(plain).toEqual(expected);
      });
    }
  });
}

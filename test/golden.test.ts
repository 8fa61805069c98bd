import { describe, expect, it } from 'vitest';
import { findCases, formatReport, runCase } from '../hooks/cli/golden.ts';
import { FIXTURES, UPDATE } from './support/golden.ts';

/**
 * Every golden case under test/fixtures, run by the runner behind `kapsa test`: the request goes
 * through the service's own path (envelope check, hook, reply fields, serialisation), the reply
 * must be byte-stable over two runs, leave its input untouched, keep every observed child unless
 * the case lists it in `deletes`, and equal expected.yaml.
 */
const cases = findCases(FIXTURES);

describe('golden fixtures', () => {
  it.each(['domainpool/', 'environment/', 'project/', 'render/'])('has cases in %s', (prefix) => {
    expect(cases.filter((location) => location.name.startsWith(prefix)).length).toBeGreaterThan(0);
  });

  for (const location of cases) {
    const testCase = location.load();
    it(`${location.name}: ${testCase.description}`, async () => {
      // Kapsa's own cases run on the default settings, whatever the environment of the test run.
      const result = await runCase(location, { env: {}, update: UPDATE });
      expect(result.problems, formatReport([result])).toEqual([]);
    });
  }
});

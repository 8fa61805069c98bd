import { join } from 'node:path';
import { findCases, type RequestCase } from '../../hooks/cli/golden.ts';

/**
 * Kapsa's own golden fixtures live in `test/fixtures/<controller>/<case>/` in the layout
 * `kapsa test` reads (see hooks/cli/golden.ts for the fields of request.yaml), and are run by the
 * same runner (test/golden.test.ts). `UPDATE_GOLDEN=1 npm test` rewrites the expected files;
 * review the diff before committing it.
 */
export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

export const UPDATE = process.env.UPDATE_GOLDEN === '1';

/** The request cases of one controller, with their requests grouped as Metacontroller sends them. */
export function loadCases(controller: string): RequestCase[] {
  return findCases(join(FIXTURES, controller))
    .map((location) => location.load())
    .filter((testCase): testCase is RequestCase => testCase.kind === 'request')
    .map((testCase) => ({ ...testCase, name: testCase.name.split('/').pop() ?? testCase.name }));
}

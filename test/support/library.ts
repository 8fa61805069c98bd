import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadRequestCase } from '../../hooks/cli/golden.ts';
import { FIXTURES } from './golden.ts';

const root = join(import.meta.dirname, '..', '..');
const node = join(root, 'node_modules', '.bin', 'node');
const probe = join(root, 'test', 'support', 'import-probe.mjs');

/** What import-probe.mjs reports about one import of the library. */
export interface ProbeReport {
  afterImport: { envReads: string[]; newGlobals: string[]; newResources: string[]; timersSet: string[]; output: string[] };
  afterCalls: { envReads: string[] };
  exports: string[];
  environmentReply: unknown;
}

/** Every function the library entry must offer: each controller's sync and customize hook, and the settings. */
export const LIBRARY_FUNCTIONS = [
  'customizeDomainPool',
  'customizeProject',
  'defaultConfig',
  'gitSecretRules',
  'groupObjects',
  'loadConfig',
  'projectSettings',
  'registryCustomize',
  'registrySync',
  'syncDomainPool',
  'syncEnvironment',
  'syncProject',
  'syncProjectClaims',
];

export const goldenEnvironment = loadRequestCase(join(FIXTURES, 'environment', 'full'), 'environment/full');
export const goldenEnvironmentReply: unknown = parse(readFileSync(join(FIXTURES, 'environment', 'full', 'expected.yaml'), 'utf8'));

/** Runs the probe on `specifier` in a child process with an empty environment. */
export function runProbe(specifier: string, cwd: string = root, probeFile: string = probe): ProbeReport {
  const result = spawnSync(node, [probeFile, specifier, JSON.stringify(goldenEnvironment.request)], { cwd, encoding: 'utf8', env: {}, timeout: 60_000 });
  if (result.status !== 0) throw new Error(`the import probe failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as ProbeReport;
}

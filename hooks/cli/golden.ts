import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { ConfigError, loadConfig, type Config } from '../server/config.ts';
import { handleHook, HookRefusal, oneLine, parseHookBody } from '../server/handle-hook.ts';
import { createLogger } from '../server/logger.ts';
import { createMetrics } from '../server/metrics.ts';
import { hookRoutes } from '../server/routes.ts';
import { groupObjects, isRecord, type KubeObject, type ObjectsByType } from '../lib/objects.ts';
import { projectSettings } from '../project/settings.ts';
import { NETWORK_HOOKS } from './hook.ts';
import { formatManifests, loadObjects, render, RenderError } from './render.ts';

/**
 * Golden cases, the runner behind `kapsa test` and Kapsa's own golden tests. A case is a folder:
 *
 *   <controller>/<case>/request.yaml + expected.yaml   a hook request and the reply the service sends
 *   <any>/<case>/input.yaml + expected.yaml             CRs and what `kapsa render` makes of them
 *
 * request.yaml fields:
 *   description   what the case shows
 *   hook          `<controller>/<hook>`; by default `<the case's parent folder>/sync`
 *   now           the clock handed to the hook (default 2026-11-26T12:00:00Z)
 *   env           KAPSA_* settings of this case, over those of the runner's environment
 *   request       the Metacontroller v2 request; `children`, `attachments` and `related` may be
 *                 lists, which are grouped into the `{"Kind.apiVersion": {"ns/name": obj}}` form
 *   deletes       `Kind/name` of observed children this case is meant to remove (intent changed);
 *                 every other observed child must be in the reply
 *
 * A render case may have a case.yaml with description, now, env and `builds: succeeded|pending`.
 *
 * Besides the comparison with expected.yaml every case must be pure: the same input gives the same
 * bytes twice and is not changed by the hook.
 */

export const DEFAULT_NOW = '2026-11-26T12:00:00Z';

export interface RequestCase {
  kind: 'request';
  /** The case folder relative to the folder the cases were found in. */
  name: string;
  dir: string;
  description: string;
  hook: string;
  now: Date;
  env: Record<string, string>;
  request: Record<string, unknown>;
  deletes: string[];
}

export interface RenderCase {
  kind: 'render';
  name: string;
  dir: string;
  description: string;
  now: Date;
  env: Record<string, string>;
  builds: 'succeeded' | 'pending';
}

export type GoldenCase = RequestCase | RenderCase;

export interface CaseResult {
  name: string;
  passed: boolean;
  /** What is wrong, one line each; empty when the case passed. */
  problems: string[];
  /** A line diff of expected.yaml against what the hook gave, when they differ. */
  diff?: string;
  /** expected.yaml was (re)written. */
  updated: boolean;
}

export interface RunOptions {
  /** The KAPSA_* settings every case starts from (the process environment for `kapsa test`). */
  env: Record<string, string | undefined>;
  /** Write expected.yaml from what the hook gives. */
  update: boolean;
}

export class CaseError extends Error {
  override name = 'CaseError';
}

function readYaml(path: string): unknown {
  try {
    return parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CaseError(`${path}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
}

function timeField(value: unknown, where: string): Date {
  const now = new Date(String(value ?? DEFAULT_NOW));
  if (Number.isNaN(now.getTime())) throw new CaseError(`${where}: now is not a time: ${String(value)}`);
  return now;
}

function envField(value: unknown, where: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw new CaseError(`${where}: env must be a map of KAPSA_* variables`);
  const env: Record<string, string> = {};
  for (const [name, setting] of Object.entries(value)) {
    if (!name.startsWith('KAPSA_')) throw new CaseError(`${where}: env.${name} is not a KAPSA_* setting`);
    env[name] = Array.isArray(setting) ? setting.map(String).join(',') : String(setting);
  }
  return env;
}

/** A misspelt or outdated field would otherwise be ignored, and the case would test something else than it says. */
function refuseUnknownFields(raw: Record<string, unknown>, known: readonly string[], where: string): void {
  const unknown = Object.keys(raw).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new CaseError(`${where}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${known.join(', ')})`);
}

function grouped(value: unknown): ObjectsByType | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? groupObjects(value as KubeObject[]) : (value as ObjectsByType);
}

export function loadRequestCase(dir: string, name: string): RequestCase {
  const where = join(dir, 'request.yaml');
  const raw = readYaml(where);
  if (!isRecord(raw) || !isRecord(raw.request)) throw new CaseError(`${where}: must hold a \`request\` map (the Metacontroller request)`);
  refuseUnknownFields(raw, ['description', 'hook', 'now', 'env', 'request', 'deletes'], where);
  const request = { ...raw.request };
  for (const field of ['children', 'related', 'attachments'] as const) {
    const value = grouped(request[field]);
    if (value !== undefined) request[field] = value;
  }
  return {
    kind: 'request',
    name,
    dir,
    description: String(raw.description ?? ''),
    hook: typeof raw.hook === 'string' ? raw.hook : `${basename(dirname(dir))}/sync`,
    now: timeField(raw.now, where),
    env: envField(raw.env, where),
    request,
    deletes: Array.isArray(raw.deletes) ? raw.deletes.map(String) : [],
  };
}

function loadRenderCase(dir: string, name: string): RenderCase {
  const where = join(dir, 'case.yaml');
  const raw = existsSync(where) ? readYaml(where) : {};
  if (!isRecord(raw)) throw new CaseError(`${where}: must be a map`);
  refuseUnknownFields(raw, ['description', 'now', 'env', 'builds'], where);
  const builds = raw.builds ?? 'succeeded';
  if (builds !== 'succeeded' && builds !== 'pending') throw new CaseError(`${where}: builds must be succeeded or pending`);
  return { kind: 'render', name, dir, description: String(raw.description ?? ''), now: timeField(raw.now, where), env: envField(raw.env, where), builds };
}

/** Every case folder below `root`, sorted by name; a case folder is not searched further. */
export function findCases(root: string): Array<{ name: string; dir: string; load(): GoldenCase }> {
  const found: Array<{ name: string; dir: string; load(): GoldenCase }> = [];
  const walk = (dir: string) => {
    const name = relative(root, dir) || basename(dir);
    if (existsSync(join(dir, 'request.yaml'))) {
      found.push({ name, dir, load: () => loadRequestCase(dir, name) });
      return;
    }
    if (existsSync(join(dir, 'input.yaml'))) {
      found.push({ name, dir, load: () => loadRenderCase(dir, name) });
      return;
    }
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.isDirectory() && !entry.name.startsWith('.') && entry.name !== 'node_modules') walk(join(dir, entry.name));
    }
  };
  walk(root);
  return found;
}

/** `Kind/name` of every object in a grouped map. */
export function observedKeys(objects: unknown): string[] {
  if (!isRecord(objects)) return [];
  return Object.values(objects).flatMap((group) =>
    isRecord(group) ? Object.values(group).map((object) => `${String((object as KubeObject).kind)}/${String((object as KubeObject).metadata?.name ?? '')}`) : [],
  );
}

function replyKeys(objects: unknown): Set<string> {
  if (!Array.isArray(objects)) return new Set();
  return new Set(objects.filter(isRecord).map((object) => `${String(object.kind)}/${String(isRecord(object.metadata) ? object.metadata.name : '')}`));
}

function caseConfig(testCase: GoldenCase, options: RunOptions): Config {
  try {
    return loadConfig({ ...options.env, ...testCase.env });
  } catch (error) {
    if (error instanceof ConfigError) throw new CaseError(`invalid settings: ${error.message}`);
    throw error;
  }
}

/** The reply the service sends for the case's request: the bytes, or the refusal as a problem. */
async function answer(testCase: RequestCase, config: Config): Promise<string> {
  // A fresh route table per answer, so no state of an earlier call (phase trackers) can leak in.
  const routes = hookRoutes({ config, metrics: createMetrics(false), clock: () => testCase.now });
  const route = routes.find((candidate) => `${candidate.controller}/${candidate.hook}` === testCase.hook);
  if (!route) throw new CaseError(`no hook ${testCase.hook} (name it with \`hook: <controller>/<hook>\` or put the case below a folder named for its controller)`);
  const network = NETWORK_HOOKS[testCase.hook];
  if (network) throw new CaseError(`${network}; golden cases run only the hooks that need no network`);
  // The checks the service makes on the body as it arrives (strict JSON, bounded depth) come first;
  // the hook then gets the case's own object, so that a change to its input shows.
  try {
    parseHookBody(JSON.stringify(testCase.request));
  } catch (error) {
    if (error instanceof HookRefusal) throw new CaseError(`the service refuses the request (${error.statusCode}): ${error.message}`);
    throw error;
  }
  const log = createLogger({ level: 'silent', format: 'json' }, process.stderr);
  let result;
  try {
    result = await handleHook(route, testCase.request, { log, now: testCase.now });
  } catch (error) {
    throw new CaseError(`the hook failed (the service would answer 500): ${oneLine(error instanceof Error ? error.message : String(error))}`);
  }
  if (!result.ok) throw new CaseError(`the service refuses the request (${result.statusCode}): ${result.message}`);
  return result.body;
}

interface Produced {
  /** What the case produces, as the value compared with expected.yaml. */
  value: unknown;
  /** Bytes of two runs: they must be equal. */
  first: string;
  second: string;
  problems: string[];
}

async function produceRequest(testCase: RequestCase, config: Config): Promise<Produced> {
  const before = JSON.stringify(testCase.request);
  const first = await answer(testCase, config);
  const second = await answer(testCase, config);
  const problems: string[] = [];
  if (JSON.stringify(testCase.request) !== before) problems.push('the hook changed its input');
  const value = JSON.parse(first) as Record<string, unknown>;
  // Nothing running is lost: every observed child is in the reply unless the case says why not.
  const observed = observedKeys(testCase.request.children ?? testCase.request.attachments);
  if (observed.length > 0) {
    const returned = replyKeys(value.children ?? value.attachments);
    const dropped = observed.filter((key) => !returned.has(key)).sort();
    const meant = [...testCase.deletes].sort();
    for (const key of dropped) if (!meant.includes(key)) problems.push(`observed child ${key} is missing from the reply (list it in \`deletes\` if that is meant)`);
    for (const key of meant) if (!dropped.includes(key)) problems.push(`${key} is listed in \`deletes\` but the reply keeps it`);
  }
  return { value, first, second, problems };
}

function produceRender(testCase: RenderCase, config: Config): Produced {
  const run = () => {
    try {
      const objects = loadObjects([join(testCase.dir, 'input.yaml')]);
      return formatManifests(render(objects, { now: testCase.now, settings: projectSettings(config), assumeBuildsSucceeded: testCase.builds === 'succeeded' }));
    } catch (error) {
      if (error instanceof RenderError) throw new CaseError(error.message);
      throw error;
    }
  };
  const first = run();
  return { value: yamlDocuments(first), first, second: run(), problems: [] };
}

function yamlDocuments(text: string): unknown[] {
  return parseAllDocuments(text)
    .map((document) => document.toJS() as unknown)
    .filter((value) => value !== null && value !== undefined);
}

/** The expected file's text for a produced value, in the form `--update` writes. */
function expectedText(testCase: GoldenCase, produced: Produced): string {
  return testCase.kind === 'render' ? produced.first : stringify(produced.value, { lineWidth: 0 });
}

function readExpectedValue(testCase: GoldenCase): unknown {
  const path = join(testCase.dir, 'expected.yaml');
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, 'utf8');
  try {
    return testCase.kind === 'render' ? yamlDocuments(text) : parse(text);
  } catch (error) {
    throw new CaseError(`${path}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
}

function display(testCase: GoldenCase, value: unknown): string {
  if (testCase.kind === 'render' && Array.isArray(value)) return value.map((item) => `---\n${stringify(item, { lineWidth: 0 })}`).join('');
  return stringify(value, { lineWidth: 0 });
}

/** Runs one case; a broken case (unreadable files, a refused request) is a failed result, not a throw. */
export async function runCase(location: { name: string; dir: string; load(): GoldenCase }, options: RunOptions): Promise<CaseResult> {
  const result: CaseResult = { name: location.name, passed: false, problems: [], updated: false };
  try {
    const testCase = location.load();
    const config = caseConfig(testCase, options);
    const produced = testCase.kind === 'request' ? await produceRequest(testCase, config) : produceRender(testCase, config);
    result.problems.push(...produced.problems);
    if (produced.first !== produced.second) result.problems.push('not byte-stable: the same input gave different output on a second run');
    const expected = readExpectedValue(testCase);
    if (!isDeepStrictEqual(expected, produced.value)) {
      if (options.update) {
        writeFileSync(join(testCase.dir, 'expected.yaml'), expectedText(testCase, produced));
        result.updated = true;
      } else if (expected === undefined) {
        result.problems.push('expected.yaml is missing (run with --update to write it)');
      } else {
        result.problems.push('the output differs from expected.yaml');
        result.diff = lineDiff(display(testCase, expected), display(testCase, produced.value));
      }
    }
  } catch (error) {
    if (!(error instanceof CaseError)) throw error;
    result.problems.push(error.message);
  }
  result.passed = result.problems.length === 0;
  return result;
}

export async function runCases(root: string, options: RunOptions): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const location of findCases(root)) results.push(await runCase(location, options));
  return results;
}

/** The report `kapsa test` prints: each failure with its diff, the updates, then `N passed, N failed`. */
export function formatReport(results: readonly CaseResult[]): string {
  const lines: string[] = [];
  for (const result of results) {
    if (result.updated) lines.push(`updated ${result.name}/expected.yaml`);
    if (result.passed) continue;
    lines.push(`FAIL ${result.name}`);
    for (const problem of result.problems) lines.push(`  ${problem}`);
    if (result.diff) lines.push('  --- expected.yaml', '  +++ actual', ...result.diff.split('\n').map((line) => `  ${line}`));
  }
  const passed = results.filter((result) => result.passed).length;
  lines.push(`${passed} passed, ${results.length - passed} failed`);
  return `${lines.join('\n')}\n`;
}

const CONTEXT_LINES = 3;

/**
 * A unified-style line diff (`-` expected, `+` actual, three lines of context, `@@` before each
 * hunk), from the longest common subsequence of the two line lists.
 */
export function lineDiff(expected: string, actual: string): string {
  const a = expected.replace(/\n$/, '').split('\n');
  const b = actual.replace(/\n$/, '').split('\n');
  // lengths[i][j]: the longest common subsequence of a[i..] and b[j..].
  const lengths = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lengths[i]![j] = a[i] === b[j] ? lengths[i + 1]![j + 1]! + 1 : Math.max(lengths[i + 1]![j]!, lengths[i]![j + 1]!);
    }
  }
  // Each edit keeps where it stood in both texts (0-based), for the hunk headers.
  const edits: Array<{ mark: ' ' | '-' | '+'; line: string; at: [number, number] }> = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const at: [number, number] = [i, j];
    if (i < a.length && j < b.length && a[i] === b[j]) {
      edits.push({ mark: ' ', line: a[i]!, at });
      i++;
      j++;
    } else if (i < a.length && (j === b.length || lengths[i + 1]![j]! >= lengths[i]![j + 1]!)) {
      edits.push({ mark: '-', line: a[i++]!, at });
    } else {
      edits.push({ mark: '+', line: b[j++]!, at });
    }
  }
  const shown = new Set<number>();
  edits.forEach((edit, index) => {
    if (edit.mark === ' ') return;
    for (let k = Math.max(0, index - CONTEXT_LINES); k <= Math.min(edits.length - 1, index + CONTEXT_LINES); k++) shown.add(k);
  });
  const output: string[] = [];
  let previous = -2;
  for (const index of [...shown].sort((x, y) => x - y)) {
    const edit = edits[index]!;
    if (index !== previous + 1) output.push(`@@ expected line ${edit.at[0] + 1}, actual line ${edit.at[1] + 1} @@`);
    output.push(`${edit.mark}${edit.line}`);
    previous = index;
  }
  return output.join('\n');
}

import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { formatReport, lineDiff, runCases } from '../../hooks/cli/golden.ts';
import { FIXTURES } from '../support/golden.ts';

const root = join(import.meta.dirname, '..', '..');
const node = join(root, 'node_modules', '.bin', 'node');

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary folder, removed after the file's tests. */
function temporary(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

function kapsa(args: string[], env: Record<string, string> = {}) {
  return spawnSync(node, [join(root, 'bin', 'kapsa.js'), ...args], { cwd: root, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '', ...env } });
}

function copyOfFixtures(): string {
  const dir = temporary('kapsa-cases-');
  cpSync(FIXTURES, dir, { recursive: true });
  return dir;
}

describe('kapsa test', () => {
  it('passes on a copy of our fixtures, fails with a diff when an expected file is edited, and --update restores it', () => {
    const dir = copyOfFixtures();
    const total = spawnSync('find', [dir, '-name', 'expected.yaml'], { encoding: 'utf8' }).stdout.trim().split('\n').length;
    const clean = kapsa(['test', dir]);
    expect(clean.stderr).toBe('');
    expect(clean.status).toBe(0);
    expect(clean.stdout).toBe(`${total} passed, 0 failed\n`);

    const expectedFile = join(dir, 'environment', 'minimal', 'expected.yaml');
    const original = readFileSync(expectedFile, 'utf8');
    writeFileSync(expectedFile, original.replace('replicas: 1\n', 'replicas: 3\n'));
    // The edited case and its neighbours: enough to see the report without running all again.
    const failed = kapsa(['test', join(dir, 'environment')]);
    expect(failed.status).toBe(1);
    expect(failed.stdout).toContain('FAIL minimal\n  the output differs from expected.yaml\n  --- expected.yaml\n  +++ actual\n');
    expect(failed.stdout).toMatch(/\n {2}@@ expected line \d+, actual line \d+ @@\n(?: {2} .*\n){3} {2}- {6}replicas: 3\n {2}\+ {6}replicas: 1\n/);
    expect(failed.stdout).toMatch(/\n(\d+) passed, 1 failed\n$/);

    const updated = kapsa(['test', join(dir, 'environment'), '--update']);
    expect(updated.status).toBe(0);
    expect(updated.stdout).toContain('updated minimal/expected.yaml\n');
    expect(readFileSync(expectedFile, 'utf8')).toBe(original);
    expect(kapsa(['test', join(dir, 'environment')]).status).toBe(0);
  });

  it('applies KAPSA_* settings of the environment and of the case', () => {
    const dir = temporary('kapsa-cases-');
    cpSync(join(FIXTURES, 'project', 'minimal'), join(dir, 'project', 'minimal'), { recursive: true });
    expect(kapsa(['test', dir]).status).toBe(0);
    const prefixed = kapsa(['test', dir], { KAPSA_PROJECT_NAMESPACE_PREFIX: 'team-' });
    expect(prefixed.status).toBe(1);
    expect(prefixed.stdout).toContain('+      name: team-shop');
    // The same setting in the case itself, and --update takes the new reply.
    const requestFile = join(dir, 'project', 'minimal', 'request.yaml');
    const request = parse(readFileSync(requestFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(requestFile, stringify({ ...request, env: { KAPSA_PROJECT_NAMESPACE_PREFIX: 'team-' } }));
    expect(kapsa(['test', dir, '--update']).status).toBe(0);
    expect(readFileSync(join(dir, 'project', 'minimal', 'expected.yaml'), 'utf8')).toContain('name: team-shop');
    expect(kapsa(['test', dir]).stdout).toBe('1 passed, 0 failed\n');
  });

  it('refuses a folder without cases, with exit 2', () => {
    const empty = temporary('kapsa-cases-');
    const result = kapsa(['test', empty]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/no cases/);
  });
});

describe('the golden runner', () => {
  const quiet = { env: {}, update: false };

  /** One case folder `<dir>/<controller>/<name>` with the files given. */
  function caseFolder(controller: string, files: Record<string, unknown>): string {
    const dir = temporary('kapsa-case-');
    mkdirSync(join(dir, controller, 'case'), { recursive: true });
    for (const [file, content] of Object.entries(files)) {
      writeFileSync(join(dir, controller, 'case', file), typeof content === 'string' ? content : stringify(content));
    }
    return dir;
  }

  const nested = (levels: number): unknown => (levels === 0 ? 'leaf' : { inner: nested(levels - 1) });
  const fixture = (path: string) => parse(readFileSync(join(FIXTURES, path), 'utf8')) as Record<string, unknown>;

  it('fails a case whose reply drops an observed child the case does not list in deletes', async () => {
    const request = fixture('project/environment-removed/request.yaml');
    expect(request.deletes).toBeDefined();
    const dir = caseFolder('project', { 'request.yaml': { ...request, deletes: [] }, 'expected.yaml': fixture('project/environment-removed/expected.yaml') });
    const [result] = await runCases(dir, quiet);
    expect(result?.passed).toBe(false);
    expect(result?.problems.join('\n')).toMatch(/observed child Environment\/\S+ is missing from the reply/);
    // --update does not make such a case pass: the expected file is not the problem.
    const [again] = await runCases(dir, { env: {}, update: true });
    expect(again?.passed).toBe(false);
  });

  it('fails a case that lists in deletes a child the reply keeps', async () => {
    const request = fixture('environment/running-ready/request.yaml');
    const dir = caseFolder('environment', { 'request.yaml': { ...request, deletes: ['Deployment/dev'] }, 'expected.yaml': fixture('environment/running-ready/expected.yaml') });
    const [result] = await runCases(dir, quiet);
    expect(result?.problems).toContain('Deployment/dev is listed in `deletes` but the reply keeps it');
  });

  it('fails a request the service refuses, with its message, and a case without expected.yaml', async () => {
    const refused = caseFolder('environment', { 'request.yaml': { request: { parent: { kind: 'Environment' } } }, 'expected.yaml': {} });
    const [result] = await runCases(refused, quiet);
    expect(result?.problems).toEqual(["the service refuses the request (400): body.parent must have required property 'apiVersion'"]);
    const request = fixture('environment/minimal/request.yaml');
    const missing = caseFolder('environment', { 'request.yaml': request });
    const [second] = await runCases(missing, quiet);
    expect(second?.problems).toEqual(['expected.yaml is missing (run with --update to write it)']);
    const [written] = await runCases(missing, { env: {}, update: true });
    expect(written).toMatchObject({ passed: true, updated: true });
    expect(readFileSync(join(missing, 'environment', 'case', 'expected.yaml'), 'utf8')).toBe(readFileSync(join(FIXTURES, 'environment', 'minimal', 'expected.yaml'), 'utf8'));
  });

  it('names the problem of a broken case instead of throwing', async () => {
    const cases: Array<[Record<string, unknown> | string, RegExp]> = [
      ['request: [unclosed', /request\.yaml: not valid YAML/],
      [{ description: 'no request' }, /must hold a `request` map/],
      [{ request: {}, now: 'yesterday' }, /now is not a time: yesterday/],
      [{ request: {}, env: { HOME: '/' } }, /env\.HOME is not a KAPSA_\* setting/],
      [{ request: {}, env: { KAPSA_NAMESPACE: 'Bad_Label' } }, /invalid settings: KAPSA_NAMESPACE/],
      [{ request: {}, hook: 'git-poller/sync' }, /polls the git server over the network/],
      [{ request: {}, hook: 'nothing/sync' }, /no hook nothing\/sync/],
      [{ request: { parent: nested(100) } }, /the service refuses the request \(400\): body is nested deeper than \d+ levels/],
      // An old or misspelt field (settings: instead of env:) would silently test the defaults.
      [{ request: {}, settings: { receiverKey: 'x' } }, /unknown field settings \(known: description, hook, now, env, request, deletes\)/],
    ];
    for (const [content, problem] of cases) {
      const [result] = await runCases(caseFolder('environment', { 'request.yaml': content }), quiet);
      expect(result?.passed, String(problem)).toBe(false);
      expect(result?.problems.join('\n')).toMatch(problem);
    }
    const render = await runCases(caseFolder('render', { 'input.yaml': 'kind: Deployment\napiVersion: apps/v1\nmetadata: { name: x }\n' }), quiet);
    expect(render[0]?.problems.join('\n')).toMatch(/unknown kind Deployment/);
  });

  it('compares YAML by value: key order and quoting in a hand-written expected file do not matter', async () => {
    const request = fixture('environment/minimal/request.yaml');
    const expected = fixture('environment/minimal/expected.yaml');
    const reordered = Object.fromEntries(Object.entries(expected).reverse());
    const dir = caseFolder('environment', { 'request.yaml': request, 'expected.yaml': stringify(reordered, { defaultStringType: 'QUOTE_DOUBLE' }) });
    const [result] = await runCases(dir, quiet);
    expect(result?.passed).toBe(true);
  });

  it('reports `N passed, N failed` with each failure', () => {
    const report = formatReport([
      { name: 'a', passed: true, problems: [], updated: false },
      { name: 'b', passed: false, problems: ['broken'], updated: false, diff: '-x\n+y' },
    ]);
    expect(report).toBe('FAIL b\n  broken\n  --- expected.yaml\n  +++ actual\n  -x\n  +y\n1 passed, 1 failed\n');
  });

  it('diffs lines with context and a header per hunk', () => {
    const before = Array.from({ length: 20 }, (_, index) => `line ${index}`);
    const after = [...before];
    after[2] = 'changed 2';
    after.splice(15, 1);
    expect(lineDiff(before.join('\n'), after.join('\n'))).toBe(
      [
        '@@ expected line 1, actual line 1 @@',
        ' line 0',
        ' line 1',
        '-line 2',
        '+changed 2',
        ' line 3',
        ' line 4',
        ' line 5',
        '@@ expected line 13, actual line 13 @@',
        ' line 12',
        ' line 13',
        ' line 14',
        '-line 15',
        ' line 16',
        ' line 17',
        ' line 18',
      ].join('\n'),
    );
    expect(lineDiff('same\n', 'same\n')).toBe('');
  });
});

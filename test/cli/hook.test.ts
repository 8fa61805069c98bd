import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { findCases, type RequestCase } from '../../hooks/cli/golden.ts';
import { runHook } from '../../hooks/cli/hook.ts';
import { loadConfig } from '../../hooks/server/config.ts';
import { environmentRequest, testApp } from '../support/app.ts';
import { FIXTURES } from '../support/golden.ts';

const root = join(import.meta.dirname, '..', '..');
const node = join(root, 'node_modules', '.bin', 'node');
const NOW = '2026-11-26T12:00:00Z';

/** The real `kapsa` bin of package.json, as a child process with only the environment given. */
function kapsa(args: string[], options: { input?: string; env?: Record<string, string> } = {}) {
  return spawnSync(node, [join(root, 'bin', 'kapsa.js'), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 30_000,
    input: options.input ?? '',
    env: { PATH: process.env.PATH ?? '', ...options.env },
  });
}

/** What the service answers over HTTP, with the same settings and a clock pinned to the same time. */
async function served(hook: string, payload: string, now: Date, env: Record<string, string> = {}) {
  const { app } = testApp({ config: loadConfig(env), clock: () => now });
  return app.inject({ method: 'POST', url: `/hooks/${hook}`, headers: { 'content-type': 'application/json' }, payload });
}

const requestCases = findCases(FIXTURES)
  .map((location) => location.load())
  .filter((testCase): testCase is RequestCase => testCase.kind === 'request');

describe('kapsa hook gives the bytes the service sends', () => {
  it('has golden requests to compare', () => {
    expect(requestCases.length).toBeGreaterThan(80);
  });

  it.each(requestCases.map((testCase) => [testCase.name, testCase] as const))('%s', async (_name, testCase) => {
    const payload = JSON.stringify(testCase.request);
    const response = await served(testCase.hook, payload, testCase.now, testCase.env);
    expect(response.statusCode).toBe(200);
    const cli = await runHook(testCase.hook, payload, 'stdin', { now: testCase.now, config: loadConfig(testCase.env) });
    expect(cli.stderr).toBe('');
    expect(cli.exitCode).toBe(0);
    expect(cli.stdout).toBe(response.payload);
  });

  // The same comparison through the real bin: JSON on stdin, YAML from a file and on stdin, and
  // settings from the process environment.
  const byName = (name: string) => {
    const found = requestCases.find((testCase) => testCase.name === name);
    if (!found) throw new Error(`golden case ${name} is missing`);
    return found;
  };
  const dir = mkdtempSync(join(tmpdir(), 'kapsa-hook-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('JSON on stdin (-)', async () => {
    const testCase = byName('environment/full');
    const payload = JSON.stringify(testCase.request);
    const result = kapsa(['hook', 'environment/sync', '-', '--now', testCase.now.toISOString()], { input: payload });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe((await served('environment/sync', payload, testCase.now)).payload);
  });

  it('YAML in a file, and a KAPSA_* setting from the environment', async () => {
    const testCase = byName('project/reserved-namespace-configured');
    expect(testCase.env).toEqual({ KAPSA_RESERVED_NAMESPACES: 'platform,monitoring' });
    const file = join(dir, 'project.yaml');
    writeFileSync(file, stringify(testCase.request));
    const result = kapsa(['hook', 'project/sync', file, '--now', testCase.now.toISOString()], { env: testCase.env });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const expected = (await served('project/sync', JSON.stringify(testCase.request), testCase.now, testCase.env)).payload;
    expect(result.stdout).toBe(expected);
    // Without the setting the service answers differently, and so does the CLI.
    const unset = kapsa(['hook', 'project/sync', file, '--now', testCase.now.toISOString()]);
    expect(unset.status).toBe(0);
    expect(unset.stdout).not.toBe(expected);
    expect(unset.stdout).toBe((await served('project/sync', JSON.stringify(testCase.request), testCase.now)).payload);
  });

  it('YAML on stdin, for a decorator and a customize hook too', async () => {
    const project = byName('project/minimal').request.parent;
    const now = new Date(NOW);
    for (const [hook, request] of [
      ['domainpool/sync', byName('domainpool/allocations-and-conflict').request],
      ['project-claims/sync', { object: project, attachments: {} }],
      ['project/customize', { parent: project }],
      ['git-poller/customize', { parent: project }],
    ] as const) {
      const result = kapsa(['hook', hook, '--now', NOW], { input: stringify(request) });
      expect(result.stderr, hook).toBe('');
      expect(result.status, hook).toBe(0);
      expect(result.stdout, hook).toBe((await served(hook, JSON.stringify(request), now)).payload);
    }
  });

  it('--now pins the clock the pure hooks see', async () => {
    const payload = JSON.stringify(environmentRequest);
    const later = '2027-01-02T03:04:05Z';
    const result = kapsa(['hook', 'environment/sync', '--now', later], { input: payload });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('"lastTransitionTime":"2027-01-02T03:04:05Z"');
    expect(result.stdout).toBe((await served('environment/sync', payload, new Date(later))).payload);
  });
});

describe('kapsa hook refuses what the service refuses, with its message', () => {
  const deep = (levels: number): string => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
  const refused: Array<[string, string, Record<string, string>?]> = [
    ['no parent', '{}'],
    ['the decorator shape on a composite hook', JSON.stringify({ object: environmentRequest.parent, attachments: {} })],
    ['a name that is not a string', JSON.stringify({ parent: { apiVersion: 'v1', kind: 'X', metadata: { name: 5 } } })],
    ['children as a list', JSON.stringify({ ...environmentRequest, children: [] })],
    ['malformed JSON', '{"parent": '],
    ['a __proto__ key', '{"parent": {"__proto__": {"polluted": true}}}'],
    ['a constructor.prototype key', '{"parent": {"constructor": {"prototype": {"polluted": true}}}}'],
    ['an empty body', ''],
    ['a body nested too deep', deep(200)],
    ['a body over KAPSA_BODY_LIMIT', JSON.stringify({ ...environmentRequest, pad: 'x'.repeat(4096) }), { KAPSA_BODY_LIMIT: '2048' }],
  ];

  it.each(refused)('%s', async (_name, payload, env = {}) => {
    const response = await served('environment/sync', payload, new Date(NOW), env);
    expect(response.statusCode).toBeGreaterThanOrEqual(400);
    expect(response.statusCode).toBeLessThan(500);
    const message = (response.json() as { message: string }).message;
    expect(message).not.toMatch(/\n/);
    const cli = await runHook('environment/sync', payload, 'stdin', { now: new Date(NOW), config: loadConfig(env) });
    expect(cli).toEqual({ exitCode: 2, stdout: '', stderr: `kapsa: ${message}\n` });
  });

  it('through the real bin: exit 2, the message on stderr, nothing on stdout', async () => {
    const response = await served('environment/sync', '{}', new Date(NOW));
    const result = kapsa(['hook', 'environment/sync', '-'], { input: '{}' });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`kapsa: ${(response.json() as { message: string }).message}\n`);
    const yaml = kapsa(['hook', 'environment/sync'], { input: 'parent:\n  kind: Environment\n' });
    expect(yaml.status).toBe(2);
    expect(yaml.stderr).toBe("kapsa: body.parent must have required property 'apiVersion'\n");
  });

  it('says so for YAML that does not parse, more than one document, an unknown hook and a bad setting', () => {
    const broken = kapsa(['hook', 'environment/sync'], { input: 'parent: [unclosed\n' });
    expect(broken.status).toBe(2);
    expect(broken.stderr).toMatch(/^kapsa: stdin: not valid YAML: .+\n$/);
    const two = kapsa(['hook', 'environment/sync'], { input: 'a: 1\n---\nb: 2\n' });
    expect(two.stderr).toBe('kapsa: stdin: holds 2 YAML documents; a request is one\n');
    const unknown = kapsa(['hook', 'nothing/sync'], { input: '{}' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/^kapsa: no hook nothing\/sync; the hooks are .*environment\/sync/);
    const setting = kapsa(['hook', 'environment/sync'], { input: '{}', env: { KAPSA_NAMESPACE: 'Not_A_Label' } });
    expect(setting.status).toBe(2);
    expect(setting.stderr).toMatch(/^kapsa: invalid configuration: KAPSA_NAMESPACE: must be a DNS label/);
    const missing = kapsa(['hook', 'environment/sync', join(root, 'no-such-request.json')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^kapsa: cannot read .*no-such-request\.json: ENOENT/);
  });

  it.each(['git-poller/sync', 'registry/sync'])('refuses the network hook %s instead of reaching out', (hook) => {
    const result = kapsa(['hook', hook], { input: '{}' });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/over the network; kapsa hook runs only the hooks that need no network/);
  });
});

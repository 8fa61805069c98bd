import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { goldenEnvironment, goldenEnvironmentReply, LIBRARY_FUNCTIONS, runProbe } from '../support/library.ts';

/**
 * The package as a user gets it: `npm pack` (its prepack builds dist/), `npm install` of the
 * tarball into a fresh project (dependencies from the npm cache or registry), then the library
 * from plain JavaScript and from TypeScript, and the installed `kapsa` bin. Takes half a minute
 * or more: a build, an install and a type check.
 */

const root = join(import.meta.dirname, '..', '..');
const node = join(root, 'node_modules', '.bin', 'node');
const work = mkdtempSync(join(tmpdir(), 'kapsa-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(command: string, args: string[], cwd: string, input?: string): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 240_000, input, env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (result.error) throw result.error;
  return result;
}

function succeeded(result: SpawnSyncReturns<string>, what: string): string {
  if (result.status !== 0) throw new Error(`${what} failed (${String(result.status)}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

const CONSUMER_TS = `
import {
  defaultConfig,
  projectSettings,
  syncEnvironment,
  syncProject,
  type CompositeSyncRequest,
  type CompositeSyncResponse,
  type CustomizeResponse,
  type DecoratorSyncRequest,
  type EnvironmentSpec,
  type ProjectSettings,
  type ProjectSpec,
} from 'kapsa';
import { customizeProject } from 'kapsa';

// The spec types are the specs after defaulting (what the hooks work on), so a literal names parts of one.
const strategy: ProjectSpec['build']['strategy'] = 'dockerfile';
const spec = {
  build: { strategy },
  repository: { url: 'https://git.example.com/shop.git', branch: 'main' },
  registry: { name: 'main', imageRepository: 'shop' },
  domain: { subdomain: 'shop', domainPoolRef: { name: 'apps' } },
  environments: [{ name: 'prod', branch: 'main', autoSync: true }],
};
const request: CompositeSyncRequest = {
  parent: { apiVersion: 'kapsa-project.io/v1alpha1', kind: 'Project', metadata: { name: 'shop', generation: 1 }, spec },
  children: {},
};
const settings: ProjectSettings = { ...projectSettings(defaultConfig()), namespacePrefix: 'team-' };
const reply: CompositeSyncResponse = syncProject(request, { now: new Date(0), settings });
const names: string[] = reply.children.map((child) => child.metadata.name ?? '');
const runtime: EnvironmentSpec['runtime'] = { replicas: 2 };
const environment: CompositeSyncResponse = syncEnvironment(
  { parent: { apiVersion: 'kapsa-project.io/v1alpha1', kind: 'Environment', metadata: { name: 'dev', namespace: 'shop' }, spec: { project: 'shop', runtime } } },
  { now: new Date(0) },
);
const customize: CustomizeResponse = customizeProject({ parent: request.parent }, settings);
const decorator: DecoratorSyncRequest = { object: request.parent, attachments: {} };
// @ts-expect-error the types are real: a reply has no such field
reply.childrenn;
// @ts-expect-error and a spec field has its type
const wrong: ProjectSpec['build']['strategy'] = 'make';
export { names, environment, customize, decorator, wrong };
`;

describe('the packed package in a fresh project', () => {
  it('installs, and its library works from JavaScript and TypeScript, and its bin answers a hook', () => {
    // 1. Pack the package as it would be published; prepack builds dist/.
    succeeded(run('npm', ['pack', '--pack-destination', work, '--silent'], root), 'npm pack');
    const tarball = readdirSync(work).find((file) => file.endsWith('.tgz'));
    expect(tarball).toBeDefined();
    const listing = succeeded(run('tar', ['tzf', join(work, tarball!)], work), 'tar');
    expect(listing).toContain('package/dist/index.js');
    expect(listing).toContain('package/dist/index.d.ts');
    expect(listing).toContain('package/bin/kapsa.js');
    expect(listing).not.toContain('package/hooks/');
    expect(listing).not.toContain('package/test/');

    // 2. A fresh project with its own package.json installs the tarball.
    const project = join(work, 'consumer');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
    succeeded(run('npm', ['install', join(work, tarball!), '--prefer-offline', '--no-audit', '--no-fund', '--silent'], project), 'npm install');

    // 3. Plain JavaScript: import by the package name with an empty environment; the golden
    // request gives the golden reply, and the import itself reads nothing and starts nothing.
    copyFileSync(join(root, 'test', 'support', 'import-probe.mjs'), join(project, 'probe.mjs'));
    const report = runProbe('kapsa', project, join(project, 'probe.mjs'));
    expect(report.afterImport).toEqual({ envReads: [], newGlobals: [], newResources: [], timersSet: [], output: [] });
    expect(report.exports).toEqual(expect.arrayContaining(LIBRARY_FUNCTIONS));
    expect(report.environmentReply).toEqual(goldenEnvironmentReply);

    // 4. TypeScript: the declarations type a consumer's code (and are not `any`).
    writeFileSync(join(project, 'consumer.ts'), CONSUMER_TS);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2024', strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['consumer.ts'] }),
    );
    const tsc = run(node, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], project);
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);

    // 5. The installed bin runs the compiled CLI (Node strips no types below node_modules).
    const hook = run(node, [join(project, 'node_modules', '.bin', 'kapsa'), 'hook', 'environment/sync', '-', '--now', goldenEnvironment.now.toISOString()], project, JSON.stringify(goldenEnvironment.request));
    expect(hook.stderr).toBe('');
    expect(hook.status).toBe(0);
    expect(JSON.parse(hook.stdout)).toEqual(goldenEnvironmentReply);
  }, 300_000);
});

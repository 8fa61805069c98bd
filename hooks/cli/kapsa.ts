#!/usr/bin/env node
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { crdFiles } from '../crds/generate.ts';
import { chartControllersTemplate, controllerFiles } from '../metacontroller/definitions.ts';
import { projectSettings } from '../project/settings.ts';
import { ConfigError, loadConfig, type Config } from '../server/config.ts';
import { runHook } from './hook.ts';
import { formatReport, runCases } from './golden.ts';
import { formatManifests, loadObjects, render, RenderError } from './render.ts';

const USAGE = `usage:
  kapsa render <file or folder>... [--output yaml|json] [--builds succeeded|pending] [--now <RFC 3339 time>]
      Print every manifest Kapsa would create from Project, Environment, DomainPool, Registry and
      Secret YAML, running the same sync functions as the service. KAPSA_* settings apply.
  kapsa hook <controller>/<hook> [request.json|request.yaml|-] [--now <RFC 3339 time>]
      Answer one Metacontroller request (JSON or YAML, a file or stdin) and print the reply exactly
      as the service would send it. A malformed request gets the service's message and exit code 2.
      KAPSA_* settings apply. The network hooks (git-poller/sync, registry/sync) are refused.
  kapsa test <folder> [--update]
      Run golden cases: every <case>/request.yaml (a hook request, the hook named by the case's
      parent folder or its \`hook\` field) or <case>/input.yaml (Project, DomainPool, Registry, ...
      as kapsa render reads them), compared with <case>/expected.yaml. --update rewrites the
      expected files. KAPSA_* settings apply.
  kapsa generate [--check]
      Write crds/ (from the spec types), metacontroller/ (the controller definitions) and their
      copies in the Helm chart (chart/crds/, chart/templates/controllers.yaml), or, with --check,
      fail when the committed files differ.
  kapsa cluster
      Start a local Kapsa cluster in the foreground (control plane, kwok node, Metacontroller, the
      service, a git server with a sample repository) and print what to try; Ctrl-C stops it all.
      Needs a source checkout (it runs the e2e engine from test/) and Go for the first build.
`;

function fail(message: string, code = 1): never {
  process.stderr.write(`kapsa: ${message}\n`);
  process.exit(code);
}

function renderCommand(args: string[]): void {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o', default: 'yaml' },
      builds: { type: 'string', default: 'succeeded' },
      now: { type: 'string' },
    },
  });
  if (positionals.length === 0) fail(`render needs at least one file or folder\n${USAGE}`, 2);
  if (values.output !== 'yaml' && values.output !== 'json') fail(`--output must be yaml or json, got ${values.output}`, 2);
  if (values.builds !== 'succeeded' && values.builds !== 'pending') fail(`--builds must be succeeded or pending, got ${values.builds}`, 2);
  const now = values.now ? new Date(values.now) : new Date();
  if (Number.isNaN(now.getTime())) fail(`--now is not a time: ${values.now}`, 2);
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(`invalid configuration: ${error.message}`, 2);
    throw error;
  }
  try {
    const objects = render(loadObjects(positionals), { now, settings: projectSettings(config), assumeBuildsSucceeded: values.builds === 'succeeded' });
    if (values.output === 'json') {
      process.stdout.write(`${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2)}\n`);
    } else {
      process.stdout.write(formatManifests(objects));
    }
  } catch (error) {
    if (error instanceof RenderError) fail(error.message);
    throw error;
  }
}

/** `--now`, or the real clock when it is not given. */
function nowOption(value: string | undefined): Date {
  const now = value ? new Date(value) : new Date();
  if (Number.isNaN(now.getTime())) fail(`--now is not a time: ${value}`, 2);
  return now;
}

function configOrFail(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(`invalid configuration: ${error.message}`, 2);
    throw error;
  }
}

async function hookCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { now: { type: 'string' } } });
  const [name, source = '-', ...extra] = positionals;
  if (name === undefined || extra.length > 0) fail(`hook needs <controller>/<hook> and at most one file\n${USAGE}`, 2);
  const now = nowOption(values.now);
  const config = configOrFail();
  let text: string;
  try {
    text = readFileSync(source === '-' ? 0 : source, 'utf8');
  } catch (error) {
    fail(`cannot read ${source}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, 2);
  }
  const result = await runHook(name, text, source === '-' ? 'stdin' : source, { now, config });
  process.stderr.write(result.stderr);
  process.stdout.write(result.stdout);
  process.exitCode = result.exitCode;
}

async function testCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { update: { type: 'boolean', default: false } } });
  if (positionals.length !== 1) fail(`test needs one folder of cases\n${USAGE}`, 2);
  const folder = positionals[0]!;
  if (!existsSync(folder) || !statSync(folder).isDirectory()) fail(`${folder}: no such folder`, 2);
  const results = await runCases(folder, { env: process.env, update: values.update });
  if (results.length === 0) fail(`${folder}: no cases (a case is a folder with request.yaml or input.yaml)`, 2);
  process.stdout.write(formatReport(results));
  process.exitCode = results.every((result) => result.passed) ? 0 : 1;
}

function generateCommand(args: string[]): void {
  const { values } = parseArgs({ args, options: { check: { type: 'boolean', default: false } } });
  const stale: string[] = [];
  const outputs: Array<[string, Map<string, string>]> = [
    ['crds', crdFiles()],
    ['metacontroller', controllerFiles()],
    // The Helm chart installs the same CRDs and renders the same controllers with its values.
    [join('chart', 'crds'), crdFiles()],
    [join('chart', 'templates'), new Map([['controllers.yaml', chartControllersTemplate()]])],
  ];
  for (const [folder, file, text] of outputs.flatMap(([folder, files]) => [...files].map(([file, text]) => [folder, file, text] as const))) {
    const path = join(folder, file);
    if (values.check) {
      let current = '';
      try {
        current = readFileSync(path, 'utf8');
      } catch {
        // A missing file is as stale as a different one.
      }
      if (current !== text) stale.push(path);
    } else {
      mkdirSync(folder, { recursive: true });
      writeFileSync(path, text);
      process.stdout.write(`wrote ${path}\n`);
    }
  }
  if (stale.length > 0) fail(`generated files are stale: ${stale.join(', ')} (run npm run generate)`);
}

/** The local cluster is development tooling: loaded only when asked for, from the source checkout. */
async function clusterCommand(): Promise<void> {
  const script = new URL('../../scripts/cluster.ts', import.meta.url);
  let module: { runCluster(): Promise<number> };
  try {
    module = (await import(script.href)) as typeof module;
  } catch (error) {
    fail(`kapsa cluster needs a source checkout of Kapsa (${script.pathname}): ${(error as Error).message}`);
  }
  process.exitCode = await module.runCluster();
}

const [command, ...rest] = process.argv.slice(2);
try {
  if (command === 'render') renderCommand(rest);
  else if (command === 'hook') await hookCommand(rest);
  else if (command === 'test') await testCommand(rest);
  else if (command === 'generate') generateCommand(rest);
  else if (command === 'cluster') await clusterCommand();
  else if (command === undefined || command === 'help' || command === '--help' || command === '-h') process.stdout.write(USAGE);
  else fail(`unknown command ${command}\n${USAGE}`, 2);
} catch (error) {
  if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) fail(`${error.message}\n${USAGE}`, 2);
  throw error;
}

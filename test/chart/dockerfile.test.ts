// The Dockerfile cannot be built here (no container engine), so this checks what can be checked
// statically: stages, the final stage's contents, the user, the Node version and the entry point.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helm.ts';

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Dockerfile instructions (comments dropped, `\` continuations joined), grouped by stage. */
function parseDockerfile(text: string): { args: Instruction[]; stages: Stage[] } {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  const preamble: Instruction[] = [];
  const stages: Stage[] = [];
  for (const line of lines) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    if (instruction.keyword === 'FROM') {
      const match = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      stages.push({ image: match?.[1] ?? '', name: match?.[2], instructions: [] });
    } else if (stages.length === 0) {
      preamble.push(instruction);
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { args: preamble, stages };
}

const dockerfile = parseDockerfile(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
const final = dockerfile.stages.at(-1) as Stage;
const packageJson = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string>; type?: string };
const stage = (name: string): Stage | undefined => dockerfile.stages.find((item) => item.name === name);
const runs = (item: Stage | undefined): string[] => (item?.instructions ?? []).filter((instruction) => instruction.keyword === 'RUN').map((instruction) => instruction.args);

describe('Dockerfile', () => {
  it('is multi-stage, with a distroless Node.js runtime as the final stage (no shell at run time)', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    expect(final.image).toMatch(/^gcr\.io\/distroless\/nodejs\d+-debian\d+(:nonroot)?(@sha256:[a-f0-9]{64})?$/);
    expect(runs(final), 'the final stage runs nothing (it has no shell)').toEqual([]);
  });

  it('uses the Node major of the `node` devDependency in every stage', () => {
    const major = /^\D*(\d+)\./.exec(packageJson.devDependencies.node ?? '')?.[1];
    expect(major).toBeDefined();
    for (const item of dockerfile.stages) {
      const imageMajor = /(?:^node:|\/nodejs)(\d+)/.exec(item.image)?.[1];
      expect(imageMajor, `${item.image} is not a Node.js image`).toBeDefined();
      expect(imageMajor, item.image).toBe(major);
    }
  });

  it('installs with npm ci --ignore-scripts, compiles with tsconfig.build.json, and ships production dependencies only', () => {
    const build = stage('build');
    expect(build?.image).toMatch(/^node:/);
    expect(runs(build).some((command) => /npm ci\b.*--ignore-scripts/.test(command))).toBe(true);
    expect(runs(build).some((command) => /tsc -p tsconfig\.build\.json/.test(command))).toBe(true);
    const deps = stage('deps');
    const install = runs(deps).find((command) => command.includes('npm ci'));
    expect(install).toMatch(/--omit=dev/);
    expect(install).toMatch(/--ignore-scripts/);
  });

  it('copies only dist/, the production node_modules and package.json into the final stage', () => {
    const copies = final.instructions.filter((instruction) => instruction.keyword === 'COPY' || instruction.keyword === 'ADD');
    expect(copies.every((instruction) => instruction.keyword === 'COPY')).toBe(true);
    const sources = copies.map((instruction) => {
      const parts = instruction.args.split(/\s+/);
      const from = parts.find((part) => part.startsWith('--from='))?.slice('--from='.length);
      const paths = parts.filter((part) => !part.startsWith('--'));
      return { from, source: paths.slice(0, -1).join(' ') };
    });
    expect(sources).toEqual(
      expect.arrayContaining([
        { from: 'deps', source: '/app/node_modules' },
        { from: 'build', source: '/app/dist' },
      ]),
    );
    for (const { from, source } of sources) {
      expect(['deps', 'build'], `COPY ${source} must come from a build stage`).toContain(from);
      expect(['/app/node_modules', '/app/dist', '/app/package.json'], `the final stage must not copy ${source}`).toContain(source);
      if (source === '/app/node_modules') expect(from, 'node_modules must be the production install').toBe('deps');
    }
    // package.json is what makes dist/*.js ES modules.
    expect(packageJson.type).toBe('module');
    expect(sources.some(({ source }) => source === '/app/package.json')).toBe(true);
  });

  it('runs as a numeric non-root user', () => {
    const users = final.instructions.filter((instruction) => instruction.keyword === 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)?.args ?? '';
    expect(user).toMatch(/^\d+(:\d+)?$/);
    for (const id of user.split(':')) expect(Number(id)).toBeGreaterThan(0);
  });

  it('starts dist/main.js, which the TypeScript build produces from hooks/main.ts', () => {
    const cmd = final.instructions.filter((instruction) => instruction.keyword === 'CMD').at(-1)?.args ?? '';
    const argv = JSON.parse(cmd) as string[];
    expect(argv.at(-1)).toBe('dist/main.js');
    const workdir = final.instructions.filter((instruction) => instruction.keyword === 'WORKDIR').at(-1)?.args;
    expect(workdir).toBe('/app');
    const tsconfig = JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as { compilerOptions: { outDir: string; rootDir: string; noEmit?: boolean } };
    expect(tsconfig.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: 'hooks', noEmit: false });
    expect(existsSync(join(REPO_ROOT, 'hooks', 'main.ts'))).toBe(true);
    // .ts imports must be rewritten to .js in the output.
    const base = JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: { rewriteRelativeImportExtensions?: boolean } };
    expect(base.compilerOptions.rewriteRelativeImportExtensions).toBe(true);
  });

  it('has a .dockerignore that sends only the sources the build needs', () => {
    const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((line) => line.trim());
    expect(ignore).toContain('*');
    for (const needed of ['!package.json', '!package-lock.json', '!tsconfig.json', '!tsconfig.build.json', '!hooks/']) expect(ignore).toContain(needed);
  });
});

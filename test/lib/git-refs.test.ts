/**
 * The branch-name rule against git itself (`git check-ref-format --branch`), and the CRD pattern
 * against the rule in words: on a list of tricky names and on a few thousand generated ones.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  BRANCH_GLOB_PATTERN,
  BRANCH_NAME_PATTERN,
  branchGlobProblem,
  branchNameProblem,
  KAPSA_SHORT_NAME_RULE,
  REFUSED_INVISIBLE_RANGES,
} from '../../hooks/lib/git-refs.ts';
import { generatedNames } from '../support/generated-names.ts';

const TRICKY = [
  'main',
  'feature/login',
  'feature/a_b',
  'release-1.2',
  'v1.0.0',
  'a./b',
  'a/b.',
  'a.',
  '.hidden',
  'a/.hidden',
  '..',
  '.',
  'a..b',
  'a/../b',
  'main.lock',
  'main.lock/x',
  'x/main.lock',
  'a.lock.',
  'a.lock./b',
  'a.lockx',
  'a.LOCK',
  'lock',
  'x/lock',
  '.lock',
  'a.lock.lock',
  'a.lock.b.lock',
  'refs/heads/main',
  'refs',
  'refs.x/y',
  'refsx/y',
  'heads/refs/x',
  'HEAD',
  'HEAD/x',
  'x/HEAD',
  'FETCH_HEAD',
  '@',
  '@@',
  'a/@',
  '@/a',
  'a@b',
  '@{',
  'a@{b',
  '@@{',
  '@}',
  '{@',
  'a{b}',
  '@.x',
  'x.@',
  'a b',
  ' main',
  'main ',
  'a\tb',
  'a\nb',
  'a\x01b',
  'a\x7fb',
  'a~b',
  'a^b',
  'a:b',
  'a?b',
  'a*b',
  'a[b',
  'a]b',
  'a\\b',
  '-x',
  '-',
  'a/-x',
  'x-',
  '/a',
  'a/',
  'a//b',
  '//',
  '/',
  "a'b",
  'a"b',
  'a<b>',
  'a|b',
  'a;b',
  'a$b',
  'a%b',
  'a#b',
  'a&b',
  'a!b',
  'a,b',
  'a=b',
  'a+b',
  'ünïcödé/ブランチ',
  'emoji-🚀',
  'a\u00e9b',
  // Characters git allows and Kapsa refuses (an invisible or bidirectional-control character).
  'main\u200e',
  'mai\u200fn',
  'feature/\u202eevil',
  'a\u202ab',
  'a\u2066b\u2069',
  'zero\u200bwidth',
  'a\u00a0b',
  'soft\u00adhyphen',
  'c1\u0085control',
  'bom\ufeff',
  'ideographic\u3000space',
  'a\u2028b',
];

/** Names git allows that Kapsa refuses on purpose, and why. */
function kapsaOnly(name: string): boolean {
  if (name === '@' || name.startsWith('refs/')) return true;
  return [...name].some((char) => REFUSED_INVISIBLE_RANGES.some(([from, to]) => (char.codePointAt(0) ?? 0) >= from && (char.codePointAt(0) ?? 0) <= to));
}

const scratch = mkdtempSync(join(tmpdir(), 'kapsa-git-refs-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** `git check-ref-format --branch` for every name (one shell, outside any repository). */
function gitAccepts(names: readonly string[]): boolean[] {
  const script = `while IFS= read -r -d '' name; do if git check-ref-format --branch "$name" >/dev/null 2>&1; then echo 1; else echo 0; fi; done`;
  const result = spawnSync('bash', ['-c', script], {
    input: `${names.join('\0')}\0`,
    encoding: 'utf8',
    cwd: scratch,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: scratch, GIT_CEILING_DIRECTORIES: '/', GIT_CONFIG_NOSYSTEM: '1' },
    maxBuffer: 16 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`git check-ref-format failed (is git installed?): ${result.stderr}`);
  const answers = result.stdout.trim().split('\n');
  expect(answers).toHaveLength(names.length);
  return answers.map((answer) => answer === '1');
}

const GIT_ALPHABET = ['a', 'l', 'o', 'c', 'k', 'r', 'e', 'f', 's', 'H', 'E', 'A', 'D', '.', '/', '@', '{', '-', ' ', '~', 'é'];
const FUZZ_ALPHABET = [...GIT_ALPHABET, '*', '?', '[', '\\', ':', '^', '\t', '\u202e', '\u200b', '\u00a0', 'ブ'];

describe('branch names: Kapsa against git check-ref-format --branch', () => {
  it('agrees with git on tricky names, refusing more only where Kapsa says so', () => {
    const names = TRICKY.filter((name) => !name.includes('\0'));
    const git = gitAccepts(names);
    const disagreements = names.flatMap((name, index) => {
      const kapsa = branchNameProblem(name) === undefined;
      if (kapsa === git[index]) return [];
      if (git[index] === true && !kapsa && kapsaOnly(name)) return [];
      return [`${JSON.stringify(name)}: git ${git[index] ? 'accepts' : 'refuses'} it, Kapsa ${kapsa ? 'accepts' : `refuses it (${branchNameProblem(name)})`}`];
    });
    expect(disagreements).toEqual([]);
    // The list really covers both sides, and the Kapsa-only refusals are ones git accepts.
    expect(git.filter(Boolean).length).toBeGreaterThan(20);
    expect(git.filter((accepted) => !accepted).length).toBeGreaterThan(30);
    const kapsaOnlyNames = names.filter((name, index) => git[index] === true && branchNameProblem(name) !== undefined);
    expect(kapsaOnlyNames.length).toBeGreaterThanOrEqual(14);
    expect(kapsaOnlyNames.every(kapsaOnly)).toBe(true);
  });

  it('agrees with git on 1000 generated names', { timeout: 120_000 }, () => {
    const names = generatedNames(1000, GIT_ALPHABET, 20261201);
    const git = gitAccepts(names);
    const disagreements = names.filter((name, index) => {
      const kapsa = branchNameProblem(name) === undefined;
      return kapsa !== git[index] && !(git[index] === true && kapsaOnly(name));
    });
    expect(disagreements).toEqual([]);
    expect(git.filter(Boolean).length).toBeGreaterThan(100);
  });

  it('names the rule a refused name breaks', () => {
    expect(branchNameProblem('main')).toBeUndefined();
    expect(branchNameProblem('a..b')).toBe('contains ".."');
    expect(branchNameProblem('main.lock')).toBe('has a component ending with ".lock"');
    expect(branchNameProblem('a b')).toBe('contains a space');
    expect(branchNameProblem('a\nb')).toBe('contains the control character U+000A');
    expect(branchNameProblem('refs/heads/main')).toBe('starts with "refs/": give the short branch name (main, not refs/heads/main)');
    expect(branchNameProblem('-x')).toBe('starts with "-"');
    expect(branchNameProblem('a@{1}')).toBe('contains "@{"');
    expect(branchNameProblem('@')).toBe('is "@", which git reads as HEAD');
    expect(branchNameProblem('feature/\u202eevil')).toMatch(/^contains U\+202E, an invisible, spacing or bidirectional-control character \(git allows it; Kapsa refuses it/);
    expect(branchNameProblem('main\u200e')).toMatch(/^contains U\+200E/);
  });
});

describe('the CRD pattern says what the rule says', () => {
  const namePattern = new RegExp(BRANCH_NAME_PATTERN);
  const globPattern = new RegExp(BRANCH_GLOB_PATTERN);
  /** The pattern leaves whole names and the refs/ prefix to the CEL rule KAPSA_SHORT_NAME_RULE. */
  const shortNameRule = (name: string): boolean => name !== 'HEAD' && name !== '@' && !name.startsWith('refs/');

  it('uses no construct one of its two regex dialects lacks (ECMAScript without u, RE2)', () => {
    for (const pattern of [BRANCH_NAME_PATTERN, BRANCH_GLOB_PATTERN]) {
      expect(pattern).not.toMatch(/\(\?[=!<]/);
      expect(pattern).not.toMatch(/\\[upPdDsSwWbBk]/);
      expect(pattern).not.toMatch(/\\x\{/);
      expect([...pattern].every((char) => (char.codePointAt(0) ?? 0) <= 0xffff)).toBe(true);
    }
    expect(KAPSA_SHORT_NAME_RULE.rule).toBe("self != 'HEAD' && self != '@' && !self.startsWith('refs/')");
  });

  it('matches exactly the names the rule accepts (tricky and 60000 generated names)', () => {
    const names = [...TRICKY, '', 'a\0b', ...generatedNames(60000, FUZZ_ALPHABET, 7)];
    const mismatches = names.filter((name) => (branchNameProblem(name) === undefined) !== (namePattern.test(name) && shortNameRule(name)));
    expect(mismatches.map((name) => JSON.stringify(name))).toEqual([]);
  });

  it('matches exactly the globs the glob rule accepts', () => {
    const globs = [...TRICKY, '*', '**', 'feature/*', '*/**', 'release-*', '*.lock', '.*', '-*', '*.', 'a/**/b', 'fix-?', '[ab]*', ...generatedNames(60000, FUZZ_ALPHABET, 11)];
    const mismatches = globs.filter((glob) => (branchGlobProblem(glob) === undefined) !== globPattern.test(glob));
    expect(mismatches.map((glob) => JSON.stringify(glob))).toEqual([]);
  });

  it('is carried by the generated Project CRD unchanged', () => {
    const crd = parse(readFileSync(join(import.meta.dirname, '..', '..', 'crds', 'projects.kapsa-project.io.yaml'), 'utf8')) as {
      spec: { versions: Array<{ schema: { openAPIV3Schema: { properties: { spec: Record<string, any> } } } }> };
    };
    const spec = crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties;
    expect(spec.repository.properties.branch.pattern).toBe(BRANCH_NAME_PATTERN);
    expect(spec.repository.properties.branch['x-kubernetes-validations']).toEqual([KAPSA_SHORT_NAME_RULE]);
    expect(spec.environments.items.properties.branch.pattern).toBe(BRANCH_NAME_PATTERN);
    expect(spec.previewEnvironments.properties.branches.properties.include.items.pattern).toBe(BRANCH_GLOB_PATTERN);
    expect(spec.previewEnvironments.properties.branches.properties.exclude.items.pattern).toBe(BRANCH_GLOB_PATTERN);
    // No invisible character appears as itself in the file: they are \u escapes.
    const text = readFileSync(join(import.meta.dirname, '..', '..', 'crds', 'projects.kapsa-project.io.yaml'), 'utf8');
    expect([...text].filter((char) => REFUSED_INVISIBLE_RANGES.some(([from, to]) => (char.codePointAt(0) ?? 0) >= from && (char.codePointAt(0) ?? 0) <= to))).toEqual([]);
  });
});

describe('preview globs', () => {
  it('accept the default and the usual shapes', () => {
    for (const glob of ['*', '**', 'feature/*', 'feature/**', 'release-*', '!wip/*', 'fix/{a,b}', '@(a|b)', 'Feature/*']) expect(branchGlobProblem(glob), glob).toBeUndefined();
  });

  it('refuse the branch-name characters other than *, and names no branch can have', () => {
    expect(branchGlobProblem('fix-?')).toBe('contains "?"');
    expect(branchGlobProblem('[ab]*')).toBe('contains "["');
    expect(branchGlobProblem('feature/ *')).toBe('contains a space');
    expect(branchGlobProblem('*.lock')).toBe('has a component ending with ".lock"');
    expect(branchGlobProblem('a..*')).toBe('contains ".."');
    expect(branchGlobProblem('feature/\u202e*')).toMatch(/^contains U\+202E/);
  });
});

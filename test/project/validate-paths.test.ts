/**
 * validateProject refuses branch names git cannot have, preview globs of such names, and build
 * paths that leave the repository, naming the field and the rule; and the CRD patterns of the
 * build paths say what the hook's check says.
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../hooks/lib/objects.ts';
import { REPOSITORY_DIRECTORY_PATTERN, REPOSITORY_PATH_PATTERN } from '../../hooks/project/types.ts';
import { repositoryPathProblem, validateProject } from '../../hooks/project/validate.ts';

function project(spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'kapsa-project.io/v1alpha1',
    kind: 'Project',
    metadata: { name: 'shop' },
    spec: {
      repository: { url: 'https://git.example.com/acme/shop.git', branch: 'main' },
      registry: { name: 'main' },
      domain: { subdomain: 'shop', domainPoolRef: { name: 'apps' } },
      environments: [{ name: 'dev' }],
      ...spec,
    },
  };
}

function errorsOf(spec: Record<string, unknown>): Array<{ path: string; message: string }> {
  const result = validateProject(project(spec));
  if (result.ok) return [];
  return result.errors;
}

const dockerfileBuild = (build: Record<string, unknown>) => ({ build: { strategy: 'dockerfile', ...build } });

describe('validateProject: branch names', () => {
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['".." in the default branch', { repository: { url: 'https://git.example.com/a.git', branch: 'a..b' } }, 'spec.repository.branch', /contains "\.\."/],
    ['a .lock component', { repository: { url: 'https://git.example.com/a.git', branch: 'main.lock' } }, 'spec.repository.branch', /ending with "\.lock"/],
    ['a space', { environments: [{ name: 'dev', branch: 'my branch' }] }, 'spec.environments[0].branch', /contains a space/],
    ['a full ref', { environments: [{ name: 'dev' }, { name: 'prod', branch: 'refs/heads/main' }] }, 'spec.environments[1].branch', /starts with "refs\/"/],
    ['HEAD (left to CEL by the CRD)', { environments: [{ name: 'dev', branch: 'HEAD' }] }, 'spec.environments[0].branch', /"HEAD"/],
    ['a control character', { repository: { url: 'https://git.example.com/a.git', branch: 'main\u0007' } }, 'spec.repository.branch', /control character U\+0007/],
    ['a right-to-left mark', { repository: { url: 'https://git.example.com/a.git', branch: 'main\u200f' } }, 'spec.repository.branch', /U\+200F, an invisible, spacing or bidirectional-control character/],
    ['a glob with "?"', { previewEnvironments: { enabled: true, branches: { include: ['feature/*', 'fix-?'] } } }, 'spec.previewEnvironments.branches.include[1]', /is not a branch glob: it contains "\?"/],
    ['an exclude glob with a bidi override', { previewEnvironments: { enabled: true, branches: { exclude: ['\u202e*'] } } }, 'spec.previewEnvironments.branches.exclude[0]', /U\+202E/],
  ];

  it.each(cases)('refuses %s with the field path and the rule', (_name, spec, path, message) => {
    const errors = errorsOf(spec);
    const error = errors.find((candidate) => candidate.path === path);
    expect(error, JSON.stringify(errors)).toBeDefined();
    expect(error?.message).toMatch(message);
    // One error per field, in words: the schema's "Expected string to match" is not repeated.
    expect(errors.filter((candidate) => candidate.path === path)).toHaveLength(1);
    expect(error?.message).not.toMatch(/Expected string to match/);
  });

  it('accepts the names and globs git and Kapsa accept', () => {
    const result = validateProject(
      project({
        repository: { url: 'https://git.example.com/a.git', branch: 'release/1.x' },
        environments: [{ name: 'dev', branch: 'feature/ünïcode' }, { name: 'prod', branch: 'a.lockx' }],
        previewEnvironments: { enabled: true, branches: { include: ['*', '**', 'feature/*'], exclude: ['wip-*'] } },
      }),
    );
    expect(result.ok).toBe(true);
  });

  it('still reports the other schema errors next to a branch error', () => {
    const errors = errorsOf({ repository: { url: 'https://git.example.com/a.git', branch: 'a..b' }, environments: [{ name: 'Dev' }] });
    expect(errors.map((error) => error.path).sort()).toEqual(['spec.environments[0].name', 'spec.repository.branch']);
  });
});

describe('validateProject: build paths stay in the repository', () => {
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['a Dockerfile up the tree', dockerfileBuild({ dockerfile: '../../etc/passwd' }), 'spec.build.dockerfile', /"\.\." segment: it would leave the repository/],
    ['a context up the tree', dockerfileBuild({ context: '../..' }), 'spec.build.context', /"\.\." segment/],
    ['a context ending in ..', { build: { context: 'app/..' } }, 'spec.build.context', /"\.\." segment/],
    ['an absolute Dockerfile path', dockerfileBuild({ dockerfile: '/etc/passwd' }), 'spec.build.dockerfile', /not an absolute path/],
    ['an absolute context', { build: { context: '/srv' } }, 'spec.build.context', /not an absolute path/],
    ['a backslash', dockerfileBuild({ dockerfile: '..\\..\\Dockerfile' }), 'spec.build.dockerfile', /backslash/],
    ['a newline', { build: { context: 'app\n' } }, 'spec.build.context', /whitespace or control characters/],
  ];

  it.each(cases)('refuses %s', (_name, spec, path, message) => {
    const errors = errorsOf(spec);
    const error = errors.find((candidate) => candidate.path === path);
    expect(error, JSON.stringify(errors)).toBeDefined();
    expect(error?.message).toMatch(message);
    expect(errors.filter((candidate) => candidate.path === path)).toHaveLength(1);
  });

  it('accepts paths inside the repository', () => {
    for (const build of [
      { dockerfile: 'Dockerfile' },
      { dockerfile: 'docker/prod.Dockerfile', context: 'services/api' },
      { dockerfile: './Dockerfile', context: '.' },
      { dockerfile: '..hidden/Dockerfile', context: 'app/' },
      { context: '' },
    ]) {
      expect(validateProject(project(dockerfileBuild(build))).ok, JSON.stringify(build)).toBe(true);
    }
  });

  it('the CRD patterns match exactly the paths the check accepts', () => {
    const filePattern = new RegExp(REPOSITORY_PATH_PATTERN);
    const directoryPattern = new RegExp(REPOSITORY_DIRECTORY_PATTERN);
    expect(REPOSITORY_PATH_PATTERN).not.toMatch(/\(\?[=!<]|\\[sSdDwWuUpP]/);
    const alphabet = ['a', '.', '/', '\\', ' ', '\t', 'é', '-', '\u0000'];
    const paths = new Set<string>(['', '.', '..', '...', '../', '/..', 'a/..', 'a/../b', '..a', 'a..', 'a//b', 'a/', '/']);
    let state = 3;
    while (paths.size < 20000) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      const length = 1 + (state % 7);
      let path = '';
      for (let index = 0; index < length; index++) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        path += alphabet[state % alphabet.length];
      }
      paths.add(path);
    }
    const mismatches = [...paths].filter(
      (path) => (repositoryPathProblem(path, false) === undefined) !== filePattern.test(path) || (repositoryPathProblem(path, true) === undefined) !== directoryPattern.test(path),
    );
    expect(mismatches.map((path) => JSON.stringify(path))).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { environmentBranches, trackedBranches } from '../../hooks/git-poller/tracked.ts';

const sha = (n: number): string => n.toString(16).padStart(40, '0');

const heads = {
  main: sha(1),
  develop: sha(2),
  'feature/login': sha(3),
  'feature/wip-draft': sha(4),
  'feature/deep/nested': sha(5),
  'fix/typo': sha(6),
  'renovate/lodash': sha(7),
};

describe('trackedBranches', () => {
  it('environment branches only when previews are off; branch defaults to spec.repository.branch', () => {
    const spec = { repository: { url: 'https://x.example/r.git', branch: 'develop' }, environments: [{ name: 'prod', branch: 'main' }, { name: 'staging' }] };
    expect(environmentBranches(spec)).toEqual(['main', 'develop']);
    expect(trackedBranches(spec, heads, { maxTracked: 50 })).toEqual({ heads: { develop: sha(2), main: sha(1) }, missing: [], truncated: 0 });
  });

  it('default branch is main; missing environment branches are reported', () => {
    const spec = { repository: { url: 'u' }, environments: [{ name: 'prod' }, { name: 'qa', branch: 'qa' }] };
    expect(trackedBranches(spec, heads, { maxTracked: 50 })).toEqual({ heads: { main: sha(1) }, missing: ['qa'], truncated: 0 });
  });

  it('previews: include globs minus exclude globs, environment branches always count', () => {
    const spec = {
      repository: { url: 'u', branch: 'main' },
      environments: [{ name: 'prod' }, { name: 'wip', branch: 'feature/wip-draft' }],
      previewEnvironments: { enabled: true, branches: { include: ['feature/*', 'fix/**'], exclude: ['feature/wip-*'] } },
    };
    const result = trackedBranches(spec, heads, { maxTracked: 50 });
    expect(Object.keys(result.heads)).toEqual(['feature/login', 'feature/wip-draft', 'fix/typo', 'main']);
    expect(result.truncated).toBe(0);
  });

  it('previews enabled without include patterns include every branch', () => {
    const spec = { environments: [{ name: 'prod' }], previewEnvironments: { enabled: true, branches: { exclude: ['renovate/**'] } } };
    expect(Object.keys(trackedBranches(spec, heads, { maxTracked: 50 }).heads)).toEqual([
      'develop',
      'feature/deep/nested',
      'feature/login',
      'feature/wip-draft',
      'fix/typo',
      'main',
    ]);
  });

  it('disabled previews ignore patterns', () => {
    const spec = { environments: [{ name: 'prod' }], previewEnvironments: { enabled: false, branches: { include: ['**'] } } };
    expect(Object.keys(trackedBranches(spec, heads, { maxTracked: 50 }).heads)).toEqual(['main']);
  });

  it('is bounded by maxTracked: environment branches kept first, then previews in byte order, cut counted', () => {
    const many: Record<string, string> = { main: sha(1) };
    for (let i = 0; i < 10_000; i++) many[`feature/b-${String(i).padStart(5, '0')}`] = sha(i + 2);
    const spec = { environments: [{ name: 'prod' }], previewEnvironments: { enabled: true, branches: { include: ['feature/*'] } } };
    const result = trackedBranches(spec, many, { maxTracked: 20 });
    expect(Object.keys(result.heads)).toHaveLength(20);
    expect(result.heads.main).toBe(sha(1));
    expect(Object.keys(result.heads).slice(0, 3)).toEqual(['feature/b-00000', 'feature/b-00001', 'feature/b-00002']);
    expect(result.truncated).toBe(10_000 - 19);
  });

  it('keeps branches observed before when a new branch that sorts earlier would push them out', () => {
    const spec = { environments: [{ name: 'prod' }], previewEnvironments: { enabled: true, branches: { include: ['feature/*'] } } };
    const before = trackedBranches(spec, { main: sha(1), 'feature/m': sha(2), 'feature/n': sha(3) }, { maxTracked: 3 });
    expect(Object.keys(before.heads)).toEqual(['feature/m', 'feature/n', 'main']);
    const after = trackedBranches(spec, { main: sha(1), 'feature/a': sha(4), 'feature/m': sha(2), 'feature/n': sha(3) }, { maxTracked: 3, previous: new Set(Object.keys(before.heads)) });
    expect(Object.keys(after.heads)).toEqual(['feature/m', 'feature/n', 'main']);
    expect(after.truncated).toBe(1);
    // Without the previous observation the bound would have cut a running preview's branch.
    expect(Object.keys(trackedBranches(spec, { main: sha(1), 'feature/a': sha(4), 'feature/m': sha(2), 'feature/n': sha(3) }, { maxTracked: 3 }).heads)).toEqual(['feature/a', 'feature/m', 'main']);
  });

  it('matches dot segments the way the Project hook does', () => {
    const spec = { environments: [{ name: 'prod' }], previewEnvironments: { enabled: true, branches: { include: ['feature/*'] } } };
    expect(Object.keys(trackedBranches(spec, { main: sha(1), 'feature/.hidden': sha(2) }, { maxTracked: 5 }).heads)).toEqual(['feature/.hidden', 'main']);
  });

  it('output is independent of the order of the input heads', () => {
    const spec = { environments: [{ name: 'prod' }], previewEnvironments: { enabled: true } };
    const reversed = Object.fromEntries(Object.entries(heads).reverse());
    expect(JSON.stringify(trackedBranches(spec, reversed, { maxTracked: 4 }))).toBe(JSON.stringify(trackedBranches(spec, heads, { maxTracked: 4 })));
  });

  it('tolerates a malformed spec', () => {
    expect(trackedBranches(undefined, heads, { maxTracked: 5 })).toEqual({ heads: { main: sha(1) }, missing: [], truncated: 0 });
    expect(trackedBranches({ environments: 'x', previewEnvironments: { enabled: true, branches: { include: [1, null] } } }, { main: sha(1) }, { maxTracked: 5 }).heads).toEqual({ main: sha(1) });
  });
});

import { describe, expect, it } from 'vitest';
import { nextConditions } from '../../hooks/lib/conditions.ts';
import { parseDurationSeconds } from '../../hooks/lib/duration.ts';
import { keptChild } from '../../hooks/lib/kept.ts';
import { isDnsLabel, joinName, slugify } from '../../hooks/lib/names.ts';
import { canonicalQuantity } from '../../hooks/lib/quantity.ts';

describe('slugify', () => {
  it.each([
    ['main', 'main'],
    ['release-2', 'release-2'],
  ])('keeps %s, already a DNS label, as it is', (input, slug) => {
    expect(slugify(input)).toBe(slug);
  });

  it('appends a hash whenever the slug differs from the branch, so look-alikes never collide', () => {
    const names = ['feature/a_b', 'feature/a-b', 'Feature/A-B', 'feature/a.b', 'feature--a-b'].map((branch) => slugify(branch));
    expect(new Set(names).size).toBe(names.length);
    expect(names.every(isDnsLabel)).toBe(true);
    expect(slugify('feature/a-b')).toMatch(/^feature-a-b-[0-9a-f]{6}$/);
  });

  it('bounds long names at 63 characters and keeps them unique', () => {
    const a = slugify(`feature/${'x'.repeat(200)}`);
    const b = slugify(`feature/${'x'.repeat(199)}y`);
    expect(a.length).toBeLessThanOrEqual(63);
    expect(a).not.toBe(b);
    expect(isDnsLabel(a) && isDnsLabel(b)).toBe(true);
  });

  it('gives a valid name to a branch that slugs to nothing', () => {
    for (const branch of ['日本語', '---', '', '////']) {
      const slug = slugify(branch);
      expect(isDnsLabel(slug), `${branch} -> ${slug}`).toBe(true);
    }
    expect(slugify('日本語')).not.toBe(slugify('中文'));
  });

  it('transliterates accents where it can', () => {
    expect(slugify('fëature')).toMatch(/^fe-?ature-[0-9a-f]{6}$/);
  });

  it('joins names within the limit with a hash when cut', () => {
    expect(joinName(['build', 'main', 'abc'])).toBe('build-main-abc');
    const long = joinName(['build', 'x'.repeat(60), '0123456789ab']);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(isDnsLabel(long)).toBe(true);
  });
});

describe('canonicalQuantity', () => {
  it.each([
    ['1000m', '1'],
    ['1500m', '1500m'],
    ['0.5', '500m'],
    ['2', '2'],
    ['100m', '100m'],
    ['1024Mi', '1Gi'],
    ['1536Mi', '1536Mi'],
    ['1.5Gi', '1536Mi'],
    ['0.5Gi', '512Mi'],
    ['128Mi', '128Mi'],
    ['2000', '2k'],
    ['1500', '1500'],
    ['1.5k', '1500'],
    ['0', '0'],
    ['1e3', '1e3'],
  ])('%s -> %s', (input, expected) => {
    expect(canonicalQuantity(input)).toBe(expected);
  });
});

describe('durations', () => {
  it.each([
    ['30s', 30],
    ['5m', 300],
    ['1h30m', 5400],
    ['168h', 604800],
    ['', undefined],
    ['1d', undefined],
    ['5 m', undefined],
    ['-5m', undefined],
  ])('%s -> %s', (text, seconds) => {
    expect(parseDurationSeconds(text)).toBe(seconds);
  });
});

describe('conditions', () => {
  const now = new Date('2026-11-26T12:00:00Z');
  it('moves lastTransitionTime only when the status moves', () => {
    const previous = [{ type: 'Ready', status: 'True', reason: 'A', message: 'a', lastTransitionTime: '2026-01-01T00:00:00Z' }];
    const same = nextConditions(previous, [{ type: 'Ready', status: 'True', reason: 'B', message: 'b' }], now, 2);
    expect(same[0]).toEqual({ type: 'Ready', status: 'True', reason: 'B', message: 'b', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 2 });
    const moved = nextConditions(previous, [{ type: 'Ready', status: 'False', reason: 'C', message: 'c' }], now, 2);
    expect(moved[0]?.lastTransitionTime).toBe('2026-11-26T12:00:00Z');
  });
});

describe('keptChild', () => {
  it('replays what the hook last applied', () => {
    const applied = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', namespace: 'b' }, spec: { ports: [{ port: 80 }] } };
    const observed = {
      ...applied,
      metadata: { ...applied.metadata, uid: 'u', resourceVersion: '9', annotations: { 'metacontroller.k8s.io/last-applied-configuration': JSON.stringify(applied) } },
      spec: { ports: [{ port: 80 }], clusterIP: '10.0.0.1' },
      status: { loadBalancer: {} },
    };
    expect(keptChild(observed)).toEqual(applied);
  });

  it('falls back to the observed object without server-owned fields when the annotation is missing or damaged', () => {
    const observed = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'a', namespace: 'b', uid: 'u', resourceVersion: '9', labels: { x: 'y' }, annotations: { 'metacontroller.k8s.io/last-applied-configuration': '{broken' } },
      spec: { ports: [{ port: 80 }] },
      status: { loadBalancer: {} },
    };
    expect(keptChild(observed)).toEqual({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', namespace: 'b', labels: { x: 'y' } }, spec: { ports: [{ port: 80 }] } });
  });
});

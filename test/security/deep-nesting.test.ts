// Issue 12, defect 7: a `parent.spec` nested 5,000 levels deep overflowed the stack in the spec
// validator (its memo key is JSON.stringify of the spec) and the hook answered 500 on every
// retry. The HTTP layer now refuses a body nested deeper than MAX_BODY_DEPTH with a 400 before any
// hook sees it, and the validator, which the pure sync functions use as a library, refuses a value
// nested deeper than MAX_NESTING_DEPTH as a field error instead of recursing into it.

import { describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { MAX_BODY_DEPTH } from '../../hooks/server/app.ts';
import { compileValidator, MAX_NESTING_DEPTH, nestedDeeperThan } from '../../hooks/lib/schema.ts';
import { syncEnvironment } from '../../hooks/environment/sync.ts';
import type { CompositeSyncRequest } from '../../hooks/lib/hook.ts';
import { environmentRequest, testApp } from '../support/app.ts';

/** A value `depth` levels deep (objects, or arrays), built without recursion. */
function nested(depth: number, kind: 'object' | 'array' = 'object'): unknown {
  let value: unknown = 1;
  for (let level = 0; level < depth; level += 1) value = kind === 'object' ? { a: value } : [value];
  return value;
}

/** The JSON text of `nested(depth)`, written directly (JSON.stringify of it would overflow). */
function nestedText(depth: number, kind: 'object' | 'array' = 'object'): string {
  return kind === 'object' ? `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}` : `${'['.repeat(depth)}1${']'.repeat(depth)}`;
}

/** An Environment sync request whose `parent.spec.deep` is `text`. */
function requestWithDeepSpec(text: string): string {
  return JSON.stringify(environmentRequest).replace('"spec":{', `"spec":{"deep":${text},`);
}

const MESSAGE = `body is nested deeper than ${MAX_BODY_DEPTH} levels`;

describe('a deeply nested hook request body', () => {
  it('has a limit well above any Kubernetes object', () => {
    expect(MAX_BODY_DEPTH).toBe(100);
    expect(MAX_NESTING_DEPTH).toBe(100);
  });

  it.each([
    ['objects, 5,000 levels', 5_000, 'object'],
    ['objects, 100,000 levels', 100_000, 'object'],
    ['arrays, 100,000 levels', 100_000, 'array'],
    ['objects, 1,000,000 levels', 1_000_000, 'object'],
  ] as const)('gets 400 with a one-line message, not 500: %s', async (_name, depth, kind) => {
    const { app, logs, metrics } = testApp();
    const response = await app.inject({
      method: 'POST',
      url: '/hooks/environment/sync',
      headers: { 'content-type': 'application/json' },
      payload: requestWithDeepSpec(nestedText(depth, kind)),
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: 'Bad Request', message: MESSAGE });
    const refused = logs.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.msg === 'hook request refused');
    expect(refused).toMatchObject({ controller: 'environment', hook: 'sync', statusCode: 400, reason: MESSAGE });
    const counted = (await metrics.hookRequests.get()).values.find((value) => value.labels.outcome === 'bad_request');
    expect(counted).toMatchObject({ labels: { controller: 'environment', hook: 'sync' }, value: 1 });
    await app.close();
  });

  it('is refused wherever the depth is: in children, at the top level', async () => {
    const { app } = testApp();
    const inChildren = JSON.stringify({ ...environmentRequest, children: { 'Deployment.apps/v1': { dev: '__DEEP__' } } }).replace('"__DEEP__"', nestedText(5_000, 'array'));
    for (const payload of [inChildren, nestedText(5_000)]) {
      const response = await app.inject({ method: 'POST', url: '/hooks/environment/sync', headers: { 'content-type': 'application/json' }, payload });
      expect(response.statusCode).toBe(400);
      expect((response.json() as { message: string }).message).toBe(MESSAGE);
    }
    await app.close();
  });

  it('lets a body of exactly the limit through, and refuses one level more', async () => {
    const { app } = testApp();
    // body (level 1) > parent (2) > spec (3) > deep, whose n objects take levels 4 to n + 3.
    const atLimit = requestWithDeepSpec(nestedText(MAX_BODY_DEPTH - 3));
    const overLimit = requestWithDeepSpec(nestedText(MAX_BODY_DEPTH - 2));
    const ok = await app.inject({ method: 'POST', url: '/hooks/environment/sync', headers: { 'content-type': 'application/json' }, payload: atLimit });
    expect(ok.statusCode).toBe(200);
    const refused = await app.inject({ method: 'POST', url: '/hooks/environment/sync', headers: { 'content-type': 'application/json' }, payload: overLimit });
    expect(refused.statusCode).toBe(400);
    await app.close();
  });

  it('leaves a normal request alone', async () => {
    const { app } = testApp();
    const response = await app.inject({ method: 'POST', url: '/hooks/environment/sync', payload: environmentRequest });
    expect(response.statusCode).toBe(200);
    expect((response.json() as { children: unknown[] }).children).toHaveLength(4);
    await app.close();
  });

  it('keeps the other JSON parser rules: malformed JSON and prototype poisoning are 400', async () => {
    const { app } = testApp();
    const malformed = await app.inject({ method: 'POST', url: '/hooks/environment/sync', headers: { 'content-type': 'application/json' }, payload: '{"parent": ' });
    expect(malformed.statusCode).toBe(400);
    expect((malformed.json() as { message: string }).message).toMatch(/JSON/);
    const poisoned = await app.inject({
      method: 'POST',
      url: '/hooks/environment/sync',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      payload: '{"parent": {"__proto__": {"polluted": true}}}',
    });
    expect(poisoned.statusCode).toBe(400);
    const empty = await app.inject({ method: 'POST', url: '/hooks/environment/sync', headers: { 'content-type': 'application/json' }, payload: '' });
    expect(empty.statusCode).toBe(400);
    await app.close();
  });

  it('JSON.parse of a huge-depth text does not itself crash (V8 parses iteratively)', () => {
    const value = JSON.parse(nestedText(1_000_000));
    expect(nestedDeeperThan(value, MAX_NESTING_DEPTH)).toBe(true);
  });
});

describe('the spec validator as a library', () => {
  const validator = compileValidator(Type.Object({ name: Type.Optional(Type.String()) }));

  it.each([5_000, 100_000])('refuses a value %i levels deep with a field error instead of overflowing', (depth) => {
    const result = validator.parse({ name: 'x', deep: nested(depth) }, 'spec');
    expect(result).toEqual({ ok: false, errors: [{ path: 'spec', message: `is nested deeper than ${MAX_NESTING_DEPTH} levels` }] });
  });

  it('still accepts and memoises a value below the limit', () => {
    const value = { name: 'x', deep: nested(MAX_NESTING_DEPTH - 2) };
    const first = validator.parse(value, 'spec');
    const second = validator.parse(value, 'spec');
    expect(first.ok).toBe(true);
    expect(second.ok && first.ok && second.value === first.value).toBe(true);
    expect(Object.isFrozen(first.ok ? first.value : undefined)).toBe(true);
  });

  it('a pure sync called directly with a deep spec reports InvalidSpec and keeps the running children', () => {
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'dev', namespace: 'shop' }, spec: { replicas: 1 } };
    const request = {
      ...environmentRequest,
      parent: { ...environmentRequest.parent, spec: { ...environmentRequest.parent.spec, deep: nested(100_000) } },
      children: { 'Deployment.apps/v1': { dev: deployment } },
    } as unknown as CompositeSyncRequest;
    const reply = syncEnvironment(request, { now: new Date('2026-11-26T12:00:00Z') });
    expect(reply.children).toEqual([expect.objectContaining({ kind: 'Deployment', metadata: expect.objectContaining({ name: 'dev' }) })]);
    const text = JSON.stringify(reply.status);
    expect(text).toContain(`spec: is nested deeper than ${MAX_NESTING_DEPTH} levels`);
  });
});

describe('nestedDeeperThan', () => {
  it.each([
    ['a scalar', 1, 0, false],
    ['an empty object', {}, 1, false],
    ['an empty object, limit 0', {}, 0, true],
    ['three levels, limit 3', { a: [{ b: 1 }] }, 3, false],
    ['three levels, limit 2', { a: [{ b: 1 }] }, 2, true],
    ['a deep branch among shallow ones', { a: 1, b: [1, 2, { c: { d: {} } }], e: {} }, 4, true],
  ] as const)('%s', (_name, value, limit, expected) => {
    expect(nestedDeeperThan(value, limit)).toBe(expected);
  });

  it('handles a million levels without recursion', () => {
    expect(nestedDeeperThan(nested(1_000_000, 'array'), 100)).toBe(true);
  });
});

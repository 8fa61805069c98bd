// User-controlled strings (branch names, subdomains, environment names, the observed-refs
// annotation) cannot inject into Ingress hosts, paths or annotations.

import { describe, expect, it } from 'vitest';
import { syncEnvironment } from '../../hooks/environment/sync.ts';
import type { CompositeSyncRequest } from '../../hooks/lib/hook.ts';
import { defaultConfig } from '../../hooks/server/config.ts';
import { projectSettings } from '../../hooks/project/settings.ts';
import { syncProject } from '../../hooks/project/sync.ts';
import { loadCases } from '../support/golden.ts';

type Json = Record<string, unknown>;

const NOW = new Date('2026-11-26T12:00:00Z');
const SETTINGS = projectSettings(defaultConfig());
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const BASE = 'shop.apps.example.com';
const SHA = (n: number) => n.toString(16).padStart(40, 'a');

const HOSTILE_BRANCHES = [
  'feature/line\nbreak',
  'feature/../../etc/passwd',
  'feature/a/b/c',
  'feature/*',
  'feature/ünïcödé-日本',
  'feature/with space',
  'feature/evil.attacker.com',
  'feature/UPPER',
  'feature/--x--',
  'feature/"},"x":"y',
  'feature/x\r\nHost: evil',
  'feature/.',
  'feature/-',
  `feature/${'z'.repeat(300)}`,
];

function baseRequest(): Json {
  const golden = loadCases('project').find((item) => item.name === 'preview-long-and-unicode');
  if (!golden) throw new Error('golden case preview-long-and-unicode is missing');
  return structuredClone(golden.request) as Json;
}

function withRefs(request: Json, refs: string): Json {
  const parent = request.parent as Json;
  const metadata = parent.metadata as Json;
  metadata.annotations = { ...(metadata.annotations as Json), 'kapsa-project.io/observed-refs': refs };
  const spec = parent.spec as Json;
  spec.previewEnvironments = { enabled: true, ttl: '72h', maxActive: 50, branches: { include: ['**'], exclude: [] } };
  return request;
}

function sync(request: Json) {
  return syncProject(request as unknown as CompositeSyncRequest, { now: NOW, settings: SETTINGS });
}

function environmentsOf(children: readonly Json[]): Json[] {
  return children.filter((child) => child.kind === 'Environment');
}

function conditionOf(status: Json, type: string): Json | undefined {
  return (status.conditions as Json[] | undefined)?.find((condition) => condition.type === type);
}

/** Runs the Environment hook on an Environment the Project hook made and returns its Ingresses. */
function ingressesFor(environment: Json): Json[] {
  const reply = syncEnvironment(
    { controller: { metadata: { name: 'kapsa-environment' } }, parent: { ...environment, metadata: { ...(environment.metadata as Json), generation: 1 } }, children: {}, related: {}, finalizing: false } as unknown as CompositeSyncRequest,
    { now: NOW },
  );
  return (reply.children as Json[]).filter((child) => child.kind === 'Ingress');
}

function expectSafeHost(host: unknown, where: string): void {
  expect(typeof host, where).toBe('string');
  const text = String(host);
  expect(text.length, where).toBeLessThanOrEqual(253);
  expect(text.endsWith(`.${BASE}`) || text === BASE, `${where}: ${JSON.stringify(text)} is not under ${BASE}`).toBe(true);
  for (const label of text.split('.')) expect(label, `${where}: label of ${JSON.stringify(text)}`).toMatch(DNS_LABEL);
  // Only one label is the user's: nothing can add labels (no dots) to climb out of the base domain.
  expect(text.split('.').length, where).toBeLessThanOrEqual(BASE.split('.').length + 1);
}

function expectSafeIngress(ingress: Json, where: string): void {
  const spec = ingress.spec as { rules?: Array<{ host: string; http?: { paths: Array<{ path: string }> } }>; tls?: Array<{ hosts: string[]; secretName?: string }> };
  for (const rule of spec.rules ?? []) {
    expectSafeHost(rule.host, `${where} rule`);
    for (const path of rule.http?.paths ?? []) expect(path.path, `${where} path`).toBe('/');
  }
  for (const tls of spec.tls ?? []) {
    for (const host of tls.hosts) expectSafeHost(host, `${where} tls`);
    if (tls.secretName) expect(tls.secretName, `${where} tls secret`).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
  }
  const metadata = ingress.metadata as { name: string; annotations?: Record<string, string> };
  expect(metadata.name).toMatch(DNS_LABEL);
  for (const [key, value] of Object.entries(metadata.annotations ?? {})) {
    expect(value, `${where} annotation ${key}`).not.toMatch(/[\r\n]/);
    expect(key, `${where} annotation key`).toMatch(/^([a-z0-9.-]+\/)?[A-Za-z0-9._-]+$/);
  }
}

describe('hostile branch names', () => {
  it('become DNS-safe preview names and hosts; every Ingress host is a label under the base, every path is /', () => {
    const refs = Object.fromEntries([['main', SHA(0)], ...HOSTILE_BRANCHES.map((branch, index) => [branch, SHA(index + 1)])]);
    const reply = sync(withRefs(baseRequest(), JSON.stringify(refs)));
    const environments = environmentsOf(reply.children as Json[]);
    const previews = environments.filter((environment) => (environment.spec as Json).type === 'preview');
    // Names git itself refuses (spaces, control characters, `*`, `..`) may be dropped outright; the
    // rest must all get a preview.
    expect(previews.length).toBeGreaterThanOrEqual(HOSTILE_BRANCHES.filter((branch) => !/[\s*]|\.\.|\/\.$/.test(branch)).length);
    expect(previews.length).toBeLessThanOrEqual(HOSTILE_BRANCHES.length);
    const hosts = new Set<string>();
    let ingresses = 0;
    for (const environment of environments) {
      const metadata = environment.metadata as { name: string };
      expect(metadata.name).toMatch(DNS_LABEL);
      const ingress = (environment.spec as { ingress?: { host?: string; path?: string } }).ingress;
      expectSafeHost(ingress?.host, `Environment ${metadata.name}`);
      if (ingress?.path !== undefined) expect(ingress.path).toBe('/');
      // Two branches never share a host.
      expect(hosts.has(String(ingress?.host)), `duplicate host ${ingress?.host}`).toBe(false);
      hosts.add(String(ingress?.host));
      for (const child of ingressesFor(environment)) {
        expectSafeIngress(child, `Ingress of ${metadata.name}`);
        ingresses += 1;
      }
    }
    expect(ingresses).toBeGreaterThan(environments.length / 2);
    // No user string reaches an object as it was: labels and annotations of the Environments carry
    // branch names only as annotations (not labels), and never with a line break.
    for (const environment of environments) {
      const metadata = environment.metadata as { labels?: Record<string, string>; annotations?: Record<string, string> };
      for (const value of Object.values(metadata.labels ?? {})) expect(value).toMatch(/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/);
    }
  });
});

describe('the observed-refs annotation is untrusted input', () => {
  it.each([
    ['not JSON', '{"main":'],
    ['an array', '["main"]'],
    ['a prototype key', '{"__proto__":{"polluted":"yes"},"main":"' + SHA(0) + '"}'],
    ['a non-sha value', '{"main":"9f4b2c1d; rm -rf /"}'],
    ['a nested object', '{"main":{"sha":"' + SHA(0) + '"}}'],
    ['a host in a value', '{"main":"' + SHA(0) + '","feature/x":"evil.example.com"}'],
    ['a huge annotation', JSON.stringify(Object.fromEntries(Array.from({ length: 2000 }, (_, index) => [`feature/b${index}`, SHA(index)])))],
  ])('%s: no crash, no prototype pollution, and every host stays safe', (_name, refs) => {
    const reply = sync(withRefs(baseRequest(), refs));
    expect(({} as Json).polluted).toBeUndefined();
    for (const environment of environmentsOf(reply.children as Json[])) {
      expectSafeHost((environment.spec as { ingress?: { host?: string } }).ingress?.host, String((environment.metadata as Json).name));
      const image = String((environment.spec as Json).image ?? '');
      expect(image).not.toMatch(/[\s;]/);
      for (const child of ingressesFor(environment)) expectSafeIngress(child, 'Ingress');
    }
    // Commits recorded in status are SHAs or absent.
    const commit = (reply.status as Json).latestCommit;
    if (commit !== undefined) expect(String(commit)).toMatch(/^[0-9a-f]{7,64}$/);
  });
});

describe('invalid subdomains and environment names produce InvalidSpec, not children', () => {
  const cases: Array<[string, (spec: Json) => void]> = [
    ['a subdomain with a dot', (spec) => ((spec.domain as Json).subdomain = 'shop.evil')],
    ['an uppercase subdomain', (spec) => ((spec.domain as Json).subdomain = 'Shop')],
    ['a subdomain with a newline', (spec) => ((spec.domain as Json).subdomain = 'shop\nx')],
    ['a subdomain ending in a dash', (spec) => ((spec.domain as Json).subdomain = 'shop-')],
    ['an environment name with a dot', (spec) => (spec.environments = [{ name: 'dev.evil' }])],
    ['an uppercase environment name', (spec) => (spec.environments = [{ name: 'Dev' }])],
    ['an environment name with a slash', (spec) => (spec.environments = [{ name: 'dev/x' }])],
    ['an environment name of 64 characters', (spec) => (spec.environments = [{ name: `d${'x'.repeat(63)}` }])],
  ];

  it.each(cases)('%s', (_name, change) => {
    const request = baseRequest();
    change((request.parent as Json).spec as Json);
    const reply = sync(request);
    const invalid = conditionOf(reply.status as Json, 'InvalidSpec');
    expect(invalid?.status, JSON.stringify(reply.status)).toBe('True');
    // Nothing was observed, so nothing is kept: an invalid spec creates no children at all.
    expect(reply.children).toEqual([]);
  });

  it('a subdomain with `--` is a valid DNS label and stays one label under the base', () => {
    const request = baseRequest();
    (((request.parent as Json).spec as Json).domain as Json).subdomain = 'my--shop';
    const reply = sync(request);
    for (const environment of environmentsOf(reply.children as Json[])) {
      const host = String((environment.spec as { ingress?: { host?: string } }).ingress?.host);
      expect(host.endsWith('.my--shop.apps.example.com') || host === 'my--shop.apps.example.com', host).toBe(true);
      for (const label of host.split('.')) expect(label).toMatch(DNS_LABEL);
    }
  });
});

// Pod Security `restricted` for every pod Kapsa makes: the runtime Deployments of every golden
// environment case, the build Jobs of every golden project case (a documented exception, checked
// exactly), and the chart's own hook Deployment.

import { describe, expect, it } from 'vitest';
import { checkObject, checkPodSpec, describeViolations, podSpecOf } from '../support/pod-security.ts';
import { loadCases } from '../support/golden.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { keptChild } from '../../hooks/lib/kept.ts';
import type { KubeObject } from '../../hooks/lib/objects.ts';
import { findObject, renderChart, ALL_FEATURES } from '../chart/helm.ts';

type Json = Record<string, unknown>;

interface FixtureObject {
  fixture: string;
  object: Json & { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } };
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value as Json).sort(([a], [b]) => a.localeCompare(b)).map(([key, item]) => `${JSON.stringify(key)}:${canonical(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** What "keep" replays for each observed child of a request (its last-applied configuration). */
function lastApplied(request: Json): Set<string> {
  const out = new Set<string>();
  for (const group of Object.values((request.children ?? {}) as Record<string, Record<string, KubeObject>>)) {
    for (const child of Object.values(group)) out.add(canonical(keptChild(child)));
  }
  return out;
}

/**
 * Children of every golden case, split in two: objects the hook built, and objects it replayed
 * verbatim from an observed child's last-applied configuration (rule 1: keep the last good children
 * on bad input). Replays are the fixtures' own hand-written input, not Kapsa's output, so they are
 * checked for being exact replays instead of against Pod Security.
 */
function expectedChildren(controller: string): { built: FixtureObject[]; replayed: FixtureObject[] } {
  const built: FixtureObject[] = [];
  const replayed: FixtureObject[] = [];
  for (const golden of loadCases(controller)) {
    const expected = parse(readFileSync(join(golden.dir, 'expected.yaml'), 'utf8')) as { children?: FixtureObject['object'][] };
    const replays = lastApplied(golden.request);
    for (const object of expected.children ?? []) {
      (replays.has(canonical(object)) ? replayed : built).push({ fixture: `${controller}/${golden.name}`, object });
    }
  }
  return { built, replayed };
}

const environmentChildren = expectedChildren('environment');
const projectChildren = expectedChildren('project');
const all = [...environmentChildren.built, ...projectChildren.built];
const replayed = [...environmentChildren.replayed, ...projectChildren.replayed];
const deployments = all.filter(({ object }) => object.kind === 'Deployment');
const jobs = all.filter(({ object }) => object.kind === 'Job');
const namespaces = all.filter(({ object }) => object.kind === 'Namespace');

describe('golden fixtures: replayed children', () => {
  it('are a minority: most children are built by the hooks and checked below', () => {
    expect(all.length).toBeGreaterThan(replayed.length * 3);
  });
});

describe('the Pod Security checker itself', () => {
  const good = {
    securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [{ name: 'app', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
    volumes: [{ name: 'config', configMap: { name: 'x' } }],
  };

  it('passes a restricted pod', () => {
    expect(checkPodSpec(good)).toEqual([]);
  });

  it.each([
    ['privileged', { containers: [{ name: 'app', securityContext: { ...good.containers[0]?.securityContext, privileged: true } }] }, 'privileged'],
    ['hostNetwork', { hostNetwork: true }, 'hostNamespaces'],
    ['hostPID', { hostPID: true }, 'hostNamespaces'],
    ['hostPath', { volumes: [{ name: 'root', hostPath: { path: '/' } }] }, 'hostPathVolumes'],
    ['hostPort', { containers: [{ ...good.containers[0], ports: [{ containerPort: 80, hostPort: 80 }] }] }, 'hostPorts'],
    ['root user', { securityContext: { ...good.securityContext, runAsNonRoot: false } }, 'runAsNonRoot'],
    ['uid 0', { securityContext: { ...good.securityContext, runAsUser: 0 } }, 'runAsUser'],
    ['no seccomp', { securityContext: { runAsNonRoot: true } }, 'seccompProfile_restricted'],
    ['unconfined seccomp', { securityContext: { runAsNonRoot: true, seccompProfile: { type: 'Unconfined' } } }, 'seccompProfile_baseline'],
    ['privilege escalation', { containers: [{ name: 'app', securityContext: { capabilities: { drop: ['ALL'] } } }] }, 'allowPrivilegeEscalation'],
    ['capabilities kept', { containers: [{ name: 'app', securityContext: { allowPrivilegeEscalation: false } }] }, 'capabilities_restricted'],
    ['SYS_ADMIN added', { containers: [{ name: 'app', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['SYS_ADMIN'] } } }] }, 'capabilities_baseline'],
    ['nfs volume', { volumes: [{ name: 'data', nfs: { server: 'x', path: '/' } }] }, 'restrictedVolumes'],
    ['unconfined AppArmor', { containers: [{ name: 'app', securityContext: { ...good.containers[0]?.securityContext, appArmorProfile: { type: 'Unconfined' } } }] }, 'appArmorProfile'],
  ])('refuses %s', (_name, change, rule) => {
    const violations = checkPodSpec({ ...good, ...change });
    expect(violations.map((violation) => violation.rule)).toContain(rule);
  });

  it('allows adding NET_BIND_SERVICE only', () => {
    const pod = { ...good, containers: [{ name: 'app', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } } }] };
    expect(checkPodSpec(pod)).toEqual([]);
  });
});

describe('golden fixtures: every Deployment passes Pod Security restricted', () => {
  it('has Deployments to check', () => {
    expect(deployments.length).toBeGreaterThan(5);
  });

  it.each(deployments.map(({ fixture, object }) => [`${fixture} ${object.metadata.name}`, object] as const))('%s', (_name, object) => {
    const violations = checkObject(object);
    expect(violations, describeViolations(violations)).toEqual([]);
    // And the hardening beyond restricted that the README promises.
    const pod = podSpecOf(object) ?? {};
    expect(pod.automountServiceAccountToken).toBe(false);
  });
});

describe('golden fixtures: Dockerfile build Jobs are the one documented exception', () => {
  // Rootless BuildKit needs unconfined seccomp and AppArmor (hooks/project/builds.ts), so the
  // namespaces of Dockerfile projects enforce `privileged` with `restricted` warnings and audit.
  // The Jobs must break exactly those two rules and keep everything else restricted asks for.
  const DOCUMENTED = ['appArmorProfile', 'seccompProfile_baseline', 'seccompProfile_restricted'];

  it('has build Jobs to check', () => {
    expect(jobs.length).toBeGreaterThan(0);
  });

  it.each(jobs.map(({ fixture, object }) => [`${fixture} ${object.metadata.name}`, object] as const))('%s', (_name, object) => {
    const violations = checkObject(object);
    expect([...new Set(violations.map((violation) => violation.rule))].sort(), describeViolations(violations)).toEqual(DOCUMENTED);
    const pod = podSpecOf(object) ?? {};
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    expect(pod.hostIPC ?? false).toBe(false);
    for (const container of (pod.containers as Json[]) ?? []) {
      const context = (container.securityContext ?? {}) as Json;
      expect(context.privileged ?? false, 'no privileged build containers').toBe(false);
      expect(context.allowPrivilegeEscalation).toBe(false);
      expect((context.capabilities as { drop?: string[] } | undefined)?.drop).toContain('ALL');
      expect((context.capabilities as { add?: string[] } | undefined)?.add ?? []).toEqual([]);
      expect(context.runAsNonRoot ?? (pod.securityContext as Json | undefined)?.runAsNonRoot).toBe(true);
      expect(context.runAsUser ?? (pod.securityContext as Json | undefined)?.runAsUser).not.toBe(0);
    }
  });

  it('only namespaces of Dockerfile projects enforce privileged, and they keep restricted warn/audit', () => {
    expect(namespaces.length).toBeGreaterThan(0);
    const fixturesWithJobs = new Set(jobs.map(({ fixture }) => fixture));
    for (const { fixture, object } of namespaces) {
      const labels = object.metadata.labels ?? {};
      expect(labels['pod-security.kubernetes.io/warn'], fixture).toBe('restricted');
      expect(labels['pod-security.kubernetes.io/audit'], fixture).toBe('restricted');
      if (fixturesWithJobs.has(fixture)) expect(labels['pod-security.kubernetes.io/enforce'], fixture).toBe('privileged');
    }
    // Every buildpacks project enforces restricted; only Dockerfile fixtures are privileged.
    const privileged = namespaces.filter(({ object }) => object.metadata.labels?.['pod-security.kubernetes.io/enforce'] === 'privileged');
    for (const { fixture } of privileged) expect(fixture, 'a privileged namespace outside a Dockerfile project').toMatch(/dockerfile/);
    expect(namespaces.filter(({ object }) => object.metadata.labels?.['pod-security.kubernetes.io/enforce'] === 'restricted').length).toBeGreaterThan(0);
  });
});

describe("the chart's hook Deployment", () => {
  it.each([
    ['default values', undefined],
    ['every feature on', ALL_FEATURES],
  ])('passes restricted with a read-only root filesystem and no API token unless push webhooks are on (%s)', (_name, values) => {
    const deployment = findObject(renderChart(values), 'Deployment');
    const violations = checkObject(deployment);
    expect(violations, describeViolations(violations)).toEqual([]);
    const pod = podSpecOf(deployment) ?? {};
    // Only the push-webhook receiver talks to the API server (get/list/patch on Projects).
    const receiver = (values as { receiver?: { enabled?: boolean } } | undefined)?.receiver?.enabled === true;
    expect(pod.automountServiceAccountToken).toBe(receiver);
    for (const container of pod.containers as Json[]) {
      expect((container.securityContext as Json).readOnlyRootFilesystem).toBe(true);
    }
    const context = pod.securityContext as Json;
    expect(typeof context.runAsUser === 'number' && context.runAsUser > 0).toBe(true);
  });
});

// The Helm chart against a real kube-apiserver: every rendered object is accepted by server-side
// apply with strict field validation, the hook pod is admitted under Pod Security `restricted`, and
// `helm install` + `helm upgrade` keep the generated webhook token.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ALL_FEATURES, CHART_DIR, helm, helmBinary, renderChart, type ChartObject } from '../chart/helm.ts';
import { KubeApiError, KubeClient, type KubeObject } from './client.ts';

const FIELD_MANAGER = 'kapsa-chart-test';

// No monitoring.coreos.com (ServiceMonitor) or kyverno.io (ClusterPolicy) CRDs are vendored in
// ../shared/testdata/crds, so those two opt-in objects are the only ones not sent to the server;
// test/chart/chart.test.ts checks their rendering.
const NOT_INSTALLABLE = new Set(['monitoring.coreos.com/v1/ServiceMonitor', 'kyverno.io/v1/ClusterPolicy']);

describe('the Helm chart on a real API server', () => {
  const kube = inject('kube');
  let client: KubeClient;
  const namespaces: string[] = [];
  const unique = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

  beforeAll(() => {
    helmBinary();
    client = new KubeClient(kube);
  }, 900_000);

  afterAll(async () => {
    for (const name of namespaces) await client.delete({ apiVersion: 'v1', kind: 'Namespace', name }, { ignoreNotFound: true });
    client.close();
  });

  /** Server-side apply with fieldValidation=Strict: an unknown or duplicate field is an error, not a warning. */
  async function applyStrict(object: KubeObject): Promise<KubeObject> {
    const path = await client.objectPath({ apiVersion: object.apiVersion, kind: object.kind, name: object.metadata.name ?? '', namespace: object.metadata.namespace });
    const query = new URLSearchParams({ fieldManager: FIELD_MANAGER, fieldValidation: 'Strict', force: 'true' });
    // Checked but not stored: a stored binding would enforce this release's project-access policy
    // on every later test file of the shared server (test/k8s/project-access.test.ts runs its own).
    if (object.kind === 'ValidatingAdmissionPolicyBinding') query.set('dryRun', 'All');
    return (await client.request('PATCH', `${path}?${query}`, object, 'application/apply-patch+yaml')) as KubeObject;
  }

  async function createNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
    namespaces.push(name);
    await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }, { fieldManager: FIELD_MANAGER });
  }

  it('strict server-side apply accepts every object of the chart, with every feature on', async () => {
    const namespace = unique('kapsa-chart');
    await createNamespace(namespace);
    const objects = renderChart(ALL_FEATURES, { includeCrds: true, namespace });
    const installable = objects.filter((object) => !NOT_INSTALLABLE.has(`${object.apiVersion}/${object.kind}`));
    expect(objects.length - installable.length).toBe(NOT_INSTALLABLE.size);
    // CRDs first (the global setup installed the same ones; this re-applies the chart's copies).
    const order = (object: ChartObject) => (object.kind === 'CustomResourceDefinition' ? 0 : 1);
    const failures: string[] = [];
    for (const object of [...installable].sort((a, b) => order(a) - order(b))) {
      try {
        await applyStrict(object as KubeObject);
      } catch (error) {
        failures.push(`${object.kind}/${object.metadata.name}: ${error instanceof KubeApiError ? error.serverMessage : String(error)}`);
      }
    }
    expect(failures).toEqual([]);
    const controller = await client.get({ apiVersion: 'metacontroller.k8s.io/v1alpha1', kind: 'CompositeController', name: 'kapsa-project' });
    const sync = ((controller.spec as { hooks: { sync: { webhook: Record<string, unknown> } } }).hooks.sync.webhook);
    expect(sync.url).toBe(`https://kapsa.${namespace}.svc:8080/hooks/project/sync`);
    expect(sync.authorization).toMatchObject({ secretRef: { name: 'kapsa-webhook-token', namespace, key: 'token' } });
    expect(sync.caBundle).toMatchObject({ secretRef: { name: 'kapsa-tls', namespace } });
  });

  it('the hook pod is admitted in a namespace that enforces Pod Security restricted', async () => {
    const namespace = unique('kapsa-psa');
    await createNamespace(namespace, { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' });
    for (const values of [undefined, ALL_FEATURES]) {
      const deployment = renderChart(values, { namespace }).find((object) => object.kind === 'Deployment') as ChartObject;
      const template = (deployment.spec as { template: { metadata: Record<string, unknown>; spec: Record<string, unknown> } }).template;
      const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'kapsa-hooks', namespace, labels: template.metadata.labels as Record<string, string> }, spec: template.spec };
      await expect(client.create(pod, { dryRun: true })).resolves.toMatchObject({ kind: 'Pod' });
    }
    // And the checker agrees with admission on a pod that is not restricted.
    const bad: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'root', namespace }, spec: { containers: [{ name: 'c', image: 'x', securityContext: { runAsUser: 0 } }] } };
    await expect(client.create(bad, { dryRun: true })).rejects.toThrow(/violates PodSecurity "restricted/);
  });

  it('helm install generates the webhook token once and helm upgrade keeps it', async () => {
    const namespace = unique('kapsa-helm');
    await createNamespace(namespace);
    const release = unique('kapsa');
    const common = ['--namespace', namespace, '--kubeconfig', kube.kubeconfig, '--skip-crds', '--set', 'controllers.create=false', '--set', 'rbac.create=false', '--set', 'projectAccess.policy.enabled=false'];
    const install = helm('install', release, CHART_DIR, ...common);
    expect(install.status, install.stderr).toBe(0);
    expect(install.stdout).toMatch(/Webhook auth: Metacontroller sends the bearer token/);
    const secretName = `${release}-webhook-token`;
    const read = async () => String(((await client.get({ apiVersion: 'v1', kind: 'Secret', name: secretName, namespace })).data as Record<string, string>).token);
    const first = await read();
    expect(Buffer.from(first, 'base64').toString()).toMatch(/^[A-Za-z0-9]{48}$/);
    const upgrade = helm('upgrade', release, CHART_DIR, ...common, '--set', 'config.logLevel=debug');
    expect(upgrade.status, upgrade.stderr).toBe(0);
    expect(await read()).toBe(first);
    // The pods keep their checksum (no needless restart for an unchanged token).
    const deployment = await client.get({ apiVersion: 'apps/v1', kind: 'Deployment', name: release, namespace });
    const annotations = (deployment.spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations;
    expect(annotations['checksum/webhook-token']).toMatch(/^[a-f0-9]{64}$/);
    const dryRun = helm('install', unique('noauth'), CHART_DIR, ...common, '--dry-run=client', '--set', 'webhookAuth.enabled=false');
    expect(dryRun.status, dryRun.stderr).toBe(0);
    expect(dryRun.stdout).toMatch(/WARNING: webhookAuth\.enabled=false/);
    const uninstall = helm('uninstall', release, '--namespace', namespace, '--kubeconfig', kube.kubeconfig);
    expect(uninstall.status, uninstall.stderr).toBe(0);
  });
});

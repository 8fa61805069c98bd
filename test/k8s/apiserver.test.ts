// Proves the test harness: a real kube-apiserver with the third-party CRDs installed, server-side
// apply, and Pod Security admission.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { hasCondition, KubeApiError, KubeClient, type KubeObject } from './client.ts';

const FIELD_MANAGER = 'kapsa-harness-test';

describe('kube-apiserver test harness', () => {
  const kube = inject('kube');
  let client: KubeClient;
  const namespaces: string[] = [];

  const uniqueName = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

  beforeAll(() => {
    client = new KubeClient(kube);
  });

  afterAll(async () => {
    await Promise.all(
      namespaces.map((name) => client.delete({ apiVersion: 'v1', kind: 'Namespace', name }, { ignoreNotFound: true })),
    );
    client.close();
  });

  it('provides a kubeconfig for the admin user', () => {
    const text = readFileSync(kube.kubeconfig, 'utf8');
    expect(text).toContain(`server: ${kube.url}`);
    expect(text).toContain(`token: ${kube.token}`);
  });

  it.each([
    ['images.kpack.io', 'kpack.io/v1alpha2', 'Image'],
    ['certificates.cert-manager.io', 'cert-manager.io/v1', 'Certificate'],
    ['compositecontrollers.metacontroller.k8s.io', 'metacontroller.k8s.io/v1alpha1', 'CompositeController'],
  ])('has the %s CRD Established and served', async (name, apiVersion, kind) => {
    const crd = await client.get({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name });
    expect(hasCondition(crd, 'Established')).toBe(true);
    const res = await client.resource(apiVersion, kind);
    expect(res.plural).toBe(name.split('.')[0]);
  });

  it('server-side applies a Namespace and a ConfigMap and reads them back', async () => {
    const ns = uniqueName('harness-ssa');
    namespaces.push(ns);
    await client.apply(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'kapsa.dev/test': 'harness' } } },
      { fieldManager: FIELD_MANAGER },
    );
    const cm: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'settings', namespace: ns },
      data: { greeting: 'hello' },
    };
    await client.apply(cm, { fieldManager: FIELD_MANAGER });

    const read = await client.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'settings', namespace: ns });
    expect(read.data).toEqual({ greeting: 'hello' });
    const managers = (read.metadata.managedFields as { manager: string; operation: string }[]).map((f) => [
      f.manager,
      f.operation,
    ]);
    expect(managers).toContainEqual([FIELD_MANAGER, 'Apply']);

    // A second apply by the same manager without a key removes it; a dryRun changes nothing.
    await client.apply({ ...cm, data: { other: 'x' } }, { fieldManager: FIELD_MANAGER, dryRun: true });
    await client.apply({ ...cm, data: { greeting: 'bye' } }, { fieldManager: FIELD_MANAGER });
    const again = await client.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'settings', namespace: ns });
    expect(again.data).toEqual({ greeting: 'bye' });

    const list = await client.list('v1', 'ConfigMap', { namespace: ns });
    expect(list.items.map((i) => i.metadata.name)).toContain('settings');

    const nsRead = await client.get({ apiVersion: 'v1', kind: 'Namespace', name: ns });
    expect(nsRead.metadata.labels?.['kapsa.dev/test']).toBe('harness');
  });

  it('server-side applies a custom resource (kpack.io/v1alpha2 Image)', async () => {
    const ns = uniqueName('harness-cr');
    namespaces.push(ns);
    await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, { fieldManager: FIELD_MANAGER });
    const image: KubeObject = {
      apiVersion: 'kpack.io/v1alpha2',
      kind: 'Image',
      metadata: { name: 'app', namespace: ns },
      spec: {
        tag: 'registry.local/app',
        builder: { kind: 'ClusterBuilder', name: 'default' },
        source: { git: { url: 'https://git.local/app.git', revision: 'main' } },
      },
    };
    const applied = await client.apply(image, { fieldManager: FIELD_MANAGER });
    expect(applied.metadata.uid).toBeTruthy();
    const read = await client.get({ apiVersion: 'kpack.io/v1alpha2', kind: 'Image', name: 'app', namespace: ns });
    expect((read.spec as { tag: string }).tag).toBe('registry.local/app');
  });

  it('reports HTTP status and the server message on errors', async () => {
    const err = await client
      .get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'does-not-exist', namespace: 'default' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).status).toBe(404);
    expect((err as KubeApiError).reason).toBe('NotFound');
    expect((err as KubeApiError).serverMessage).toContain('"does-not-exist" not found');
  });

  describe('Pod Security admission (enforce=restricted)', () => {
    let ns: string;

    beforeAll(async () => {
      ns = uniqueName('harness-psa');
      namespaces.push(ns);
      await client.apply(
        {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: {
            name: ns,
            labels: {
              'pod-security.kubernetes.io/enforce': 'restricted',
              'pod-security.kubernetes.io/enforce-version': 'latest',
            },
          },
        },
        { fieldManager: FIELD_MANAGER },
      );
    });

    const pod = (name: string, spec: Record<string, unknown>): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: ns },
      spec,
    });

    it('rejects a privileged Pod', async () => {
      const err = await client
        .create(
          pod('privileged', {
            containers: [{ name: 'app', image: 'registry.local/app:1', securityContext: { privileged: true } }],
          }),
          { dryRun: true },
        )
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KubeApiError);
      const apiErr = err as KubeApiError;
      expect(apiErr.status).toBe(403);
      expect(apiErr.serverMessage).toContain('violates PodSecurity "restricted:latest"');
      expect(apiErr.serverMessage).toContain('privileged');
    });

    it('rejects a Pod that does not set runAsNonRoot', async () => {
      const err = await client
        .create(pod('root', { containers: [{ name: 'app', image: 'registry.local/app:1' }] }), { dryRun: true })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KubeApiError);
      expect((err as KubeApiError).status).toBe(403);
      expect((err as KubeApiError).serverMessage).toContain('runAsNonRoot');
    });

    it('admits a restricted-compliant Pod (dryRun, nothing stored)', async () => {
      const created = await client.create(
        pod('compliant', {
          securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'app',
              image: 'registry.local/app:1',
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
            },
          ],
        }),
        { dryRun: true },
      );
      expect(created.metadata.name).toBe('compliant');
      expect(await client.tryGet({ apiVersion: 'v1', kind: 'Pod', name: 'compliant', namespace: ns })).toBeUndefined();
    });
  });
});

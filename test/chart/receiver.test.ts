// The chart's push-webhook receiver: off by default (no API access for the hook pods), and when on
// exactly get/list/patch on Projects, a generated key wired as KAPSA_RECEIVER_KEY, an Ingress that
// publishes /receivers/ and nothing else, and a NetworkPolicy rule that lets forges in.

import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../hooks/server/config.ts';
import { CHART_DIR, findObject, helm, NAMESPACE, renderChart, valuesArgs, type ChartObject } from './helm.ts';

type Json = Record<string, unknown>;
type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } };

function podSpec(objects: ChartObject[]): Json {
  return ((findObject(objects, 'Deployment').spec as Json).template as { spec: Json }).spec;
}

function envOf(objects: ChartObject[]): Map<string, EnvVar> {
  const containers = podSpec(objects).containers as Array<{ env: EnvVar[] }>;
  return new Map((containers[0]?.env ?? []).map((item) => [item.name, item]));
}

const ON = { receiver: { enabled: true } };

describe('the receiver in the chart', () => {
  it('is off by default: no key, no RBAC, no token mounted, no Ingress', () => {
    const objects = renderChart();
    expect(objects.filter((object) => object.metadata.name.includes('receiver'))).toEqual([]);
    expect(podSpec(objects).automountServiceAccountToken).toBe(false);
    expect(envOf(objects).has('KAPSA_RECEIVER_KEY')).toBe(false);
    expect(envOf(objects).get('KAPSA_RECEIVER_BODY_LIMIT')?.value).toBe('1048576');
  });

  it('grants exactly get, list and patch on Projects to the hook pods when on', () => {
    const objects = renderChart(ON);
    const role = findObject(objects, 'ClusterRole', 'kapsa-receiver');
    expect(role.rules).toEqual([{ apiGroups: ['kapsa-project.io'], resources: ['projects'], verbs: ['get', 'list', 'patch'] }]);
    const binding = findObject(objects, 'ClusterRoleBinding', 'kapsa-receiver');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kapsa-receiver' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'kapsa', namespace: NAMESPACE }]);
    expect(podSpec(objects).serviceAccountName).toBe('kapsa');
    expect(podSpec(objects).automountServiceAccountToken).toBe(true);
    // Turning the receiver on adds this one ClusterRole and changes no other.
    const clusterRoles = (rendered: typeof objects) => rendered.filter((object) => object.kind === 'ClusterRole');
    const without = clusterRoles(renderChart({}));
    expect(clusterRoles(objects).filter((object) => object.metadata.name !== 'kapsa-receiver')).toEqual(without);
  });

  it('generates a strong key, wires it as KAPSA_RECEIVER_KEY from the Secret, and rolls the pods by its checksum', () => {
    const objects = renderChart(ON);
    const secret = findObject(objects, 'Secret', 'kapsa-receiver-key');
    const key = Buffer.from(String((secret.data as Json).key), 'base64').toString();
    expect(key).toMatch(/^[A-Za-z0-9]{64}$/);
    expect(envOf(objects).get('KAPSA_RECEIVER_KEY')).toEqual({ name: 'KAPSA_RECEIVER_KEY', valueFrom: { secretKeyRef: { name: 'kapsa-receiver-key', key: 'key' } } });
    const annotations = ((findObject(objects, 'Deployment').spec as Json).template as { metadata: { annotations: Record<string, string> } }).metadata.annotations;
    expect(annotations['checksum/receiver-key']).toMatch(/^[a-f0-9]{64}$/);
    expect(JSON.stringify(findObject(objects, 'Deployment'))).not.toContain(key);
    // The rendered plain values are a configuration the service accepts.
    const plain = Object.fromEntries([...envOf(objects)].filter(([, item]) => item.value !== undefined).map(([name, item]) => [name, item.value as string]));
    expect(() => loadConfig({ ...plain, KAPSA_RECEIVER_KEY: key })).not.toThrow();
  });

  it('uses an existing Secret instead of generating one', () => {
    const objects = renderChart({ receiver: { enabled: true, keySecretRef: { name: 'my-receiver-key', key: 'hmac' } } });
    expect(objects.some((object) => object.kind === 'Secret' && object.metadata.name === 'kapsa-receiver-key')).toBe(false);
    expect(envOf(objects).get('KAPSA_RECEIVER_KEY')?.valueFrom).toEqual({ secretKeyRef: { name: 'my-receiver-key', key: 'hmac' } });
  });

  it('publishes /receivers/ only through its Ingress', () => {
    const objects = renderChart({ receiver: { enabled: true, bodyLimit: 262144, ingress: { enabled: true, host: 'kapsa.example.com', tls: [{ hosts: ['kapsa.example.com'], secretName: 'kapsa-receiver-tls' }] } } });
    const ingress = findObject(objects, 'Ingress', 'kapsa-receiver');
    const rules = (ingress.spec as { rules: Array<{ host: string; http: { paths: Array<{ path: string; pathType: string; backend: Json }> } }> }).rules;
    expect(rules).toHaveLength(1);
    expect(rules[0]?.host).toBe('kapsa.example.com');
    expect(rules[0]?.http.paths).toEqual([{ path: '/receivers/', pathType: 'Prefix', backend: { service: { name: 'kapsa', port: { name: 'http' } } } }]);
    expect(envOf(objects).get('KAPSA_RECEIVER_BODY_LIMIT')?.value).toBe('262144');
  });

  it('lets forges through the NetworkPolicy to the receiver port, from the peers given', () => {
    const from = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }];
    const policy = findObject(renderChart({ networkPolicy: { enabled: true }, receiver: { enabled: true, networkPolicyFrom: from } }), 'NetworkPolicy');
    const ingress = (policy.spec as { ingress: Array<{ from?: unknown[]; ports: Array<{ port: string }> }> }).ingress;
    expect(ingress).toContainEqual({ ports: [{ port: 'http', protocol: 'TCP' }], from });
    const off = findObject(renderChart({ networkPolicy: { enabled: true } }), 'NetworkPolicy');
    expect((off.spec as { ingress: unknown[] }).ingress).toHaveLength((policy.spec as { ingress: unknown[] }).ingress.length - 1);
  });

  it.each([
    ['a body limit below 1 KiB', { receiver: { bodyLimit: 10 } }],
    ['a misspelt receiver key', { receiver: { enable: true } }],
    ['an Ingress host with a path', { receiver: { ingress: { host: 'kapsa.example.com/receivers' } } }],
  ])('refuses %s', (_name, values) => {
    const result = helm('template', 'kapsa', CHART_DIR, '--namespace', NAMESPACE, ...valuesArgs(values));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/values don't meet the specifications of the schema/);
  });

  it('needs a host for its Ingress', () => {
    const result = helm('template', 'kapsa', CHART_DIR, '--namespace', NAMESPACE, ...valuesArgs({ receiver: { enabled: true, ingress: { enabled: true } } }));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/receiver\.ingress\.host is required/);
  });
});

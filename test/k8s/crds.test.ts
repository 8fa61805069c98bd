import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../../hooks/crds/generate.ts';
import type { KubeClient, KubeObject } from './client.ts';
import { applyStrict, ensureNamespace, kubeClient, refusal } from './support.ts';

/** The Kapsa CRDs on a real API server: established, defaulted, and refusing bad input at apply time. */

let client: KubeClient;
beforeAll(async () => {
  client = kubeClient();
  await ensureNamespace(client, 'crd-tests');
});
afterAll(() => client.close());

const API = 'kapsa-project.io/v1alpha1';

function project(name: string, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: API,
    kind: 'Project',
    metadata: { name },
    spec: {
      repository: { url: 'https://git.example.com/acme/shop.git' },
      registry: { name: 'main' },
      domain: { subdomain: 'shop', domainPoolRef: { name: 'apps' } },
      environments: [{ name: 'dev' }],
      ...spec,
    },
  };
}

function environment(spec: Record<string, unknown>): KubeObject {
  return { apiVersion: API, kind: 'Environment', metadata: { name: 'env', namespace: 'crd-tests' }, spec: { project: 'shop', ...spec } };
}

describe('Kapsa CRDs', () => {
  it.each(KINDS.map((kind) => kind.plural))('%s is Established', async (plural) => {
    const crd = await client.get({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: `${plural}.kapsa-project.io` });
    const conditions = (crd.status as { conditions: Array<{ type: string; status: string }> }).conditions;
    expect(conditions.find((condition) => condition.type === 'Established')?.status).toBe('True');
  });

  it('applies the defaults of a minimal Project', async () => {
    const stored = await applyStrict(client, project('defaults-shop'));
    expect(stored.spec).toMatchObject({
      repository: { branch: 'main' },
      build: { strategy: 'buildpacks' },
      environments: [{ name: 'dev', autoSync: true }],
    });
  });

  it('applies the defaults of a minimal Environment, DomainPool and Registry', async () => {
    const env = await applyStrict(client, environment({}));
    expect(env.spec).toMatchObject({ type: 'standard', image: '', progressDeadlineSeconds: 600 });
    const pool = await applyStrict(client, {
      apiVersion: API,
      kind: 'DomainPool',
      metadata: { name: 'defaults-pool' },
      spec: { baseDomains: ['apps.example.com'], certManager: { issuerRef: { name: 'letsencrypt' } } },
    });
    expect(pool.spec).toMatchObject({ allocationPolicy: { reservedSubdomains: [] }, certManager: { issuerRef: { kind: 'ClusterIssuer', group: 'cert-manager.io' } } });
    const registry = await applyStrict(client, {
      apiVersion: API,
      kind: 'Registry',
      metadata: { name: 'defaults-registry' },
      spec: { endpoint: 'https://registry.example.com', auth: { secretRef: { name: 'push' } } },
    });
    expect(registry.spec).toMatchObject({ type: 'generic', insecureSkipTLSVerify: false, imagePullSecret: { name: 'kapsa-registry', generatePerNamespace: true } });
  });

  it('accepts the example objects', async () => {
    const accepted = await refusal(applyStrict(client, project('example-shop', { previewEnvironments: { enabled: true, ttl: '72h', branches: { include: ['feature/*'] } } }), { dryRun: true }));
    expect(accepted).toBeUndefined();
  });

  const bad: Array<[string, KubeObject, RegExp]> = [
    ['bad subdomain', project('bad-1', { domain: { subdomain: 'Shop_1', domainPoolRef: { name: 'apps' } } }), /spec\.domain\.subdomain.*should match/],
    ['bad environment name', project('bad-2', { environments: [{ name: 'Prod' }] }), /spec\.environments\[0\]\.name.*should match/],
    ['environment name starting with a digit', project('bad-3', { environments: [{ name: '1st' }] }), /spec\.environments\[0\]\.name.*should match/],
    ['duplicate environment names', project('bad-4', { environments: [{ name: 'dev' }, { name: 'dev' }] }), /spec\.environments: duplicate entries for key \[name="dev"\]/],
    ['Dockerfile path with the buildpacks strategy', project('bad-5', { build: { strategy: 'buildpacks', dockerfile: 'Dockerfile' } }), /build\.dockerfile is only allowed with strategy dockerfile/],
    ['build args with the buildpacks strategy', project('bad-6', { build: { args: [{ name: 'A', value: 'b' }] } }), /build\.args are only allowed with strategy dockerfile/],
    ['unknown build strategy', project('bad-7', { build: { strategy: 'nixpacks' } }), /Unsupported value: "nixpacks"/],
    ['TTL that is not a duration', project('bad-8', { previewEnvironments: { enabled: true, ttl: '7 days' } }), /spec\.previewEnvironments\.ttl.*should match/],
    ['TTL under a minute', project('bad-9', { previewEnvironments: { enabled: true, ttl: '30s' } }), /must be at least 60s/],
    ['pollInterval below the minimum', project('bad-10', { repository: { url: 'https://git.example.com/a.git', pollInterval: '5s' } }), /must be at least 10s/],
    ['two primary environments', project('bad-11', { environments: [{ name: 'a', primary: true }, { name: 'b', primary: true }] }), /at most one environment may be primary/],
    ['repository URL with an ssh scheme', project('bad-12', { repository: { url: 'ssh://git@git.example.com/a.git' } }), /spec\.repository\.url.*should match/],
    ['repository URL with credentials', project('bad-13', { repository: { url: 'https://user:token@git.example.com/a.git' } }), /spec\.repository\.url.*should match/],
    ['revision that is not a commit', project('bad-14', { environments: [{ name: 'prod', revision: 'v1.2.3' }] }), /spec\.environments\[0\]\.revision.*should match/],
    ['no environments', project('bad-15', { environments: [] }), /spec\.environments.*should have at least 1 items/],
    ['maxActive above the limit', project('bad-16', { previewEnvironments: { enabled: true, maxActive: 500 } }), /maxActive.*should be less than or equal to 100/],
    ['Project name that is no DNS label', project('bad.project.name'), /a Project name must be a DNS label/],
    ['Environment autoscaler bounds reversed', environment({ runtime: { autoscaling: { enabled: true, minReplicas: 5, maxReplicas: 2 } } }), /minReplicas must not exceed maxReplicas/],
    ['Environment ingress without a host', environment({ ingress: { enabled: true } }), /ingress\.host is required when the ingress is enabled/],
    ['Environment port out of range', environment({ runtime: { ports: [{ name: 'http', containerPort: 70000 }] } }), /containerPort.*should be less than or equal to 65535/],
    ['Environment quantity that is not one', environment({ runtime: { resources: { limits: { memory: 'lots' } } } }), /memory.*should match/],
    ['unknown field (strict validation)', project('bad-17', { repositry: {} }), /\.spec\.repositry: field not declared in schema/],
    ['DomainPool without base domains', { apiVersion: API, kind: 'DomainPool', metadata: { name: 'bad-pool' }, spec: { baseDomains: [], certManager: { issuerRef: { name: 'x' } } } }, /should have at least 1 items/],
    ['Registry endpoint with another scheme', { apiVersion: API, kind: 'Registry', metadata: { name: 'bad-registry' }, spec: { endpoint: 'ftp://registry.example.com', auth: { secretRef: { name: 'x' } } } }, /spec\.endpoint.*should match/],
  ];

  it('refuses at least 15 kinds of bad input', () => {
    expect(bad.length).toBeGreaterThanOrEqual(15);
  });

  it.each(bad)('refuses %s with the intended message', async (_name, object, message) => {
    const answer = await refusal(applyStrict(client, object, { dryRun: true }));
    expect(answer, 'the server accepted it').toBeDefined();
    expect(answer).toMatch(message);
  });
});

// The Helm chart: lint, render with every feature, the schema refusing bad values, the controllers
// rendered from the same definitions as metacontroller/, and every KAPSA_* setting reachable.

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { crdFiles } from '../../hooks/crds/generate.ts';
import { chartControllersTemplate, controllerDefinitions, DEFAULT_CONTROLLER_OPTIONS } from '../../hooks/metacontroller/definitions.ts';
import { loadConfig, SETTINGS } from '../../hooks/server/config.ts';
import { ALL_FEATURES, CHART_DIR, EXAMPLE_CA, findObject, helm, helmBinary, NAMESPACE, renderChart, REPO_ROOT, valuesArgs, type ChartObject } from './helm.ts';

type Json = Record<string, unknown>;

const CONTROLLER_KINDS = new Set(['CompositeController', 'DecoratorController']);
const CLUSTER_SCOPED_KINDS = new Set(['ClusterRole', 'ClusterRoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);

function env(deployment: ChartObject): Map<string, string> {
  const container = ((deployment.spec as Json).template as { spec: { containers: Array<{ env: Array<{ name: string; value?: string }> }> } }).spec.containers[0];
  return new Map((container?.env ?? []).map((item) => [item.name, item.value ?? '']));
}

function hooksOf(controller: ChartObject): Array<{ hook: string; webhook: Json }> {
  const hooks = ((controller.spec as Json).hooks ?? {}) as Record<string, { webhook: Json }>;
  return Object.entries(hooks).map(([hook, value]) => ({ hook, webhook: value.webhook }));
}

beforeAll(() => {
  // Builds helm on a cold cache (minutes); a missing Go toolchain fails here, loudly.
  helmBinary();
}, 900_000);

describe('generated chart files', () => {
  it('chart/crds/ holds exactly the CRDs of crds/', () => {
    const generated = [...crdFiles().keys()].sort();
    expect(readdirSync(join(CHART_DIR, 'crds')).sort()).toEqual(generated);
    for (const file of generated) {
      expect(readFileSync(join(CHART_DIR, 'crds', file), 'utf8'), `chart/crds/${file} differs from crds/: run npm run generate`).toBe(
        readFileSync(join(REPO_ROOT, 'crds', file), 'utf8'),
      );
    }
  });

  it('chart/templates/controllers.yaml is the generated template', () => {
    expect(readFileSync(join(CHART_DIR, 'templates', 'controllers.yaml'), 'utf8'), 'run npm run generate').toBe(chartControllersTemplate());
  });
});

describe('helm lint', () => {
  it.each([
    ['default values', undefined],
    ['every feature on', ALL_FEATURES],
  ])('is clean with --strict (%s)', (_name, values) => {
    const result = helm('lint', CHART_DIR, '--strict', '--namespace', NAMESPACE, ...valuesArgs(values));
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('0 chart(s) failed');
    expect(result.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
  });

  it('is clean without --strict', () => {
    const result = helm('lint', CHART_DIR);
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
  });
});

describe('helm template', () => {
  it('renders the defaults: hook Deployment, Service, PDB, RBAC, token Secret and every controller', () => {
    const objects = renderChart();
    const kinds = objects.map((object) => object.kind).sort();
    for (const kind of ['Deployment', 'Service', 'ServiceAccount', 'PodDisruptionBudget', 'ClusterRole', 'ClusterRoleBinding', 'Secret', 'CompositeController', 'DecoratorController']) {
      expect(kinds, kind).toContain(kind);
    }
    for (const kind of ['ServiceMonitor', 'NetworkPolicy', 'Certificate', 'ConfigMap', 'ClusterPolicy']) expect(kinds, `${kind} is opt-in`).not.toContain(kind);
    for (const object of objects) {
      const labels = object.metadata.labels ?? {};
      for (const label of ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by', 'helm.sh/chart']) {
        expect(labels[label], `${object.kind}/${object.metadata.name} ${label}`).toBeTruthy();
      }
      if (!CLUSTER_SCOPED_KINDS.has(object.kind) && !CONTROLLER_KINDS.has(object.kind)) {
        expect(object.metadata.namespace, `${object.kind}/${object.metadata.name}`).toBe(NAMESPACE);
      }
    }
    const deployment = findObject(objects, 'Deployment');
    const spec = deployment.spec as Json;
    const pod = (spec.template as { spec: Json }).spec;
    expect(spec.replicas).toBe(2);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect((pod.topologySpreadConstraints as unknown[]).length).toBe(2);
    const container = (pod.containers as Json[])[0] as Json;
    expect((container.livenessProbe as { httpGet: Json }).httpGet).toMatchObject({ path: '/healthz', port: 'http', scheme: 'HTTP' });
    expect((container.readinessProbe as { httpGet: Json }).httpGet).toMatchObject({ path: '/readyz', port: 'http', scheme: 'HTTP' });
    expect(container.resources).toMatchObject({ requests: { cpu: expect.any(String), memory: expect.any(String) }, limits: { memory: expect.any(String) } });
    expect(findObject(objects, 'PodDisruptionBudget').spec).toMatchObject({ minAvailable: 1 });
    expect(findObject(objects, 'ServiceAccount').automountServiceAccountToken).toBe(false);
  });

  it('renders every feature: TLS, NetworkPolicy, ServiceMonitor, cert-manager Certificate, namespace defaults', () => {
    const objects = renderChart(ALL_FEATURES);
    const kinds = objects.map((object) => object.kind);
    for (const kind of ['ServiceMonitor', 'NetworkPolicy', 'Certificate', 'ConfigMap', 'ClusterPolicy']) expect(kinds, kind).toContain(kind);
    const deployment = findObject(objects, 'Deployment');
    const variables = env(deployment);
    expect(variables.get('KAPSA_TLS_CERT_FILE')).toBe('/var/run/secrets/kapsa/tls/tls.crt');
    expect(variables.get('KAPSA_TLS_KEY_FILE')).toBe('/var/run/secrets/kapsa/tls/tls.key');
    expect(variables.get('KAPSA_WEBHOOK_TOKEN_FILE')).toBe('/var/run/secrets/kapsa/webhook-token/token');
    expect(variables.get('KAPSA_RESERVED_NAMESPACES')).toBe('shared,ops');
    expect(variables.get('NODE_OPTIONS')).toBe('--enable-source-maps');
    const pod = ((deployment.spec as Json).template as { spec: Json }).spec;
    const container = (pod.containers as Json[])[0] as Json;
    expect((container.readinessProbe as { httpGet: Json }).httpGet.scheme).toBe('HTTPS');
    const mounts = (container.volumeMounts as Json[]).map((mount) => mount.mountPath);
    expect(mounts).toEqual(expect.arrayContaining(['/var/run/secrets/kapsa/tls', '/var/run/secrets/kapsa/webhook-token']));

    // The NetworkPolicy lets only Metacontroller's namespace reach the hook port.
    const policy = findObject(objects, 'NetworkPolicy').spec as { ingress: Array<{ from?: Json[]; ports: Json[] }> };
    const hookRule = policy.ingress.find((rule) => rule.ports.some((port) => port.port === 'http'));
    expect(hookRule?.from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'metacontroller' } } }]);
    const metricsRule = policy.ingress.find((rule) => rule.ports.some((port) => port.port === 'metrics'));
    expect(metricsRule?.from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }]);

    // Every hook of every controller: HTTPS to the Service, the token, and the CA from the TLS Secret.
    const controllers = objects.filter((object) => CONTROLLER_KINDS.has(object.kind));
    expect(controllers.length).toBe(controllerDefinitions().length);
    for (const controller of controllers) {
      for (const { hook, webhook } of hooksOf(controller)) {
        const where = `${controller.metadata.name} ${hook}`;
        expect(webhook.url, where).toMatch(/^https:\/\/kapsa\.kapsa-system\.svc:8080\/hooks\//);
        expect(webhook.authorization, where).toEqual({ type: 'Bearer', secretRef: { name: 'kapsa-webhook-token', namespace: NAMESPACE, key: 'token' } });
        expect(webhook.caBundle, where).toEqual({ secretRef: { name: 'kapsa-tls', namespace: NAMESPACE, key: 'ca.crt' } });
      }
    }
    expect(findObject(objects, 'Certificate').spec).toMatchObject({ secretName: 'kapsa-tls', issuerRef: { name: 'kapsa-ca', kind: 'Issuer' } });

    // Namespace defaults: the manifests ship as a ConfigMap and, opted in, as a Kyverno policy.
    const manifests = String((findObject(objects, 'ConfigMap').data as Json)['manifests.yaml']);
    expect(manifests).toMatch(/kind: ResourceQuota/);
    expect(manifests).toMatch(/kind: LimitRange/);
    expect(manifests).toMatch(/kind: NetworkPolicy/);
    const kyverno = findObject(objects, 'ClusterPolicy').spec as { rules: Array<{ generate: Json }> };
    expect(kyverno.rules.map((rule) => rule.generate.kind)).toEqual(['ResourceQuota', 'LimitRange', 'NetworkPolicy']);
    expect(kyverno.rules[0]?.generate.namespace).toBe('{{request.object.metadata.name}}');
  });

  it('hands an inline CA bundle to Metacontroller when one is given', () => {
    const objects = renderChart({ tls: { enabled: true, secretName: 'my-tls', caBundle: EXAMPLE_CA } });
    for (const controller of objects.filter((object) => CONTROLLER_KINDS.has(object.kind))) {
      for (const { webhook } of hooksOf(controller)) expect(webhook.caBundle).toEqual({ inline: EXAMPLE_CA });
    }
    const volumes = ((findObject(objects, 'Deployment').spec as Json).template as { spec: { volumes: Json[] } }).spec.volumes;
    expect(volumes.find((volume) => volume.name === 'tls')).toMatchObject({ secret: { secretName: 'my-tls' } });
  });

  it('uses an existing token Secret instead of generating one', () => {
    const objects = renderChart({ webhookAuth: { existingSecret: 'my-token', secretKey: 'bearer' } });
    expect(objects.filter((object) => object.kind === 'Secret')).toEqual([]);
    expect(env(findObject(objects, 'Deployment')).get('KAPSA_WEBHOOK_TOKEN_FILE')).toBe('/var/run/secrets/kapsa/webhook-token/bearer');
    const controller = findObject(objects, 'CompositeController', 'kapsa-project');
    for (const { webhook } of hooksOf(controller)) expect(webhook.authorization).toMatchObject({ secretRef: { name: 'my-token', key: 'bearer' } });
  });

  it('generates a strong token, and rolls the pods when it changes (checksum of the token, never the token)', () => {
    const objects = renderChart();
    const secret = findObject(objects, 'Secret', 'kapsa-webhook-token');
    const token = Buffer.from(String((secret.data as Json).token), 'base64').toString('utf8');
    expect(token).toMatch(/^[A-Za-z0-9]{48}$/);
    const annotations = ((findObject(objects, 'Deployment').spec as Json).template as { metadata: { annotations: Record<string, string> } }).metadata.annotations;
    expect(annotations['checksum/webhook-token']).toBe(createHash('sha256').update(token).digest('hex'));
    // A second render without a cluster to look the Secret up in draws a new token.
    const again = findObject(renderChart(), 'Secret', 'kapsa-webhook-token');
    expect((again.data as Json).token).not.toBe((secret.data as Json).token);
  });

  it('turns webhook auth off only when asked (NOTES then warn: test/k8s/chart.test.ts)', () => {
    const objects = renderChart({ webhookAuth: { enabled: false } });
    expect(objects.some((object) => object.kind === 'Secret')).toBe(false);
    expect(env(findObject(objects, 'Deployment')).has('KAPSA_WEBHOOK_TOKEN_FILE')).toBe(false);
    for (const controller of objects.filter((object) => CONTROLLER_KINDS.has(object.kind))) {
      for (const { webhook } of hooksOf(controller)) expect(webhook.authorization).toBeUndefined();
    }
  });
});

describe('controllers come from the same definitions as metacontroller/', () => {
  const strip = (object: Json): Json => {
    const { labels: _labels, ...metadata } = object.metadata as Json;
    return { ...object, metadata };
  };
  // helm orders objects by kind; compare by name.
  const byName = (objects: Json[]): Json[] =>
    [...objects].sort((a, b) => String((a.metadata as Json).name).localeCompare(String((b.metadata as Json).name)));

  it('with the defaults (auth off), the chart renders exactly the metacontroller/ definitions', () => {
    const rendered = renderChart({ webhookAuth: { enabled: false } }).filter((object) => CONTROLLER_KINDS.has(object.kind));
    expect(byName(rendered.map((object) => strip(object)))).toEqual(byName(controllerDefinitions(DEFAULT_CONTROLLER_OPTIONS).map(({ object }) => strip(object))));
    // And they agree with the committed files.
    for (const { file, object } of controllerDefinitions()) {
      expect(strip(parse(readFileSync(join(REPO_ROOT, 'metacontroller', file), 'utf8')) as Json)).toEqual(strip(object));
    }
  });

  it('takes base URL, timeout, ETag and resync periods from values', () => {
    const resync = { project: 120, environment: 90, gitPoller: 15, registry: 45, domainPool: 200, claims: 400 };
    const rendered = renderChart({
      webhookAuth: { enabled: false },
      controllers: { baseUrl: 'http://hooks.example.internal:9000/', timeout: '10s', etag: { enabled: false }, resyncPeriodSeconds: resync },
    }).filter((object) => CONTROLLER_KINDS.has(object.kind));
    const expected = controllerDefinitions({ baseUrl: 'http://hooks.example.internal:9000', timeout: '10s', etag: false, resyncSeconds: resync });
    expect(byName(rendered.map((object) => strip(object)))).toEqual(byName(expected.map(({ object }) => strip(object))));
  });

  it('are left out with controllers.create=false', () => {
    expect(renderChart({ controllers: { create: false } }).some((object) => CONTROLLER_KINDS.has(object.kind))).toBe(false);
  });
});

describe('every KAPSA_* setting is reachable from values', () => {
  it('every SETTINGS variable is in the Deployment env (the raw token only ever as a file)', () => {
    const variables = env(findObject(renderChart(ALL_FEATURES), 'Deployment'));
    const missing = Object.values(SETTINGS)
      .map((setting) => setting.variable)
      // Deliberate: the token reaches the pods as a mounted file (KAPSA_WEBHOOK_TOKEN_FILE), never as an
      // environment variable, which would show in `kubectl describe`-level tooling and /proc/*/environ.
      .filter((variable) => variable !== 'KAPSA_WEBHOOK_TOKEN')
      .filter((variable) => !variables.has(variable));
    expect(missing).toEqual([]);
    expect(variables.has('KAPSA_WEBHOOK_TOKEN')).toBe(false);
  });

  it("the chart's defaults are the service's defaults, and the rendered env is a valid configuration", () => {
    const variables = env(findObject(renderChart({ webhookAuth: { enabled: false } }), 'Deployment'));
    // Chart-derived values that differ from the service's stand-alone defaults, on purpose.
    const derived: Record<string, string> = { KAPSA_METRICS_PORT: '9090' };
    for (const setting of Object.values(SETTINGS)) {
      if (!variables.has(setting.variable)) continue;
      expect(variables.get(setting.variable), setting.variable).toBe(derived[setting.variable] ?? setting.default);
    }
    expect(() => loadConfig(Object.fromEntries(variables))).not.toThrow();
    const everything = env(findObject(renderChart(ALL_FEATURES), 'Deployment'));
    expect(() => loadConfig(Object.fromEntries(everything))).not.toThrow();
  });

  it('a config value reaches its variable', () => {
    const variables = env(
      findObject(renderChart({ config: { logLevel: 'debug', gitMaxConcurrentPolls: 3, gitAllowHttp: true, bodyLimit: 2048, defaultPollInterval: '2m' } }), 'Deployment'),
    );
    expect(variables.get('KAPSA_LOG_LEVEL')).toBe('debug');
    expect(variables.get('KAPSA_GIT_MAX_CONCURRENT_POLLS')).toBe('3');
    expect(variables.get('KAPSA_GIT_ALLOW_HTTP')).toBe('true');
    expect(variables.get('KAPSA_BODY_LIMIT')).toBe('2048');
    expect(variables.get('KAPSA_DEFAULT_POLL_INTERVAL')).toBe('2m');
  });
});

describe('values.schema.json refuses bad values at install time', () => {
  it.each([
    ['an unknown log level', { config: { logLevel: 'loud' } }],
    ['a duration the service cannot parse', { config: { defaultPollInterval: '5 minutes' } }],
    ['a negative replica count', { replicaCount: -1 }],
    ['a misspelt top-level key', { replicaCont: 3 }],
    ['a misspelt config key', { config: { logLvl: 'info' } }],
    ['a string resync period', { controllers: { resyncPeriodSeconds: { project: 'often' } } }],
    ['a port out of range', { server: { port: 70000 } }],
    ['a bad image digest', { image: { digest: 'latest' } }],
    ['a namespace that is not a DNS label', { metacontroller: { namespace: 'Meta_Controller' } }],
    ['a non-PEM CA bundle', { tls: { caBundle: 'not a certificate' } }],
  ])('%s', (_name, values) => {
    const result = helm('template', 'kapsa', CHART_DIR, '--namespace', NAMESPACE, ...valuesArgs(values));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/values don't meet the specifications of the schema/);
  });

  it.each([
    ['TLS without a certificate source', { tls: { enabled: true } }, /tls\.enabled needs tls\.secretName/],
    ['cert-manager without an issuer', { tls: { enabled: true, certManager: { enabled: true } } }, /needs tls\.certManager\.issuerRef\.name/],
    ['metrics on the hook port number', { metrics: { port: 8080 } }, /metrics\.port must differ from server\.port/],
  ])('combinations the schema cannot express fail with a message: %s', (_name, values, message) => {
    const result = helm('template', 'kapsa', CHART_DIR, '--namespace', NAMESPACE, ...valuesArgs(values));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });
});

// The helm binary for the chart tests, built once from its Go module by scripts/helm-binary.sh and
// cached like the kube binaries. A missing Go toolchain or a failed build throws: the chart tests
// fail loudly rather than skip.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
export const CHART_DIR = join(REPO_ROOT, 'chart');
const SCRIPT = join(REPO_ROOT, 'scripts', 'helm-binary.sh');

export interface ChartObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

let cached: string | undefined;

/** Path of the helm binary (builds it on first use; minutes when cold, milliseconds when cached). */
export function helmBinary(): string {
  if (cached) return cached;
  let stdout: string;
  try {
    stdout = execFileSync('bash', [SCRIPT], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '');
    throw new Error(`scripts/helm-binary.sh failed: the chart tests need helm, built from helm.sh/helm/v3 with the Go toolchain.\n${stderr.split('\n').slice(-40).join('\n')}`);
  }
  const line = stdout.split('\n').find((item) => item.startsWith('HELM='));
  if (!line) throw new Error(`scripts/helm-binary.sh printed no HELM= line:\n${stdout}`);
  cached = line.slice('HELM='.length).trim();
  return cached;
}

export interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs helm with a private HOME/XDG dirs, so no user configuration or repository cache leaks in. */
export function helm(...args: string[]): HelmResult {
  const home = mkdtempSync(join(tmpdir(), 'kapsa-helm-home-'));
  const result = spawnSync(helmBinary(), args, {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_DATA_HOME: join(home, 'data'),
    },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Writes values to a temp file and returns the `-f` arguments. */
export function valuesArgs(values: Record<string, unknown> | undefined): string[] {
  if (!values) return [];
  const dir = mkdtempSync(join(tmpdir(), 'kapsa-values-'));
  const file = join(dir, 'values.yaml');
  writeFileSync(file, stringify(values));
  return ['-f', file];
}

export const RELEASE = 'kapsa';
export const NAMESPACE = 'kapsa-system';

/** `helm template` of the chart with these values (and the CRDs with includeCrds); throws with helm's message on failure. */
export function renderChart(values?: Record<string, unknown>, options: { includeCrds?: boolean; namespace?: string; release?: string } = {}): ChartObject[] {
  const args = ['template', options.release ?? RELEASE, CHART_DIR, '--namespace', options.namespace ?? NAMESPACE, ...valuesArgs(values)];
  if (options.includeCrds) args.push('--include-crds');
  const result = helm(...args);
  if (result.status !== 0) throw new Error(`helm template failed (${result.status}):\n${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`helm template produced invalid YAML: ${document.errors[0]?.message}`);
      return document.toJS() as ChartObject | null;
    })
    .filter((object): object is ChartObject => object !== null);
}

export function findObject(objects: ChartObject[], kind: string, name?: string): ChartObject {
  const found = objects.find((object) => object.kind === kind && (name === undefined || object.metadata.name === name));
  if (!found) throw new Error(`no ${kind}${name ? ` ${name}` : ''} in the rendered chart: ${objects.map((object) => `${object.kind}/${object.metadata.name}`).join(', ')}`);
  return found;
}

/** A self-signed PEM certificate for TLS values (only its shape matters to the chart). */
export const EXAMPLE_CA = `-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIUKapsaTestCertificateForChartValues0wCgYIKoZIzj0EAwIw
-----END CERTIFICATE-----
`;

/** Values that turn every optional feature on. */
export const ALL_FEATURES: Record<string, unknown> = {
  webhookAuth: { enabled: true },
  tls: { enabled: true, certManager: { enabled: true, issuerRef: { name: 'kapsa-ca', kind: 'Issuer' } } },
  networkPolicy: { enabled: true, metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] },
  metrics: { serviceMonitor: { enabled: true, labels: { release: 'prometheus' } } },
  projectNamespaceDefaults: { enabled: true, kyverno: { enabled: true } },
  config: { reservedNamespaces: ['shared', 'ops'], gitAllowedHosts: ['git.internal:443'], ingressClass: 'nginx' },
  extraEnv: [{ name: 'NODE_OPTIONS', value: '--enable-source-maps' }],
  receiver: { enabled: true, keySecretRef: { name: 'kapsa-receiver-key' }, ingress: { enabled: true, host: 'kapsa.example.com', className: 'nginx' } },
};

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { crdFiles } from '../../hooks/crds/generate.ts';
import { controllerFiles } from '../../hooks/metacontroller/definitions.ts';

const root = join(import.meta.dirname, '..', '..');
const node = join(root, 'node_modules', '.bin', 'node');

function kapsa(...args: string[]) {
  return spawnSync(node, [join(root, 'hooks', 'cli', 'kapsa.ts'), ...args], { cwd: root, encoding: 'utf8', timeout: 30_000 });
}

describe('kapsa render', () => {
  it('prints the whole chain for the examples: Project -> Environments -> runtime objects', () => {
    const result = kapsa('render', 'examples/', '--now', '2026-11-26T12:00:00Z');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const objects = parseAllDocuments(result.stdout).map((document) => document.toJS() as { kind: string; metadata: { name: string } });
    const kinds = new Set(objects.map((object) => object.kind));
    for (const kind of ['Namespace', 'Secret', 'ServiceAccount', 'Image', 'Environment', 'Deployment', 'Service', 'Ingress', 'Certificate', 'HorizontalPodAutoscaler']) {
      expect(kinds, kind).toContain(kind);
    }
    const environments = objects.filter((object) => object.kind === 'Environment').map((object) => object.metadata.name);
    expect(environments).toEqual(expect.arrayContaining(['dev', 'staging', 'prod']));
    // The example has a feature branch with previews on: it gets its own Environment.
    expect(environments.some((name) => name.startsWith('feature-checkout-v2'))).toBe(true);
    // Byte-stable for the same input and clock.
    expect(kapsa('render', 'examples/', '--now', '2026-11-26T12:00:00Z').stdout).toBe(result.stdout);
  });

  it('shows the state before the first build with --builds pending (no Deployments yet)', () => {
    const result = kapsa('render', 'examples/', '--builds', 'pending', '--output', 'json');
    expect(result.status).toBe(0);
    const list = JSON.parse(result.stdout) as { kind: string; items: Array<{ kind: string }> };
    expect(list.kind).toBe('List');
    expect(list.items.some((item) => item.kind === 'Environment')).toBe(true);
    expect(list.items.some((item) => item.kind === 'Deployment')).toBe(false);
  });

  it('renders the wildcard Certificates of a DomainPool in wildcard mode, and flat preview hosts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kapsa-render-'));
    const pool = readFileSync(join(root, 'examples', 'platform.yaml'), 'utf8').replace(
      '  allocationPolicy:',
      '  wildcard:\n    enabled: true\n    issuerRef: { name: letsencrypt-dns01 }\n  allocationPolicy:',
    );
    writeFileSync(join(dir, 'platform.yaml'), pool);
    writeFileSync(join(dir, 'project.yaml'), readFileSync(join(root, 'examples', 'project.yaml'), 'utf8'));
    const result = kapsa('render', dir, '--output', 'json');
    expect(result.stderr).toBe('');
    const items = (JSON.parse(result.stdout) as { items: Array<{ kind: string; metadata: { namespace?: string }; spec: Record<string, any> }> }).items;
    const wildcard = items.filter((item) => item.kind === 'Certificate' && item.metadata.namespace === 'kapsa-system');
    expect(wildcard.map((item) => item.spec.dnsNames)).toEqual([['*.apps.example.com']]);
    const preview = items.find((item) => item.kind === 'Environment' && item.spec.type === 'preview');
    expect(preview?.spec.ingress.host).toMatch(/^feature-checkout-v2-[0-9a-f]{6}--shop\.apps\.example\.com$/);
    expect(preview?.spec.ingress.tls).toEqual({ enabled: true, secretName: 'kapsa-wildcard-tls', managed: false });
  });

  it('fails with a clear message on unreadable YAML, an unknown kind or a missing path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kapsa-render-'));
    writeFileSync(join(dir, 'bad.yaml'), 'kind: Project\n  metadata: [\n');
    const bad = kapsa('render', join(dir, 'bad.yaml'));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/bad\.yaml: not valid YAML/);
    writeFileSync(join(dir, 'pod.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: { name: x }\n');
    const unknown = kapsa('render', join(dir, 'pod.yaml'));
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/unknown kind Pod/);
    const missing = kapsa('render', join(dir, 'nope'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/no such file or folder/);
    const usage = kapsa('render');
    expect(usage.status).toBe(2);
  });
});

describe('generated files', () => {
  it('the committed CRDs are the ones generated from the TypeBox specs', () => {
    for (const [file, text] of crdFiles()) {
      expect(readFileSync(join(root, 'crds', file), 'utf8'), `crds/${file} is stale: run npm run generate`).toBe(text);
    }
  });

  it('the committed Metacontroller definitions are the generated ones', () => {
    for (const [file, text] of controllerFiles()) {
      expect(readFileSync(join(root, 'metacontroller', file), 'utf8'), `metacontroller/${file} is stale: run npm run generate`).toBe(text);
    }
    expect(kapsa('generate', '--check').status).toBe(0);
  });
});

import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../../hooks/crds/generate.ts';
import { BRANCH_GLOB_PATTERN, BRANCH_NAME_PATTERN, branchGlobProblem, branchNameProblem } from '../../hooks/lib/git-refs.ts';
import { repositoryPathProblem } from '../../hooks/project/validate.ts';
import type { KubeClient, KubeObject } from './client.ts';
import { applyStrict, ensureNamespace, kubeClient, refusal } from './support.ts';
import { generatedNames } from '../support/generated-names.ts';

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

describe('branch names and build paths at apply time', () => {
  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['".." in repository.branch', { repository: { url: 'https://git.example.com/a.git', branch: 'a..b' } }, /spec\.repository\.branch.*should match/],
    ['a .lock branch', { environments: [{ name: 'dev', branch: 'main.lock' }] }, /spec\.environments\[0\]\.branch.*should match/],
    ['a branch with a space', { environments: [{ name: 'dev', branch: 'my branch' }] }, /spec\.environments\[0\]\.branch.*should match/],
    ['a branch with a control character', { repository: { url: 'https://git.example.com/a.git', branch: 'main\u0001' } }, /spec\.repository\.branch.*should match/],
    ['a branch with a right-to-left mark', { repository: { url: 'https://git.example.com/a.git', branch: 'main\u200f' } }, /spec\.repository\.branch.*should match/],
    ['a branch with a right-to-left override', { environments: [{ name: 'dev', branch: 'feature/\u202eevil' }] }, /spec\.environments\[0\]\.branch.*should match/],
    ['a full ref as branch', { environments: [{ name: 'dev', branch: 'refs/heads/main' }] }, /spec\.environments\[0\]\.branch: Invalid value: .*must be a short branch name such as main/],
    ['HEAD as branch', { repository: { url: 'https://git.example.com/a.git', branch: 'HEAD' } }, /spec\.repository\.branch: Invalid value: .*must be a short branch name such as main/],
    ['@ as branch', { repository: { url: 'https://git.example.com/a.git', branch: '@' } }, /must be a short branch name such as main/],
    ['a preview glob with "?"', { previewEnvironments: { enabled: true, branches: { include: ['feature/?'] } } }, /spec\.previewEnvironments\.branches\.include\[0\].*should match/],
    ['a preview glob with "["', { previewEnvironments: { enabled: true, branches: { exclude: ['[ab]*'] } } }, /spec\.previewEnvironments\.branches\.exclude\[0\].*should match/],
    ['a Dockerfile up the tree', { build: { strategy: 'dockerfile', dockerfile: '../../etc/passwd' } }, /spec\.build\.dockerfile.*should match/],
    ['an absolute Dockerfile path', { build: { strategy: 'dockerfile', dockerfile: '/etc/passwd' } }, /spec\.build\.dockerfile.*should match/],
    ['a Dockerfile path with backslashes', { build: { strategy: 'dockerfile', dockerfile: '..\\..\\Dockerfile' } }, /spec\.build\.dockerfile.*should match/],
    ['a context up the tree', { build: { strategy: 'dockerfile', context: '../..' } }, /spec\.build\.context.*should match/],
    ['a context ending in ..', { build: { context: 'app/..' } }, /spec\.build\.context.*should match/],
  ];

  it.each(bad)('refuses %s', async (_name, spec, message) => {
    const answer = await refusal(applyStrict(client, project('bad-branch', spec), { dryRun: true }));
    expect(answer, 'the server accepted it').toBeDefined();
    expect(answer).toMatch(message);
  });

  it('accepts branch names, globs and paths git and Kapsa accept', async () => {
    const accepted = await refusal(
      applyStrict(
        client,
        project('good-branches', {
          repository: { url: 'https://git.example.com/a.git', branch: 'release/1.x' },
          build: { strategy: 'dockerfile', dockerfile: '..hidden/prod.Dockerfile', context: 'services/api/' },
          environments: [
            { name: 'dev', branch: 'feature/ünïcödé-ブランチ' },
            { name: 'qa', branch: 'a.lockx' },
            { name: 'prod', branch: 'x@y{z}' },
          ],
          previewEnvironments: { enabled: true, branches: { include: ['*', '**', 'feature/*'], exclude: ['wip-*', '!keep/*'] } },
        }),
        { dryRun: true },
      ),
    );
    expect(accepted).toBeUndefined();
  });

  /**
   * A dry-run create as JSON: an apply body is read as YAML, which refuses some characters (DEL,
   * C1 controls) outright, before the schema is consulted.
   */
  function createDryRun(object: KubeObject): Promise<string | undefined> {
    return refusal(client.request('POST', '/apis/kapsa-project.io/v1alpha1/projects?dryRun=All&fieldValidation=Strict', object));
  }

  /** The indexes of a list field the server refused, from its message. */
  function refusedIndexes(message: string | undefined, field: RegExp): number[] {
    if (message === undefined) return [];
    return [...new Set([...message.matchAll(field)].map((match) => Number(match[1])))].sort((a, b) => a - b);
  }

  const ALPHABET = ['a', 'l', 'o', 'c', 'k', 'r', 'e', 'f', 's', 'H', 'E', 'A', 'D', '.', '/', '@', '{', '-', '*', '?', '[', '\\', ' ', '~', ':', 'é', 'ブ', '\u0085', '\u00a0', '\u200e', '\u202e', '\u2028', '\u2066', '\ufeff', '\u061c', '🚀'];
  const TRICKY = ['main', 'a./b', 'a.lock./b', 'a.lock.lock', '@', '@@', 'a@{b', '@}', 'refs/x', 'refs.x/y', 'HEAD', 'x/HEAD', '-x', 'a/-x', 'a//b', 'a/', '.a', 'a/.b', 'a.', 'x.lock', 'lock', 'a\u0000b', 'a\u007fb', 'a\tb'];

  it('the API server (Go RE2 and CEL) refuses exactly the branch names the hook refuses', async () => {
    const names = [...TRICKY, ...generatedNames(380, ALPHABET, 42, 8)];
    const mismatches: string[] = [];
    for (let start = 0; start < names.length; start += 20) {
      const chunk = names.slice(start, start + 20);
      const environments = chunk.map((branch, index) => ({ name: `e${index}`, branch }));
      const answer = await createDryRun(project('branch-sweep', { environments }));
      const refused = refusedIndexes(answer, /spec\.environments\[(\d+)\]\.branch/g);
      chunk.forEach((branch, index) => {
        const hook = branchNameProblem(branch) !== undefined;
        if (hook !== refused.includes(index)) mismatches.push(`${JSON.stringify(branch)}: hook ${hook ? 'refuses' : 'accepts'}, API server ${refused.includes(index) ? 'refuses' : 'accepts'}`);
      });
      if (answer !== undefined && refused.length === 0) mismatches.push(`unexpected refusal: ${answer.slice(0, 300)}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('the API server refuses exactly the preview globs the hook refuses', async () => {
    const globs = [...TRICKY, '*', '**', 'feature/*', '*.lock', '-*', ...generatedNames(300, ALPHABET, 7, 8)];
    const mismatches: string[] = [];
    for (let start = 0; start < globs.length; start += 32) {
      const chunk = globs.slice(start, start + 32);
      const answer = await createDryRun(project('glob-sweep', { previewEnvironments: { enabled: true, branches: { include: chunk } } }));
      const refused = refusedIndexes(answer, /spec\.previewEnvironments\.branches\.include\[(\d+)\]/g);
      chunk.forEach((glob, index) => {
        const hook = branchGlobProblem(glob) !== undefined;
        if (hook !== refused.includes(index)) mismatches.push(`${JSON.stringify(glob)}: hook ${hook ? 'refuses' : 'accepts'}, API server ${refused.includes(index) ? 'refuses' : 'accepts'}`);
      });
      if (answer !== undefined && refused.length === 0) mismatches.push(`unexpected refusal: ${answer.slice(0, 300)}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('the API server refuses exactly the build contexts the hook refuses', async () => {
    const paths = ['', '.', '..', '...', '../', 'a/..', 'a/../b', '..a', 'a//b', 'a/', '/a', 'a\\b', 'a b', 'é/ü', ...generatedNames(150, ['a', '.', '/', '\\', ' ', 'é', '-'], 5, 8)];
    const mismatches: string[] = [];
    for (const context of paths) {
      const answer = await createDryRun(project('context-sweep', { build: { strategy: 'dockerfile', context } }));
      const hook = repositoryPathProblem(context, true) !== undefined;
      const server = answer !== undefined && /spec\.build\.context/.test(answer);
      if (hook !== server) mismatches.push(`${JSON.stringify(context)}: hook ${hook ? 'refuses' : 'accepts'}, API server ${server ? 'refuses' : `accepts${answer ? ` (${answer.slice(0, 200)})` : ''}`}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('reads the committed CRD file (Go YAML, \\u escapes) back to the very patterns', async () => {
    const text = readFileSync(join(import.meta.dirname, '..', '..', 'crds', 'projects.kapsa-project.io.yaml'), 'utf8');
    const query = new URLSearchParams({ fieldManager: 'kapsa-tests-yaml', force: 'true', dryRun: 'All' });
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(
        `${client.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/projects.kapsa-project.io?${query}`,
        {
          method: 'PATCH',
          rejectUnauthorized: false,
          headers: { authorization: `Bearer ${client.token}`, 'content-type': 'application/apply-patch+yaml', accept: 'application/json' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 500)}`))));
        },
      );
      req.on('error', reject);
      req.end(text);
    });
    const crd = JSON.parse(body) as { spec: { versions: Array<{ schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, any> } } } } }> } };
    const spec = crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties;
    expect(spec.repository.properties.branch.pattern).toBe(BRANCH_NAME_PATTERN);
    expect(spec.environments.items.properties.branch.pattern).toBe(BRANCH_NAME_PATTERN);
    expect(spec.previewEnvironments.properties.branches.properties.include.items.pattern).toBe(BRANCH_GLOB_PATTERN);
  });
});

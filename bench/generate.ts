/**
 * Realistic Metacontroller hook v2 requests for the benchmarks.
 *
 * A request is built the way a cluster reaches it: the Project (or Environment) is synced once with
 * nothing observed, every child of the reply is turned into the object the API server would hold
 * (uid, resourceVersion, creationTimestamp, owner reference, Metacontroller's last-applied
 * annotation, a managedFields entry, and a healthy status: Namespace Active, kpack Images built,
 * Environments Running with the status their own hook computes), and the sync runs again with those
 * observed children and the previous status, until the reply no longer changes. The last request is
 * the steady state Metacontroller sends on every resync.
 */
import { createHash } from 'node:crypto';
import { syncEnvironment } from '../hooks/environment/sync.ts';
import type { CompositeSyncRequest, CompositeSyncResponse } from '../hooks/lib/hook.ts';
import { ANNOTATION_LAST_APPLIED, ANNOTATION_OBSERVED_REFS, API_VERSION } from '../hooks/lib/labels.ts';
import { groupObjects, isRecord, type KubeObject, type ObjectsByType } from '../hooks/lib/objects.ts';
import type { ProjectSettings } from '../hooks/project/settings.ts';
import { syncProject } from '../hooks/project/sync.ts';

/** The clock of every generated request and of the benchmarked server. */
export const BENCH_NOW = new Date('2026-11-26T12:00:00Z');

export interface ProjectShape {
  /** Project name (also its namespace and subdomain). */
  name: string;
  /** Long-lived environments (1 to 20). */
  environments: number;
  /** Feature branches that get a preview each (0 turns previews off). */
  previews: number;
  /** previewEnvironments.maxActive (default: the number of previews, at most 100). */
  maxActive?: number;
}

/** The shape issue 8 asks for: 10 environments, 50 previews, maxActive 50. */
export const LARGE_PROJECT: ProjectShape = { name: 'shop', environments: 10, previews: 50, maxActive: 50 };

const ENVIRONMENT_NAMES = ['prod', 'staging', 'dev', 'qa', 'uat', 'demo', 'perf', 'sandbox', 'canary', 'hotfix'];

function environmentName(index: number): string {
  return ENVIRONMENT_NAMES[index] ?? `env-${index}`;
}

function environmentBranch(name: string): string {
  if (name === 'prod' || name === 'staging') return 'release';
  if (name === 'dev') return 'main';
  return `env/${name}`;
}

export function sha1(seed: string): string {
  return createHash('sha1').update(seed).digest('hex');
}

function sha256(seed: string): string {
  return createHash('sha256').update(seed).digest('hex');
}

function uid(seed: string): string {
  const hex = sha256(`uid:${seed}`);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function minutesBefore(now: Date, minutes: number): string {
  return new Date(now.getTime() - minutes * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The `f:` field set of an object, the form managedFields use (values dropped, keys kept). */
function fieldsOf(value: unknown, depth = 0): Record<string, unknown> {
  if (!isRecord(value) || depth > 6) return {};
  const fields: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (depth === 0 && (key === 'apiVersion' || key === 'kind' || key === 'status')) continue;
    if (depth === 1 && (key === 'name' || key === 'namespace')) continue;
    fields[`f:${key}`] = isRecord(item) ? fieldsOf(item, depth + 1) : {};
  }
  return fields;
}

interface ObservedOptions {
  owner: KubeObject;
  now: Date;
  /** Minutes before `now` the object was created. */
  ageMinutes: number;
  status?: Record<string, unknown>;
  generation?: number;
}

/** What the API server holds after Metacontroller applied `desired`. */
export function observedChild(desired: KubeObject, options: ObservedOptions): KubeObject {
  const seed = `${desired.kind}/${desired.metadata.namespace ?? ''}/${desired.metadata.name ?? ''}`;
  const created = minutesBefore(options.now, options.ageMinutes);
  const metadata: KubeObject['metadata'] = {
    ...desired.metadata,
    uid: uid(seed),
    resourceVersion: String(100_000 + (Number.parseInt(sha256(seed).slice(0, 6), 16) % 900_000)),
    creationTimestamp: created,
    annotations: { ...desired.metadata.annotations, [ANNOTATION_LAST_APPLIED]: JSON.stringify(desired) },
    ownerReferences: [
      // blockOwnerDeletion is what the API server holds too; ObjectMeta only types the fields Kapsa reads.
      {
        apiVersion: options.owner.apiVersion,
        kind: options.owner.kind,
        name: options.owner.metadata.name ?? '',
        uid: options.owner.metadata.uid ?? '',
        controller: true,
        ...{ blockOwnerDeletion: true },
      },
    ],
    managedFields: [
      {
        manager: 'metacontroller',
        operation: 'Update',
        apiVersion: desired.apiVersion,
        time: created,
        fieldsType: 'FieldsV1',
        fieldsV1: fieldsOf(desired),
      },
    ],
  };
  if (options.generation !== undefined) metadata.generation = options.generation;
  const observed: KubeObject = { ...desired, metadata };
  if (options.status) observed.status = options.status;
  return observed;
}

/** The v2 object map, as Metacontroller sends it. */
export const grouped = groupObjects;

function condition(type: string, status: string, reason: string, now: Date, message = ''): Record<string, unknown> {
  return { type, status, reason, message, lastTransitionTime: minutesBefore(now, 600) };
}

/** A healthy status for an Environment's child (rolled out, address published, certificate issued). */
function environmentChildStatus(desired: KubeObject, now: Date): Record<string, unknown> | undefined {
  const spec = isRecord(desired.spec) ? desired.spec : {};
  switch (desired.kind) {
    case 'Deployment': {
      const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
      return {
        observedGeneration: 3,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: replicas,
        availableReplicas: replicas,
        conditions: [
          { ...condition('Available', 'True', 'MinimumReplicasAvailable', now, 'Deployment has minimum availability.'), lastUpdateTime: minutesBefore(now, 600) },
          { ...condition('Progressing', 'True', 'NewReplicaSetAvailable', now, 'ReplicaSet has successfully progressed.'), lastUpdateTime: minutesBefore(now, 600) },
        ],
      };
    }
    case 'Service':
      return { loadBalancer: {} };
    case 'Ingress':
      return { loadBalancer: { ingress: [{ ip: '203.0.113.10' }] } };
    case 'Certificate':
      return {
        conditions: [{ ...condition('Ready', 'True', 'Ready', now, 'Certificate is up to date and has not expired'), observedGeneration: 1 }],
        notAfter: '2027-02-24T12:00:00Z',
        notBefore: '2026-11-26T12:00:00Z',
        renewalTime: '2027-01-25T12:00:00Z',
        revision: 1,
      };
    case 'HorizontalPodAutoscaler':
      return {
        currentReplicas: 2,
        desiredReplicas: 2,
        currentMetrics: [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 12, averageValue: '24m' } } }],
        conditions: [condition('AbleToScale', 'True', 'ReadyForNewScale', now), condition('ScalingActive', 'True', 'ValidMetricFound', now)],
      };
    default:
      return undefined;
  }
}

/** Server-side fields a real Service carries (clusterIP), so observed Services look like the API server's. */
function withServerDefaults(desired: KubeObject): KubeObject {
  if (desired.kind !== 'Service' || !isRecord(desired.spec)) return desired;
  return { ...desired, spec: { ...desired.spec, clusterIP: '10.96.12.34', clusterIPs: ['10.96.12.34'], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack' } };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The steady-state environment/sync request of `environment` (an Environment as the Project hook
 * returns it): its children observed healthy, its status as its own hook last wrote it.
 */
export function environmentRequest(environment: KubeObject, options: { project: KubeObject; now?: Date; ageMinutes?: number }): CompositeSyncRequest {
  const now = options.now ?? BENCH_NOW;
  const parent = observedChild(environment, { owner: options.project, now, ageMinutes: options.ageMinutes ?? 600, generation: 4 });
  let request: CompositeSyncRequest = { controller: controllerOf('kapsa-environment'), parent, children: {}, related: {}, finalizing: false };
  let previous: CompositeSyncResponse | undefined;
  for (let round = 0; round < 5; round++) {
    const reply = syncEnvironment(request, { now });
    const children = reply.children.map((child) =>
      observedChild(withServerDefaults(child), { owner: parent, now, ageMinutes: 590, generation: 3, status: environmentChildStatus(child, now) }),
    );
    request = { ...request, parent: { ...parent, status: reply.status }, children: grouped(children) };
    if (previous && sameJson(previous, reply)) break;
    previous = reply;
  }
  return request;
}

/** The Environment's own status for the project's observed Environment child. */
function environmentStatus(environment: KubeObject, project: KubeObject, now: Date): Record<string, unknown> {
  const request = environmentRequest(environment, { project, now });
  return isRecord(request.parent.status) ? request.parent.status : {};
}

/** A Metacontroller `controller` field as hook v2 sends it (the CompositeController object). */
function controllerOf(name: string): Record<string, unknown> {
  const resource = name === 'kapsa-environment' ? 'environments' : 'projects';
  return {
    apiVersion: 'metacontroller.k8s.io/v1alpha1',
    kind: 'CompositeController',
    metadata: { name, uid: uid(`controller:${name}`), generation: 1, resourceVersion: '1200' },
    spec: {
      generateSelector: true,
      parentResource: { apiVersion: API_VERSION, resource },
      resyncPeriodSeconds: 300,
      hooks: { version: 'v2', sync: { webhook: { url: `http://kapsa.kapsa-system.svc:8080/hooks/${name.replace('kapsa-', '')}/sync`, etag: { enabled: true } } } },
    },
  };
}

function kpackImageStatus(desired: KubeObject, now: Date): Record<string, unknown> {
  const spec = isRecord(desired.spec) ? desired.spec : {};
  const tag = typeof spec.tag === 'string' ? spec.tag : 'registry.example.com/app:latest';
  const source = isRecord(spec.source) && isRecord(spec.source.git) ? spec.source.git : {};
  const digest = sha256(`image:${tag}@${String(source.revision)}`);
  return {
    observedGeneration: 1,
    latestBuildImageGeneration: 1,
    latestBuildRef: `${desired.metadata.name ?? 'image'}-build-1`,
    latestBuildReason: 'COMMIT',
    buildCounter: 1,
    latestImage: `${tag.replace(/:[^:/]*$/, '')}@sha256:${digest}`,
    latestStack: 'io.buildpacks.stacks.jammy',
    conditions: [condition('Ready', 'True', 'Ready', now), condition('BuilderReady', 'True', 'BuilderReady', now)],
  };
}

function projectChildStatus(desired: KubeObject, project: KubeObject, now: Date): Record<string, unknown> | undefined {
  switch (desired.kind) {
    case 'Namespace':
      return { phase: 'Active' };
    case 'Image':
      return kpackImageStatus(desired, now);
    case 'Environment':
      return environmentStatus(desired, project, now);
    default:
      return undefined;
  }
}

function previewBranchName(index: number): string {
  const topics = ['checkout', 'search', 'billing', 'login', 'cart', 'profile', 'catalog', 'reviews', 'shipping', 'refunds'];
  return `feature/${topics[index % topics.length] ?? 'topic'}-${String(index).padStart(3, '0')}`;
}

/** The Project object a developer applied, with the branch heads the poller observed. */
export function projectObject(shape: ProjectShape, now: Date = BENCH_NOW): KubeObject {
  const environments = Array.from({ length: shape.environments }, (_, index) => {
    const name = environmentName(index);
    const entry: Record<string, unknown> = { name, branch: environmentBranch(name), autoSync: name !== 'prod' };
    if (name === 'prod') entry.runtime = { replicas: 3, resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '1Gi' } } };
    if (name === 'staging') entry.env = [{ name: 'FEATURE_FLAGS', value: 'beta' }];
    return entry;
  });
  const branches = new Set<string>(['main', ...environments.map((entry) => String(entry.branch))]);
  for (let index = 0; index < shape.previews; index++) branches.add(previewBranchName(index));
  const heads: Record<string, string> = {};
  for (const branch of [...branches].sort()) heads[branch] = sha1(`${shape.name}:${branch}:head`);
  const spec: Record<string, unknown> = {
    repository: {
      url: `https://git.example.com/acme/${shape.name}.git`,
      branch: 'main',
      pollInterval: '1m',
      credentials: { secretRef: { name: 'git-creds' } },
    },
    build: { strategy: 'buildpacks', env: [{ name: 'BP_NODE_VERSION', value: '24' }] },
    registry: { name: 'main', imageRepository: `acme/${shape.name}` },
    domain: { subdomain: shape.name, domainPoolRef: { name: 'apps' } },
    runtime: {
      ports: [{ name: 'http', containerPort: 8080 }],
      resources: { requests: { cpu: '100m', memory: '128Mi' } },
      probes: { readiness: { path: '/healthz' }, liveness: { path: '/healthz' } },
    },
    environments,
  };
  if (shape.previews > 0) {
    spec.previewEnvironments = {
      enabled: true,
      ttl: '72h',
      maxActive: shape.maxActive ?? Math.min(100, shape.previews),
      branches: { include: ['feature/*'], exclude: ['feature/wip-*'] },
    };
  }
  return {
    apiVersion: API_VERSION,
    kind: 'Project',
    metadata: {
      name: shape.name,
      uid: uid(`project:${shape.name}`),
      generation: 7,
      resourceVersion: '48213',
      creationTimestamp: minutesBefore(now, 60 * 24 * 30),
      labels: { 'kapsa-project.io/domain-claim': sha256(`${shape.name}.apps`).slice(0, 16), 'kapsa-project.io/domain-pool': 'apps' },
      annotations: {
        [ANNOTATION_OBSERVED_REFS]: JSON.stringify(heads),
        'kapsa-project.io/observed-refs-at': minutesBefore(now, 1),
      },
    },
    spec,
  };
}

/** What the Project's customize hook brings in: the pool, the registry, its push Secret, the git Secret. */
function projectRelated(project: KubeObject): ObjectsByType {
  const name = project.metadata.name ?? '';
  return grouped([
    {
      apiVersion: API_VERSION,
      kind: 'DomainPool',
      metadata: { name: 'apps', uid: uid('pool:apps'), generation: 1, resourceVersion: '900' },
      spec: {
        baseDomains: ['apps.example.com', 'apps.example.net'],
        certManager: { issuerRef: { name: 'letsencrypt-prod', kind: 'ClusterIssuer' } },
        allocationPolicy: { reservedSubdomains: ['www', 'admin', 'api'] },
      },
      status: { conditions: [condition('Ready', 'True', 'Ready', BENCH_NOW)] },
    },
    {
      apiVersion: API_VERSION,
      kind: 'Registry',
      metadata: { name: 'main', uid: uid('registry:main'), generation: 1, resourceVersion: '901' },
      spec: {
        type: 'generic',
        endpoint: 'https://registry.example.com',
        auth: { secretRef: { name: 'registry-push' } },
        imagePullSecret: { name: 'kapsa-registry', generatePerNamespace: true },
      },
      status: { verified: true, conditions: [condition('Ready', 'True', 'Verified', BENCH_NOW)] },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'registry-push', namespace: 'kapsa-system', uid: uid('secret:registry-push'), resourceVersion: '902', labels: { 'kapsa-project.io/registry': 'main' } },
      type: 'kubernetes.io/basic-auth',
      data: { username: Buffer.from('kapsa-bot').toString('base64'), password: Buffer.from('s3cret-push-token').toString('base64') },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'git-creds', namespace: name, uid: uid(`secret:${name}/git-creds`), resourceVersion: '903' },
      type: 'Opaque',
      data: { username: Buffer.from('deploy').toString('base64'), password: Buffer.from('ghp_benchmarktoken0123456789').toString('base64') },
    },
  ]);
}

export interface GeneratedProject {
  /** The steady-state project/sync request. */
  request: CompositeSyncRequest;
  /** Its reply (what the hook answers to `request`). */
  reply: CompositeSyncResponse;
  /** Sync rounds it took to settle. */
  rounds: number;
}

/** The steady-state project/sync request of a Project of `shape`, with every child observed healthy. */
export function generateProject(shape: ProjectShape, settings: ProjectSettings, now: Date = BENCH_NOW): GeneratedProject {
  const parent = projectObject(shape, now);
  let request: CompositeSyncRequest = { controller: controllerOf('kapsa-project'), parent, children: {}, related: projectRelated(parent), finalizing: false };
  let previous: CompositeSyncResponse | undefined;
  for (let round = 1; round <= 6; round++) {
    const reply = syncProject(request, { now, settings });
    if (previous && sameJson(previous, reply)) return { request, reply, rounds: round };
    const children = reply.children.map((child) =>
      observedChild(child, {
        owner: parent,
        now,
        // Previews were made an hour ago (within their TTL); everything else long ago.
        ageMinutes: isRecord(child.spec) && child.spec.type === 'preview' ? 60 : 60 * 24 * 20,
        ...(child.kind === 'Image' || child.kind === 'Environment' ? { generation: 1 } : {}),
        status: projectChildStatus(child, parent, now),
      }),
    );
    request = { ...request, parent: { ...parent, status: reply.status }, children: grouped(children) };
    previous = reply;
  }
  throw new Error(`the project/sync reply of ${shape.name} did not settle in 6 rounds`);
}

/** Every Environment the project reply asks for. */
export function environmentsOf(reply: CompositeSyncResponse): KubeObject[] {
  return reply.children.filter((child) => child.kind === 'Environment' && child.apiVersion === API_VERSION);
}

import type { DomainPoolSpec } from '../domainpool/types.ts';
import { DomainPoolSpec as DomainPoolSchema } from '../domainpool/types.ts';
import { formatTime, nextConditions, type ConditionInput } from '../lib/conditions.ts';
import type { CompositeSyncRequest, CompositeSyncResponse, SyncContext } from '../lib/hook.ts';
import { keepAll, keptChild, withKept } from '../lib/kept.ts';
import {
  ANNOTATION_WILDCARD_BASE,
  API_VERSION,
  baseLabels,
  LABEL_COMPONENT,
  LABEL_MANAGED_BY,
  LABEL_PROJECT,
  LABEL_WILDCARD_POOL,
  MANAGED_BY,
} from '../lib/labels.ts';
import { isRecord, objectsOfType, type KubeObject, type Secret } from '../lib/objects.ts';
import { WEBHOOK_SECRET_NAME } from '../lib/repository-identity.ts';
import { compileValidator, describeErrors } from '../lib/schema.ts';
import { normalizeRegistryHost, parseRegistrySecret } from '../registry/credentials.ts';
import { RegistrySpec as RegistrySchema, type RegistrySpec } from '../registry/spec.ts';
import { desiredRoleBindings, desiredSecretsAccess, environmentSecrets } from './access.ts';
import {
  desiredBuildJob,
  desiredKpackImage,
  findBuild,
  mergeBuildHistory,
  observedBuild,
  observedBuildChildren,
  previousBuilds,
  PUSH_SECRET,
  GIT_SECRET,
  type BuildRecord,
  type BuildTarget,
} from './builds.ts';
import {
  chooseGitSecret,
  desiredBuildServiceAccount,
  desiredDockerConfigSecret,
  desiredGitSecret,
  desiredNamespace,
  type ProjectModel,
} from './children.ts';
import { chooseBaseDomain, claimOwner, previousBaseDomain, subdomainReservation, type Claimant } from './domain.ts';
import { currentRelease, desiredEnvironment, environmentReady, mergedRuntime, type EnvironmentPlan } from './environments.ts';
import { expiresAt, EXPIRED_HISTORY_LIMIT, previewBranches, previewName, previousExpired, previouslyRunningExpired, ttlSeconds, type ExpiredPreview } from './previews.ts';
import { judgeHeads, observedRefs, pollError, runningBranches } from './refs.ts';
import { namespaceReservation, projectNamespace, type ProjectSettings } from './settings.ts';
import type { ProjectSpec } from './types.ts';
import { validateProject } from './validate.ts';
import { projectWebhook } from './webhook.ts';

const poolValidator = compileValidator(DomainPoolSchema);
const registryValidator = compileValidator(RegistrySchema);

export interface ProjectSyncContext extends SyncContext {
  settings: ProjectSettings;
}

const CONDITION_ORDER = [
  'Ready',
  'NamespaceReady',
  'RepositoryAccessible',
  'BuildSucceeded',
  'DomainAllocated',
  'DomainConflict',
  'InvalidSpec',
  'PreviewsLimited',
] as const;
type ConditionType = (typeof CONDITION_ORDER)[number];

/** Collects conditions by type; the first word on a type wins, later ones are ignored. */
class ConditionSet {
  readonly #conditions = new Map<ConditionType, ConditionInput>();

  set(type: ConditionType, status: ConditionInput['status'], reason: string, message: string): void {
    if (!this.#conditions.has(type)) this.#conditions.set(type, { type, status, reason, message });
  }

  get(type: ConditionType): ConditionInput | undefined {
    return this.#conditions.get(type);
  }

  ordered(): ConditionInput[] {
    return CONDITION_ORDER.flatMap((type) => {
      const condition = this.#conditions.get(type);
      return condition ? [condition] : [];
    });
  }
}

function relatedOne<T extends KubeObject>(request: CompositeSyncRequest, kind: string, apiVersion: string, name: string, namespace?: string): T | undefined {
  return objectsOfType<T>(request.related, kind, apiVersion).find(
    (object) => object.metadata.name === name && (namespace === undefined || object.metadata.namespace === namespace),
  );
}

function observedByName(request: CompositeSyncRequest, kind: string, apiVersion: string): Map<string, KubeObject> {
  return new Map(objectsOfType(request.children, kind, apiVersion).map((object) => [object.metadata.name ?? '', object]));
}

function keptOfType(request: CompositeSyncRequest, kind: string, apiVersion: string, names?: ReadonlySet<string>): KubeObject[] {
  return objectsOfType(request.children, kind, apiVersion)
    .filter((object) => names === undefined || names.has(object.metadata.name ?? ''))
    .map(keptChild);
}

function primaryEnvironment(spec: ProjectSpec): string | undefined {
  const marked = spec.environments.find((environment) => environment.primary === true);
  if (marked) return marked.name;
  return spec.environments.find((environment) => environment.name === 'prod' || environment.name === 'production')?.name;
}

interface DomainOutcome {
  /** Hostname base (`<subdomain>.<base>`) when this Project may serve it. */
  host?: string;
  baseDomain?: string;
  pool?: DomainPoolSpec;
  /** True when Environments cannot be computed and must be kept as they are. */
  keepEnvironments: boolean;
}

function allocateDomain(request: CompositeSyncRequest, model: ProjectModel, conditions: ConditionSet): DomainOutcome {
  const { spec } = model;
  const poolName = spec.domain.domainPoolRef.name;
  const poolObject = relatedOne(request, 'DomainPool', API_VERSION, poolName);
  if (!poolObject) {
    conditions.set('DomainAllocated', 'False', 'DomainPoolNotFound', `DomainPool ${poolName} does not exist`);
    return { keepEnvironments: true };
  }
  const pool = poolValidator.parse(poolObject.spec, 'spec');
  if (!pool.ok) {
    conditions.set('DomainAllocated', 'False', 'InvalidDomainPool', `DomainPool ${poolName} is invalid: ${describeErrors(pool.errors)}`);
    return { keepEnvironments: true };
  }
  const choice = chooseBaseDomain(model.name, spec, pool.value, previousBaseDomain(request.parent));
  if (!choice.ok) {
    conditions.set('DomainAllocated', 'False', choice.reason, choice.message);
    return { keepEnvironments: true, pool: pool.value };
  }
  const host = `${spec.domain.subdomain}.${choice.baseDomain}`;
  const reserved = subdomainReservation(spec.domain.subdomain, pool.value);
  if (reserved) {
    conditions.set('DomainAllocated', 'False', 'SubdomainReserved', reserved);
    conditions.set('DomainConflict', 'False', 'SubdomainReserved', reserved);
    return { keepEnvironments: false, baseDomain: choice.baseDomain, pool: pool.value };
  }
  const claimants: Claimant[] = [{ name: model.name, creationTimestamp: request.parent.metadata.creationTimestamp ?? '' }];
  for (const other of objectsOfType(request.related, 'Project', API_VERSION)) {
    if (other.metadata.name === model.name || other.metadata.deletionTimestamp) continue;
    const otherSpec = isRecord(other.spec) ? other.spec : {};
    const domain = isRecord(otherSpec.domain) ? otherSpec.domain : {};
    const ref = isRecord(domain.domainPoolRef) ? domain.domainPoolRef : {};
    if (domain.subdomain !== spec.domain.subdomain || ref.name !== poolName) continue;
    const otherBase =
      typeof domain.baseDomain === 'string'
        ? domain.baseDomain
        : chooseBaseDomain(other.metadata.name ?? '', { domain: { subdomain: spec.domain.subdomain, domainPoolRef: { name: poolName } } }, pool.value, previousBaseDomain(other));
    const base = typeof otherBase === 'string' ? otherBase : otherBase.ok ? otherBase.baseDomain : undefined;
    if (base !== choice.baseDomain) continue;
    claimants.push({ name: other.metadata.name ?? '', creationTimestamp: other.metadata.creationTimestamp ?? '' });
  }
  const owner = claimOwner(claimants);
  if (owner && owner.name !== model.name) {
    const message = `${host} belongs to Project ${owner.name}, which claimed it first`;
    conditions.set('DomainAllocated', 'False', 'DomainConflict', message);
    conditions.set('DomainConflict', 'True', 'HostClaimed', message);
    return { keepEnvironments: false, baseDomain: choice.baseDomain, pool: pool.value };
  }
  conditions.set('DomainAllocated', 'True', 'Allocated', `${host} is allocated to this Project`);
  conditions.set('DomainConflict', 'False', 'NoConflict', 'no other Project claims this hostname');
  return { keepEnvironments: false, host, baseDomain: choice.baseDomain, pool: pool.value };
}

interface RegistryOutcome {
  host?: string;
  repository?: string;
  pullSecret?: string;
  credentials?: { username: string; password: string };
  spec?: RegistrySpec;
}

function resolveRegistry(request: CompositeSyncRequest, model: ProjectModel, settings: ProjectSettings, conditions: ConditionSet): RegistryOutcome {
  const name = model.spec.registry.name;
  const object = relatedOne(request, 'Registry', API_VERSION, name);
  if (!object) {
    conditions.set('BuildSucceeded', 'False', 'RegistryNotFound', `Registry ${name} does not exist`);
    return {};
  }
  const parsed = registryValidator.parse(object.spec, 'spec');
  if (!parsed.ok) {
    conditions.set('BuildSucceeded', 'False', 'InvalidRegistry', `Registry ${name} is invalid: ${describeErrors(parsed.errors)}`);
    return {};
  }
  const spec = parsed.value;
  const host = normalizeRegistryHost(spec.endpoint);
  const repository = `${host}/${model.spec.registry.imageRepository ?? model.name}`;
  const pullSecret = spec.imagePullSecret.generatePerNamespace ? spec.imagePullSecret.name : undefined;
  const ref = spec.auth.secretRef;
  const namespace = ref.namespace ?? settings.kapsaNamespace;
  const secret = relatedOne<Secret>(request, 'Secret', 'v1', ref.name, namespace);
  const credentials = parseRegistrySecret(secret, host);
  if (!credentials.ok) {
    const reason = credentials.reason === 'SecretNotFound' ? 'RegistrySecretNotFound' : 'InvalidRegistrySecret';
    conditions.set('BuildSucceeded', 'False', reason, `Registry ${name}: ${credentials.message}`);
    return { host, repository, ...(pullSecret ? { pullSecret } : {}), spec };
  }
  return { host, repository, credentials: { username: credentials.username, password: credentials.password }, spec, ...(pullSecret ? { pullSecret } : {}) };
}

/**
 * The Secrets Kapsa keeps in a project namespace for itself, which no environment may reference
 * (and so no tenant may read): the fixed copies, the Registry's pull copy under its default and
 * its configured name, and every Secret the Project already owns (a copy kept while the Registry
 * cannot be read has a name this sync may not know otherwise).
 */
function kapsaSecretNames(request: CompositeSyncRequest, spec: ProjectSpec): Set<string> {
  const names = new Set([PUSH_SECRET, GIT_SECRET, WILDCARD_SECRET, WEBHOOK_SECRET_NAME, DEFAULT_PULL_SECRET]);
  const registry = relatedOne(request, 'Registry', API_VERSION, spec.registry.name);
  const registrySpec = isRecord(registry?.spec) ? registry.spec : {};
  const pull = isRecord(registrySpec.imagePullSecret) ? registrySpec.imagePullSecret.name : undefined;
  if (typeof pull === 'string') names.add(pull);
  for (const secret of objectsOfType(request.children, 'Secret', 'v1')) names.add(secret.metadata.name ?? '');
  return names;
}

/** What the Registry schema names the pull copy when a Registry does not say. */
const DEFAULT_PULL_SECRET = String(RegistrySchema.properties.imagePullSecret.properties.name.default);

function pullSecretOf(environment: KubeObject | undefined): string | undefined {
  const spec = environment?.spec;
  if (!isRecord(spec) || !Array.isArray(spec.imagePullSecrets)) return undefined;
  const first: unknown = spec.imagePullSecrets[0];
  return typeof first === 'string' ? first : undefined;
}

function statusOf(parent: KubeObject): Record<string, unknown> {
  return isRecord(parent.status) ? parent.status : {};
}

function finish(
  request: CompositeSyncRequest,
  context: SyncContext,
  conditions: ConditionSet,
  children: KubeObject[],
  fields: Record<string, unknown>,
  resyncAfterSeconds?: number,
): CompositeSyncResponse {
  const parent = request.parent;
  const generation = parent.metadata.generation;
  const previous = statusOf(parent);
  const status: Record<string, unknown> = {};
  if (generation !== undefined) status.observedGeneration = generation;
  Object.assign(status, fields);
  status.conditions = nextConditions(Array.isArray(previous.conditions) ? previous.conditions : undefined, conditions.ordered(), context.now, generation);
  const response: CompositeSyncResponse = { status, children };
  if (resyncAfterSeconds !== undefined) response.resyncAfterSeconds = resyncAfterSeconds;
  return response;
}

/** Status fields carried over unchanged when this sync cannot recompute them. */
function carriedStatus(parent: KubeObject): Record<string, unknown> {
  const previous = statusOf(parent);
  const carried: Record<string, unknown> = {};
  for (const key of ['namespace', 'domain', 'latestCommit', 'latestImage', 'urls', 'environments', 'previews', 'expiredPreviews', 'builds']) {
    if (previous[key] !== undefined) carried[key] = previous[key];
  }
  return carried;
}

/**
 * The Project sync hook: `(request, now, settings) -> response`, pure and byte-stable. It makes
 * the namespace, credentials, builds and Environments of a Project; whatever it cannot compute
 * (a missing DomainPool, Registry or Secret, no refs yet, a bad spec) is kept as observed. Refs
 * that look like an outage rather than a deletion (no branch at all, every running branch gone at
 * once) and a missing environment branch keep what runs too: only a preview branch deleted among
 * others, an expiry or a spec change removes a workload. Ready=True means the app serves where
 * `status.urls` says: it needs the hostname allocated and every standard environment ready.
 */
export function syncProject(request: CompositeSyncRequest, context: ProjectSyncContext): CompositeSyncResponse {
  const { settings, now } = context;
  const parent = request.parent;
  const name = parent.metadata.name ?? '';
  const conditions = new ConditionSet();

  const validation = validateProject(parent);
  const secretAccess = validation.ok ? environmentSecrets(validation.spec, kapsaSecretNames(request, validation.spec)) : undefined;
  if (!validation.ok || (secretAccess && secretAccess.errors.length > 0)) {
    const message = describeErrors(validation.ok ? (secretAccess?.errors ?? []) : validation.errors);
    conditions.set('Ready', 'False', 'InvalidSpec', message);
    conditions.set('InvalidSpec', 'True', 'InvalidSpec', message);
    // The webhook Secret needs nothing from the spec: it follows the key (rotation) even now, but
    // only into a namespace this Project already has.
    const namespace = projectNamespace(name, settings);
    const webhook = observedByName(request, 'Namespace', 'v1').has(namespace) ? projectWebhook(parent, namespace, settings) : undefined;
    return finish(request, context, conditions, withKept(webhook ? [webhook.secret] : [], keepAll(request.children)), {
      phase: 'Failed',
      ...carriedStatus(parent),
      ...(webhook ? { webhook: webhook.status } : {}),
    });
  }
  conditions.set('InvalidSpec', 'False', 'Valid', 'the spec is valid');
  const spec = validation.spec;
  const namespace = projectNamespace(name, settings);
  const model: ProjectModel = { name, namespace, spec };

  const reserved = namespaceReservation(namespace, settings);
  const existing = relatedOne(request, 'Namespace', 'v1', namespace);
  const ours = existing?.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY && existing.metadata.labels[LABEL_PROJECT] === name;
  const refusal = reserved
    ? { reason: 'NamespaceReserved', message: `namespace ${reserved}` }
    : existing && !ours && !observedByName(request, 'Namespace', 'v1').has(namespace)
      ? { reason: 'NamespaceConflict', message: `namespace ${namespace} already exists and does not belong to this Project` }
      : undefined;
  if (refusal) {
    conditions.set('Ready', 'False', refusal.reason, refusal.message);
    conditions.set('NamespaceReady', 'False', refusal.reason, refusal.message);
    return finish(request, context, conditions, keepAll(request.children), { phase: 'Failed', ...carriedStatus(parent) });
  }
  const namespaceObserved = observedByName(request, 'Namespace', 'v1').has(namespace);
  conditions.set(
    'NamespaceReady',
    namespaceObserved ? 'True' : 'False',
    namespaceObserved ? 'Created' : 'Creating',
    namespaceObserved ? `namespace ${namespace} exists` : `namespace ${namespace} is being created`,
  );

  const webhook = projectWebhook(parent, namespace, settings);
  // The team reads its own webhook token (to give its forge), and no other Secret of Kapsa's.
  const readableKapsaSecrets = webhook ? [WEBHOOK_SECRET_NAME] : [];
  const children: KubeObject[] = [desiredNamespace(model), ...desiredRoleBindings(model), ...desiredSecretsAccess(model, secretAccess?.names ?? [], readableKapsaSecrets)];
  const kept: KubeObject[] = [];
  if (webhook) children.push(webhook.secret);

  // Credentials.
  const registry = resolveRegistry(request, model, settings, conditions);
  if (registry.credentials && registry.host) {
    children.push(desiredDockerConfigSecret(model, PUSH_SECRET, registry.host, registry.credentials));
    if (registry.pullSecret && registry.pullSecret !== PUSH_SECRET) {
      children.push(desiredDockerConfigSecret(model, registry.pullSecret, registry.host, registry.credentials));
    }
  } else {
    // Without the Registry (or its Secret) the names of the copies may be unknown: keep every
    // credential copy that runs, except the git one, which follows its own reference below.
    const copies = objectsOfType(request.children, 'Secret', 'v1').filter((object) => object.metadata.name !== GIT_SECRET);
    kept.push(...copies.map(keptChild));
  }
  const relatedSecrets = objectsOfType<Secret>(request.related, 'Secret', 'v1');
  const git = chooseGitSecret(model, spec.repository.credentials?.secretRef, relatedSecrets, settings);
  if (git.state === 'ok') children.push(desiredGitSecret(model, spec.repository.url, git.data));
  else if (git.state === 'refused') {
    conditions.set('RepositoryAccessible', 'False', git.reason, git.message);
    kept.push(...keptOfType(request, 'Secret', 'v1', new Set([GIT_SECRET])));
  }
  const hasGitSecret = git.state === 'ok' || kept.some((child) => child.kind === 'Secret' && child.metadata.name === GIT_SECRET);
  const observedServiceAccount = observedByName(request, 'ServiceAccount', 'v1').get(settings.buildServiceAccount);
  if (!registry.credentials && observedServiceAccount) kept.push(keptChild(observedServiceAccount));
  else children.push(
    desiredBuildServiceAccount(model, settings, {
      push: registry.credentials !== undefined || kept.some((child) => child.metadata.name === PUSH_SECRET),
      git: hasGitSecret,
      ...(registry.pullSecret ? { pull: registry.pullSecret } : {}),
    }),
  );

  // Which branches are built: every environment's, then live previews.
  const environmentBranches = new Map(spec.environments.map((environment) => [environment.name, environment.branch ?? spec.repository.branch]));
  const environmentBranchSet = new Set(environmentBranches.values());

  // What the git poller saw, and whether it may remove anything: an observation that cannot be
  // told from an outage (no branch at all, or every running branch gone at once) keeps what runs.
  const refs = observedRefs(parent);
  const pollFailure = pollError(parent);
  const verdict = judgeHeads(refs, environmentBranchSet, runningBranches(request.children));
  if (refs.state === 'invalid') conditions.set('RepositoryAccessible', 'False', 'InvalidObservedRefs', refs.message);
  if (pollFailure) {
    const keeping = verdict.state === 'distrusted' ? `; ${verdict.message}` : '';
    conditions.set('RepositoryAccessible', 'False', pollFailure.reason, `git poll failed: ${pollFailure.message}${keeping}`);
  }
  if (verdict.state === 'distrusted') conditions.set('RepositoryAccessible', 'False', verdict.reason, verdict.message);
  if (refs.state === 'none') conditions.set('RepositoryAccessible', 'Unknown', 'NotPolledYet', 'the repository has not been polled yet');
  // A missing environment branch is not a licence to delete its workload: it keeps what it runs.
  const missingBranches = verdict.state === 'trusted' ? verdict.missing : [];
  if (missingBranches.length > 0) conditions.set('RepositoryAccessible', 'False', 'BranchNotFound', missingBranchMessage(spec, missingBranches));
  conditions.set('RepositoryAccessible', 'True', 'Polled', 'branch heads are observed');
  const heads = verdict.state === 'trusted' ? verdict.heads : undefined;
  const observedEnvironments = observedByName(request, 'Environment', API_VERSION);
  const domain = allocateDomain(request, model, conditions);

  const wildcard = wildcardTls(request, model, domain, settings);
  if (wildcard.child) children.push(wildcard.child);
  // Not issued yet, or not readable this time: keep the copy that serves. A pool that left
  // wildcard mode is a change of intent, and the copy goes.
  else if (wildcard.enabled) kept.push(...keptOfType(request, 'Secret', 'v1', new Set([WILDCARD_SECRET])));

  const previewPlan = planPreviews(request, spec, heads, environmentBranchSet, observedEnvironments, now, wildcard.enabled ? 61 - spec.domain.subdomain.length : 63);
  if (!spec.previewEnvironments?.enabled) {
    // No previews, no condition about them.
  } else if (previewPlan.leftOut.length > 0) {
    conditions.set('PreviewsLimited', 'True', 'MaxActiveReached', `maxActive ${spec.previewEnvironments.maxActive} reached; no preview for ${bounded(previewPlan.leftOut)}`);
  } else {
    conditions.set('PreviewsLimited', 'False', 'WithinLimit', 'every matching branch has a preview');
  }

  const trackedBranches = [...new Set([...environmentBranchSet, ...previewPlan.live.map((preview) => preview.branch)])].sort();
  const fresh: BuildRecord[] = [];
  const failures: string[] = [];
  const running: string[] = [];
  if (heads && registry.repository) {
    for (const branch of trackedBranches) {
      const commit = heads.get(branch);
      if (!commit) {
        // Only an environment branch can be tracked without a head: keep what was built from it.
        kept.push(...observedBuildChildren(request.children, branch).map(keptChild));
        continue;
      }
      const target: BuildTarget = { project: name, namespace, branch, commit, repository: registry.repository };
      children.push(
        spec.build.strategy === 'buildpacks'
          ? desiredKpackImage(target, spec, spec.repository.url, settings)
          : desiredBuildJob(target, spec, spec.repository.url, settings, { gitCredentials: hasGitSecret }),
      );
      const state = observedBuild(request.children, spec.build.strategy, target);
      if (state?.state === 'succeeded') fresh.push({ branch, commit, image: state.image });
      else if (state?.state === 'failed') failures.push(`${branch}@${commit.slice(0, 7)}: ${state.message}`);
      else running.push(branch);
    }
  } else {
    kept.push(...keptOfType(request, 'Image', 'kpack.io/v1alpha2'), ...keptOfType(request, 'Job', 'batch/v1'));
  }
  // The history serves promotions, so it keeps builds of environment branches only: fifty
  // previews must not push out the release build a production environment is promoted to.
  const onEnvironmentBranch = (record: BuildRecord) => environmentBranchSet.has(record.branch);
  const history = mergeBuildHistory(fresh.filter(onEnvironmentBranch), previousBuilds(parent).filter(onEnvironmentBranch));
  const promotionProblems = spec.environments.flatMap((environment) =>
    environment.revision !== undefined && !findBuild(history, environment.revision)
      ? [`${environment.name}: revision ${environment.revision} was never built; it keeps what it runs`]
      : [],
  );
  if (failures.length > 0) conditions.set('BuildSucceeded', 'False', 'BuildFailed', bounded(failures));
  if (promotionProblems.length > 0) conditions.set('BuildSucceeded', 'False', 'RevisionNotBuilt', bounded(promotionProblems));
  if (running.length > 0) conditions.set('BuildSucceeded', 'Unknown', 'Building', `building ${bounded(running)}`);
  else if (verdict.state === 'distrusted') conditions.set('BuildSucceeded', 'Unknown', 'NoCommits', 'no usable branch heads in the last poll; builds are kept as they are');
  else if (!heads) conditions.set('BuildSucceeded', 'Unknown', 'NoCommits', 'no branch heads observed yet; nothing is built');
  else conditions.set('BuildSucceeded', 'True', 'Succeeded', 'the newest commit of every tracked branch is built');

  // Environments.
  const environmentDefaults = { ingressClass: settings.ingressClass, progressDeadlineSeconds: settings.rolloutTimeoutSeconds };
  const environmentStatus: Array<Record<string, unknown>> = [];
  const primary = primaryEnvironment(spec);
  const builtFor = (branch: string, commit: string | undefined) =>
    commit === undefined
      ? undefined
      : [...fresh, ...history].find((record) => record.branch === branch && record.commit === commit);
  if (domain.keepEnvironments) {
    kept.push(...keptOfType(request, 'Environment', API_VERSION));
  } else {
    for (const environment of spec.environments) {
      const branch = environmentBranches.get(environment.name) ?? spec.repository.branch;
      const observed = observedEnvironments.get(environment.name);
      const current = currentRelease(observed);
      const head = heads?.get(branch);
      const headBuild = builtFor(branch, head);
      let release: { image: string; commit: string | undefined } | undefined;
      if (environment.revision !== undefined) {
        release = findBuild(history, environment.revision) ?? current;
      } else if (environment.autoSync) {
        release = headBuild ?? current;
      } else {
        // Without autoSync an environment stays where it is; only its very first deploy follows the head.
        release = current ?? headBuild;
      }
      const plan: EnvironmentPlan = {
        name: environment.name,
        type: 'standard',
        branch,
        image: release?.image ?? '',
        commit: release?.commit ?? head,
        runtime: mergedRuntime(spec.runtime, environment.runtime),
        host: domain.host === undefined ? undefined : environment.name === primary ? domain.host : `${environment.name}.${domain.host}`,
        tls: domain.pool ? { secretName: `${environment.name}-tls`, managed: true, issuerRef: domain.pool.certManager.issuerRef } : undefined,
        pullSecret: registry.pullSecret ?? (registry.credentials ? PUSH_SECRET : pullSecretOf(observed)),
      };
      if (environment.env) plan.env = environment.env;
      if (environment.configRefs) plan.configRefs = environment.configRefs;
      if (environment.secretRefs) plan.secretRefs = environment.secretRefs;
      children.push(desiredEnvironment(model, plan, environmentDefaults));
      const observedState = environmentReady(observed);
      const entry: Record<string, unknown> = { name: environment.name, type: 'standard', branch };
      if (plan.commit) entry.commit = plan.commit;
      if (plan.image) entry.image = plan.image;
      const url = servedUrl(observedState.url, plan.host);
      if (url) entry.url = url;
      entry.ready = observedState.ready;
      if (observedState.phase) entry.phase = observedState.phase;
      environmentStatus.push(entry);
    }
  }

  // Previews.
  const previewStatus: Array<Record<string, unknown>> = [];
  if (previewPlan.keep || domain.keepEnvironments) {
    kept.push(...previewPlan.keptObjects);
  } else {
    for (const preview of previewPlan.live) {
      const observed = observedEnvironments.get(preview.objectName);
      const head = heads?.get(preview.branch);
      const release = builtFor(preview.branch, head) ?? currentRelease(observed);
      const previewSettings = spec.previewEnvironments;
      const plan: EnvironmentPlan = {
        name: preview.objectName,
        type: 'preview',
        branch: preview.branch,
        image: release?.image ?? '',
        commit: release?.commit ?? head,
        runtime: mergedRuntime(spec.runtime, previewSettings?.runtime),
        // Wildcard pools give previews flat hosts under the pool's `*.<base>` certificate.
        host: domain.host === undefined ? undefined : wildcard.enabled ? `${preview.label}--${domain.host}` : `${preview.label}.${domain.host}`,
        tls: !domain.pool
          ? undefined
          : wildcard.enabled
            ? { secretName: WILDCARD_SECRET, managed: false }
            : { secretName: `${preview.objectName}-tls`, managed: true, issuerRef: domain.pool.certManager.issuerRef },
        pullSecret: registry.pullSecret ?? (registry.credentials ? PUSH_SECRET : pullSecretOf(observed)),
      };
      children.push(desiredEnvironment(model, plan, environmentDefaults));
      const observedState = environmentReady(observed);
      const entry: Record<string, unknown> = { branch: preview.branch, name: preview.objectName };
      if (plan.commit) entry.commit = plan.commit;
      const url = servedUrl(observedState.url, plan.host);
      if (url) entry.url = url;
      entry.ready = observedState.ready;
      const expiry = expiresAt(observed, previewPlan.ttl);
      if (expiry) entry.expiresAt = formatTime(expiry);
      previewStatus.push(entry);
    }
  }

  // Ready: the app serves where the status says it does. Without the hostname (reserved, claimed
  // by an older Project, no pool) there is no Ingress to reach it, however healthy its pods are.
  const notReady = environmentStatus.filter((entry) => entry.ready !== true).map((entry) => String(entry.name));
  const allocated = conditions.get('DomainAllocated');
  if (allocated?.status !== 'True') {
    conditions.set('Ready', 'False', allocated?.reason ?? 'DomainNotAllocated', allocated?.message ?? 'no domain allocated');
  } else if (notReady.length > 0) conditions.set('Ready', 'False', 'EnvironmentsNotReady', `not ready: ${notReady.join(', ')}`);
  else conditions.set('Ready', 'True', 'Ready', 'every environment is serving');

  const defaultHead = heads?.get(spec.repository.branch);
  const latestImage = history.find((record) => record.branch === spec.repository.branch)?.image;
  const fields: Record<string, unknown> = {
    phase: phaseOf(conditions, failures.length > 0, running.length > 0),
    namespace,
  };
  if (domain.baseDomain) fields.domain = { baseDomain: domain.baseDomain, ...(domain.host ? { host: domain.host } : {}) };
  // A default branch missing from the poll (or no usable poll) keeps the last commit seen on it, like its workload.
  const latestCommit = defaultHead ?? statusOf(parent).latestCommit;
  if (typeof latestCommit === 'string') fields.latestCommit = latestCommit;
  if (latestImage) fields.latestImage = latestImage;
  const primaryUrl = environmentStatus.find((entry) => entry.name === primary)?.url;
  const urls = environmentStatus.flatMap((entry) => (typeof entry.url === 'string' && entry.url !== primaryUrl ? [entry.url] : [])).sort();
  fields.urls = typeof primaryUrl === 'string' ? [primaryUrl, ...urls] : urls;
  fields.environments = domain.keepEnvironments ? (carriedStatus(parent).environments ?? []) : environmentStatus;
  if (spec.previewEnvironments?.enabled) {
    fields.previews = previewPlan.keep || domain.keepEnvironments ? (carriedStatus(parent).previews ?? []) : previewStatus;
    fields.expiredPreviews = previewPlan.expired;
  }
  fields.builds = history;
  if (webhook) fields.webhook = webhook.status;
  return finish(request, context, conditions, withKept(children, kept), fields, previewPlan.resyncAfterSeconds);
}

/**
 * The URL an Environment reports, if it is at the host this sync gives it: an Environment still
 * showing a hostname the Project no longer holds (reserved, claimed by an older Project, changed)
 * is not advertised in the Project status.
 */
function servedUrl(url: string | undefined, host: string | undefined): string | undefined {
  if (url === undefined || host === undefined) return undefined;
  try {
    return new URL(url).hostname === host ? url : undefined;
  } catch {
    return undefined;
  }
}

/** Which environments a missing branch leaves without new commits, and that they keep running. */
function missingBranchMessage(spec: ProjectSpec, missing: readonly string[]): string {
  const items = missing.map((branch) => {
    const environments = spec.environments.filter((environment) => (environment.branch ?? spec.repository.branch) === branch).map((environment) => environment.name);
    const role = branch === spec.repository.branch ? 'spec.repository.branch, ' : '';
    return `${JSON.stringify(branch)} (${role}${environments.length === 1 ? 'environment' : 'environments'} ${environments.join(', ')})`;
  });
  const subject = missing.length === 1 ? 'branch' : 'branches';
  return `${subject} not in the repository: ${bounded(items)}; the environments keep what they run, and their builds are kept`;
}

/** Condition messages name what they are about, within a size that keeps status small. */
function bounded(items: readonly string[], limit = 10): string {
  const shown = items.slice(0, limit).map((item) => (item.length > 100 ? `${item.slice(0, 97)}...` : item));
  return items.length > limit ? `${shown.join('; ')}; and ${items.length - limit} more` : shown.join('; ');
}

function phaseOf(conditions: ConditionSet, failed: boolean, building: boolean): string {
  if (conditions.get('Ready')?.status === 'True') return 'Ready';
  if (failed) return 'Failed';
  if (building) return 'Building';
  return 'Pending';
}

export const WILDCARD_SECRET = 'kapsa-wildcard-tls';

/**
 * In a wildcard pool, the pool's `*.<base>` certificate Secret (made by cert-manager in Kapsa's
 * namespace, found by the label its Certificate puts on it) is copied into the project namespace.
 */
function wildcardTls(
  request: CompositeSyncRequest,
  model: ProjectModel,
  domain: DomainOutcome,
  settings: ProjectSettings,
): { enabled: boolean; child?: KubeObject } {
  if (!domain.pool?.wildcard?.enabled || !domain.baseDomain) return { enabled: false };
  const poolName = model.spec.domain.domainPoolRef.name;
  const source = objectsOfType<Secret>(request.related, 'Secret', 'v1').find(
    (secret) =>
      secret.metadata.namespace === settings.kapsaNamespace &&
      secret.metadata.labels?.[LABEL_WILDCARD_POOL] === poolName &&
      secret.metadata.annotations?.[ANNOTATION_WILDCARD_BASE] === domain.baseDomain,
  );
  const data = source?.data ?? {};
  if (!source || data['tls.crt'] === undefined || data['tls.key'] === undefined) return { enabled: true };
  const copied: Record<string, string> = { 'tls.crt': data['tls.crt'], 'tls.key': data['tls.key'] };
  if (data['ca.crt'] !== undefined) copied['ca.crt'] = data['ca.crt'];
  return {
    enabled: true,
    child: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: WILDCARD_SECRET, namespace: model.namespace, labels: { ...baseLabels(model.name), [LABEL_COMPONENT]: 'wildcard-tls' } },
      type: 'kubernetes.io/tls',
      data: copied,
    },
  };
}

interface PreviewPlan {
  live: Array<{ branch: string; objectName: string; label: string }>;
  leftOut: string[];
  expired: ExpiredPreview[];
  ttl: number;
  /** No refs to decide with: keep the observed previews as they are. */
  keep: boolean;
  keptObjects: KubeObject[];
  resyncAfterSeconds?: number;
}

function planPreviews(
  request: CompositeSyncRequest,
  spec: ProjectSpec,
  heads: ReadonlyMap<string, string> | undefined,
  environmentBranches: ReadonlySet<string>,
  observedEnvironments: ReadonlyMap<string, KubeObject>,
  now: Date,
  maxLabel: number,
): PreviewPlan {
  const ttl = ttlSeconds(spec);
  const observedPreviews = [...observedEnvironments.values()].filter((object) => isRecord(object.spec) && object.spec.type === 'preview');
  if (!spec.previewEnvironments?.enabled) {
    return { live: [], leftOut: [], expired: [], ttl, keep: false, keptObjects: [] };
  }
  if (!heads) {
    // Their builds are kept with every other build when there are no heads.
    const names = new Set(observedPreviews.map((object) => object.metadata.name ?? ''));
    return {
      live: [],
      leftOut: [],
      expired: previousExpired(request.parent),
      ttl,
      keep: true,
      keptObjects: keptOfType(request, 'Environment', API_VERSION, names),
    };
  }
  const taken = new Set(spec.environments.map((environment) => environment.name));
  const previous = previousExpired(request.parent);
  const runningButExpired = previouslyRunningExpired(request.parent, now);
  const expired: ExpiredPreview[] = [];
  const candidates: Array<{ branch: string; objectName: string; label: string; running: boolean }> = [];
  let nextExpiry: number | undefined;
  for (const branch of previewBranches(spec, heads, environmentBranches)) {
    const commit = heads.get(branch) ?? '';
    const name = previewName(branch, taken, maxLabel);
    if (previous.some((record) => record.branch === branch && record.commit === commit)) {
      expired.push({ branch, commit });
      continue;
    }
    const observed = observedEnvironments.get(name.objectName);
    const expiry = expiresAt(observed, ttl);
    const expiredUnseen = !observed && runningButExpired.some((record) => record.branch === branch && record.commit === commit);
    if ((expiry && expiry.getTime() <= now.getTime()) || expiredUnseen) {
      expired.push({ branch, commit });
      continue;
    }
    candidates.push({ ...name, running: observed !== undefined });
  }
  // Running previews keep their place; new branches queue behind them by name.
  const ordered = [...candidates.filter((candidate) => candidate.running), ...candidates.filter((candidate) => !candidate.running)];
  const maxActive = spec.previewEnvironments.maxActive;
  const live = ordered.slice(0, maxActive);
  const leftOut = ordered.slice(maxActive).map((candidate) => candidate.branch).sort();
  for (const preview of live) {
    const expiry = expiresAt(observedEnvironments.get(preview.objectName), ttl);
    if (expiry) {
      const seconds = Math.max(1, Math.ceil((expiry.getTime() - now.getTime()) / 1000));
      nextExpiry = nextExpiry === undefined ? seconds : Math.min(nextExpiry, seconds);
    }
  }
  const plan: PreviewPlan = {
    live: live.map(({ branch, objectName, label }) => ({ branch, objectName, label })),
    leftOut,
    expired: expired.slice(0, EXPIRED_HISTORY_LIMIT),
    ttl,
    keep: false,
    keptObjects: [],
  };
  if (nextExpiry !== undefined) plan.resyncAfterSeconds = nextExpiry;
  return plan;
}


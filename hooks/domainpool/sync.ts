import { nextConditions, type ConditionInput } from '../lib/conditions.ts';
import type { CompositeSyncRequest, CompositeSyncResponse, CustomizeRequest, CustomizeResponse, RelatedResourceRule, SyncContext } from '../lib/hook.ts';
import { keepAll } from '../lib/kept.ts';
import { ANNOTATION_WILDCARD_BASE, API_VERSION, LABEL_COMPONENT, LABEL_DOMAIN_POOL, LABEL_MANAGED_BY, LABEL_WILDCARD_POOL, MANAGED_BY } from '../lib/labels.ts';
import { joinName, shortHash } from '../lib/names.ts';
import { isRecord, objectsOfType, type KubeObject } from '../lib/objects.ts';
import { compileValidator, describeErrors } from '../lib/schema.ts';
import { chooseBaseDomain, claimOwner, previousBaseDomain, subdomainReservation, type Claimant } from '../project/domain.ts';
import { DomainPoolSpec } from './types.ts';

/**
 * The DomainPool status controller: which Project holds which hostname, which claims lose, whether
 * the issuer is ready, and (in wildcard mode) one `*.<base>` Certificate per base domain. Pure.
 */

const specValidator = compileValidator(DomainPoolSpec);

/** Lists in status stay bounded: a pool with 10,000 Projects must stay far from the object size limit. */
export const ALLOCATION_LIST_LIMIT = 500;
export const CONFLICT_LIST_LIMIT = 100;
export const LOSER_LIST_LIMIT = 10;


export interface DomainPoolSettings {
  kapsaNamespace: string;
}

export function wildcardSecretName(pool: string, secretName: string | undefined, base: string): string {
  return joinName([secretName ?? `${pool}-wildcard`, shortHash(base)]);
}

export function customizeDomainPool(request: CustomizeRequest, settings: DomainPoolSettings): CustomizeResponse {
  const pool = request.parent;
  const name = pool.metadata.name ?? '';
  const rules: RelatedResourceRule[] = [];
  if (name !== '') rules.push({ apiVersion: API_VERSION, resource: 'projects', labelSelector: { matchLabels: { [LABEL_DOMAIN_POOL]: name } } });
  const spec = isRecord(pool.spec) ? pool.spec : {};
  const issuers = [
    isRecord(spec.certManager) ? spec.certManager.issuerRef : undefined,
    isRecord(spec.wildcard) ? spec.wildcard.issuerRef : undefined,
  ].filter(isRecord);
  for (const issuer of issuers) {
    if (typeof issuer.name !== 'string' || issuer.name === '') continue;
    if (issuer.kind === 'Issuer') rules.push({ apiVersion: 'cert-manager.io/v1', resource: 'issuers', namespace: settings.kapsaNamespace, names: [issuer.name] });
    else rules.push({ apiVersion: 'cert-manager.io/v1', resource: 'clusterissuers', names: [issuer.name] });
  }
  return { relatedResources: rules };
}

function issuerCondition(request: CompositeSyncRequest, ref: { name: string; kind: string }, type: string, settings: DomainPoolSettings): ConditionInput {
  const kind = ref.kind === 'Issuer' ? 'Issuer' : 'ClusterIssuer';
  const issuer = objectsOfType(request.related, kind, 'cert-manager.io/v1').find(
    (object) => object.metadata.name === ref.name && (kind === 'ClusterIssuer' || object.metadata.namespace === settings.kapsaNamespace),
  );
  if (!issuer) return { type, status: 'False', reason: 'IssuerNotFound', message: `${kind} ${ref.name} does not exist` };
  const status = isRecord(issuer.status) ? issuer.status : {};
  const ready = Array.isArray(status.conditions) ? status.conditions.find((item) => isRecord(item) && item.type === 'Ready') : undefined;
  if (isRecord(ready) && ready.status === 'True') return { type, status: 'True', reason: 'IssuerReady', message: `${kind} ${ref.name} is ready` };
  const detail = isRecord(ready) && typeof ready.reason === 'string' ? ` (${ready.reason.slice(0, 64)})` : '';
  return { type, status: 'False', reason: 'IssuerNotReady', message: `${kind} ${ref.name} is not ready${detail}` };
}

interface Allocation {
  subdomain: string;
  baseDomain: string;
  host: string;
  claimant: Claimant;
}

export function syncDomainPool(request: CompositeSyncRequest, context: SyncContext & { settings: DomainPoolSettings }): CompositeSyncResponse {
  const parent = request.parent;
  const name = parent.metadata.name ?? '';
  const generation = parent.metadata.generation;
  const previous = isRecord(parent.status) ? parent.status : {};
  const finish = (conditions: ConditionInput[], children: KubeObject[], fields: Record<string, unknown>): CompositeSyncResponse => {
    const status: Record<string, unknown> = {};
    if (generation !== undefined) status.observedGeneration = generation;
    Object.assign(status, fields);
    status.conditions = nextConditions(Array.isArray(previous.conditions) ? previous.conditions : undefined, conditions, context.now, generation);
    return { status, children };
  };

  const parsed = specValidator.parse(parent.spec, 'spec');
  if (!parsed.ok) {
    const message = describeErrors(parsed.errors);
    return finish([{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message }], keepAll(request.children), {});
  }
  const spec = parsed.value;

  const allocations: Allocation[] = [];
  const reserved: Array<{ project: string; subdomain: string }> = [];
  let members = 0;
  for (const project of objectsOfType(request.related, 'Project', API_VERSION)) {
    if (project.metadata.deletionTimestamp) continue;
    const projectSpec = isRecord(project.spec) ? project.spec : {};
    const domain = isRecord(projectSpec.domain) ? projectSpec.domain : {};
    const ref = isRecord(domain.domainPoolRef) ? domain.domainPoolRef : {};
    if (ref.name !== name || typeof domain.subdomain !== 'string') continue;
    members += 1;
    const projectName = project.metadata.name ?? '';
    if (subdomainReservation(domain.subdomain, spec)) {
      reserved.push({ project: projectName, subdomain: domain.subdomain });
      continue;
    }
    const request = { domain: { subdomain: domain.subdomain, domainPoolRef: { name }, ...(typeof domain.baseDomain === 'string' ? { baseDomain: domain.baseDomain } : {}) } };
    const base = chooseBaseDomain(projectName, request, spec, previousBaseDomain(project));
    if (!base.ok) continue;
    allocations.push({
      subdomain: domain.subdomain,
      baseDomain: base.baseDomain,
      host: `${domain.subdomain}.${base.baseDomain}`,
      claimant: { name: projectName, creationTimestamp: project.metadata.creationTimestamp ?? '' },
    });
  }

  const byHost = new Map<string, Allocation[]>();
  for (const allocation of allocations) byHost.set(allocation.host, [...(byHost.get(allocation.host) ?? []), allocation]);
  const granted: Array<{ subdomain: string; baseDomain: string; project: string }> = [];
  const conflicts: Array<{ host: string; winner: string; losers: string[]; losersTotal?: number }> = [];
  for (const host of [...byHost.keys()].sort()) {
    const claims = byHost.get(host) ?? [];
    const owner = claimOwner(claims.map((claim) => claim.claimant));
    const winner = claims.find((claim) => claim.claimant.name === owner?.name);
    if (!winner) continue;
    granted.push({ subdomain: winner.subdomain, baseDomain: winner.baseDomain, project: winner.claimant.name });
    if (claims.length > 1) {
      const losers = claims.map((claim) => claim.claimant.name).filter((project) => project !== winner.claimant.name).sort();
      const entry: { host: string; winner: string; losers: string[]; losersTotal?: number } = { host, winner: winner.claimant.name, losers: losers.slice(0, LOSER_LIST_LIMIT) };
      if (losers.length > LOSER_LIST_LIMIT) entry.losersTotal = losers.length;
      conflicts.push(entry);
    }
  }

  const conditions: ConditionInput[] = [];
  const issuer = issuerCondition(request, spec.certManager.issuerRef, 'IssuerReady', context.settings);
  const children: KubeObject[] = [];
  let wildcard: ConditionInput | undefined;
  if (spec.wildcard?.enabled) {
    const wildcardIssuer = spec.wildcard.issuerRef ?? spec.certManager.issuerRef;
    wildcard = issuerCondition(request, wildcardIssuer, 'WildcardReady', context.settings);
    for (const base of [...spec.baseDomains].sort()) {
      const secretName = wildcardSecretName(name, spec.wildcard.secretName, base);
      children.push({
        apiVersion: 'cert-manager.io/v1',
        kind: 'Certificate',
        metadata: { name: secretName, namespace: context.settings.kapsaNamespace, labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_DOMAIN_POOL]: name, [LABEL_COMPONENT]: 'wildcard-certificate' } },
        spec: {
          secretName,
          dnsNames: [`*.${base}`],
          issuerRef: { name: wildcardIssuer.name, kind: wildcardIssuer.kind, group: wildcardIssuer.group },
          secretTemplate: { labels: { [LABEL_WILDCARD_POOL]: name }, annotations: { [ANNOTATION_WILDCARD_BASE]: base } },
        },
      });
    }
    const certificates = objectsOfType(request.children, 'Certificate', 'cert-manager.io/v1');
    const pending = children.filter((child) => {
      const observed = certificates.find((certificate) => certificate.metadata.name === child.metadata.name);
      const status = observed && isRecord(observed.status) ? observed.status : {};
      return !(Array.isArray(status.conditions) && status.conditions.some((item) => isRecord(item) && item.type === 'Ready' && item.status === 'True'));
    });
    if (wildcard.status === 'True' && pending.length > 0) {
      wildcard = { type: 'WildcardReady', status: 'False', reason: 'Issuing', message: `waiting for ${pending.map((child) => child.metadata.name).join(', ')}` };
    } else if (wildcard.status === 'True') {
      wildcard = { type: 'WildcardReady', status: 'True', reason: 'Issued', message: 'every wildcard certificate is issued' };
    }
  }
  const ready: ConditionInput =
    issuer.status !== 'True'
      ? { type: 'Ready', status: 'False', reason: issuer.reason, message: issuer.message }
      : wildcard && wildcard.status !== 'True'
        ? { type: 'Ready', status: 'False', reason: wildcard.reason, message: wildcard.message }
        : { type: 'Ready', status: 'True', reason: 'Ready', message: `${granted.length} hostname${granted.length === 1 ? '' : 's'} allocated` };
  conditions.push(ready, issuer);
  if (wildcard) conditions.push(wildcard);

  const fields: Record<string, unknown> = {
    counts: { projects: members, allocations: granted.length, conflicts: conflicts.length, reserved: reserved.length },
    allocations: granted.slice(0, ALLOCATION_LIST_LIMIT),
    conflicts: conflicts.slice(0, CONFLICT_LIST_LIMIT),
  };
  if (reserved.length > 0) fields.refused = reserved.sort((a, b) => (a.project < b.project ? -1 : 1)).slice(0, CONFLICT_LIST_LIMIT);
  if (granted.length > ALLOCATION_LIST_LIMIT || conflicts.length > CONFLICT_LIST_LIMIT) fields.truncated = true;
  return finish(conditions, children, fields);
}


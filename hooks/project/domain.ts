import { createHash } from 'node:crypto';
import type { DomainPoolSpec } from '../domainpool/types.ts';
import { isRecord, type KubeObject } from '../lib/objects.ts';
import type { ProjectSpec } from './types.ts';

/**
 * Hostname allocation. A Project claims `<subdomain>.<base>` in a DomainPool; the oldest claim
 * (creationTimestamp, then name) owns it, and a later claimant is refused until the owner goes.
 */

/** The value of the claim label: equal exactly for Projects that claim the same subdomain in the same pool. */
export function claimLabelValue(subdomain: string, pool: string): string {
  return createHash('sha256').update(`${subdomain}.${pool}`).digest('hex').slice(0, 32);
}

function stableIndex(key: string, size: number): number {
  const digest = createHash('sha256').update(key).digest();
  return digest.readUInt32BE(0) % size;
}

export type BaseDomainChoice = { ok: true; baseDomain: string } | { ok: false; reason: string; message: string };

/**
 * The base domain of a Project: the one it names, else the one it was given before (a Project
 * never moves while its base stays in the pool), else a stable spread by a hash of its name.
 */
export function chooseBaseDomain(projectName: string, spec: Pick<ProjectSpec, 'domain'>, pool: DomainPoolSpec, previous: string | undefined): BaseDomainChoice {
  const bases = [...pool.baseDomains].sort();
  const named = spec.domain.baseDomain;
  if (named !== undefined) {
    if (!bases.includes(named)) {
      return { ok: false, reason: 'BaseDomainNotInPool', message: `spec.domain.baseDomain ${named} is not one of the pool's base domains (${bases.join(', ')})` };
    }
    return { ok: true, baseDomain: named };
  }
  if (previous !== undefined && bases.includes(previous)) return { ok: true, baseDomain: previous };
  const chosen = bases[stableIndex(projectName, bases.length)];
  if (chosen === undefined) return { ok: false, reason: 'NoBaseDomain', message: 'the DomainPool has no base domains' };
  return { ok: true, baseDomain: chosen };
}

/** The base domain a Project's previous sync allocated, read from its status. */
export function previousBaseDomain(project: KubeObject): string | undefined {
  const status = project.status;
  if (!isRecord(status) || !isRecord(status.domain)) return undefined;
  return typeof status.domain.baseDomain === 'string' ? status.domain.baseDomain : undefined;
}

export interface Claimant {
  name: string;
  creationTimestamp: string;
}

/** Orders claims: the oldest first, then by name. Timestamps are RFC 3339 in UTC, so text order is time order. */
export function compareClaims(a: Claimant, b: Claimant): number {
  if (a.creationTimestamp !== b.creationTimestamp) {
    if (a.creationTimestamp === '') return 1;
    if (b.creationTimestamp === '') return -1;
    return a.creationTimestamp < b.creationTimestamp ? -1 : 1;
  }
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function claimOwner(claimants: readonly Claimant[]): Claimant | undefined {
  return [...claimants].sort(compareClaims)[0];
}

/** Reserved subdomains: the pool's list plus names that would shadow infrastructure. */
export function subdomainReservation(subdomain: string, pool: DomainPoolSpec): string | undefined {
  if (pool.allocationPolicy.reservedSubdomains.includes(subdomain)) return `subdomain ${subdomain} is reserved by the DomainPool`;
  if (pool.wildcard?.enabled && subdomain.includes('--')) {
    return `subdomain ${subdomain} contains "--", which wildcard previews use as a separator`;
  }
  return undefined;
}

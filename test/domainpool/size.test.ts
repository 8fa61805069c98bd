import { describe, expect, it } from 'vitest';
import { syncDomainPool, ALLOCATION_LIST_LIMIT } from '../../hooks/domainpool/sync.ts';
import type { KubeObject } from '../../hooks/lib/objects.ts';

function project(index: number, subdomain: string): KubeObject {
  return {
    apiVersion: 'kapsa-project.io/v1alpha1',
    kind: 'Project',
    metadata: { name: `project-${index}`, creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, index % 86400)).toISOString().replace('.000', '') },
    spec: { domain: { subdomain, domainPoolRef: { name: 'apps' } } },
  };
}

describe('DomainPool status size', () => {
  it('stays far below the object size limit with 10,000 Projects, keeping the counts', () => {
    const related: Record<string, KubeObject> = {};
    for (let index = 0; index < 10_000; index += 1) {
      // Every fourth Project fights over one popular subdomain.
      related[`project-${index}`] = project(index, index % 4 === 0 ? 'popular' : `app-${index}`);
    }
    const reply = syncDomainPool(
      {
        parent: {
          apiVersion: 'kapsa-project.io/v1alpha1',
          kind: 'DomainPool',
          metadata: { name: 'apps', generation: 1 },
          spec: { baseDomains: ['apps.example.com'], certManager: { issuerRef: { name: 'letsencrypt' } } },
        },
        children: {},
        related: { 'Project.kapsa-project.io/v1alpha1': related },
      },
      { now: new Date('2026-11-26T12:00:00Z'), settings: { kapsaNamespace: 'kapsa-system' } },
    );
    const status = reply.status as { counts: Record<string, number>; allocations: unknown[]; conflicts: Array<{ losers: unknown[]; losersTotal?: number }>; truncated?: boolean };
    expect(status.counts).toEqual({ projects: 10_000, allocations: 7_501, conflicts: 1, reserved: 0 });
    expect(status.allocations).toHaveLength(ALLOCATION_LIST_LIMIT);
    expect(status.truncated).toBe(true);
    expect(status.conflicts[0]?.losers).toHaveLength(10);
    expect(status.conflicts[0]?.losersTotal).toBe(2_499);
    // The API server refuses objects over ~1.5 MiB; stay an order of magnitude below.
    expect(JSON.stringify(reply.status).length).toBeLessThan(150_000);
  });
});

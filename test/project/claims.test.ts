/**
 * The claim decorator's repository label: how a push webhook finds the Projects of a repository
 * without listing every Project. Through the HTTP route as Metacontroller calls it, and the label
 * values a tenant can force with a hostile URL.
 */
import { describe, expect, it } from 'vitest';
import type { DecoratorSyncRequest } from '../../hooks/lib/hook.ts';
import type { KubeObject } from '../../hooks/lib/objects.ts';
import { LABEL_REPOSITORY, repositoryHash } from '../../hooks/lib/repository-identity.ts';
import { syncProjectClaims } from '../../hooks/project/customize.ts';
import { testApp } from '../support/app.ts';

function project(spec: unknown): KubeObject {
  return {
    apiVersion: 'kapsa-project.io/v1alpha1',
    kind: 'Project',
    metadata: { name: 'shop', uid: '5d3c7f0e-1b2a-4c8d-9e6f-0a1b2c3d4e5f', creationTimestamp: '2026-11-01T00:00:00Z', generation: 3 },
    spec,
  } as KubeObject;
}

function request(object: KubeObject): DecoratorSyncRequest {
  return { controller: { metadata: { name: 'kapsa-project-claims' } }, object, attachments: {}, related: {}, finalizing: false };
}

const labelFor = (spec: unknown) => syncProjectClaims(request(project(spec))).labels?.[LABEL_REPOSITORY];

describe('the repository label of the claim decorator', () => {
  it('labels a Project with the hash of its normalised repository URL, the same for every spelling', () => {
    const value = labelFor({ repository: { url: 'https://github.com/acme/shop.git' } });
    expect(value).toBe(repositoryHash('https://github.com/acme/shop'));
    expect(value).toMatch(/^[0-9a-f]{32}$/);
    for (const url of ['https://GitHub.com/Acme/Shop', 'https://github.com:443/acme/shop/', 'https://github.com/acme/shop.git/']) {
      expect(labelFor({ repository: { url } }), url).toBe(value);
    }
    expect(labelFor({ repository: { url: 'https://github.com/acme/blog.git' } })).not.toBe(value);
  });

  it('removes the label (null) when there is no valid URL, whatever the spec holds', () => {
    for (const spec of [
      {},
      { repository: {} },
      { repository: { url: '' } },
      { repository: { url: 42 } },
      { repository: { url: ['https://github.com/acme/shop'] } },
      { repository: { url: 'git@github.com:acme/shop.git' } },
      { repository: { url: 'file:///etc/passwd' } },
      { repository: { url: 'not a url' } },
      { repository: 'https://github.com/acme/shop' },
      null,
    ]) {
      expect(labelFor(spec), JSON.stringify(spec)).toBeNull();
    }
  });

  it('a hostile URL still gives a valid label value (never the URL itself)', () => {
    for (const url of [`https://example.com/${'a'.repeat(10_000)}`, 'https://example.com/ünïcödé/..%2F..', 'https://user:secret@example.com/x.git?token=t#frag']) {
      const value = labelFor({ repository: { url } });
      expect(value, url).toMatch(/^[0-9a-f]{32}$/);
    }
    // Credentials, query and fragment take no part: the receiver finds the Project from the forge's URL.
    expect(labelFor({ repository: { url: 'https://user:secret@example.com/x.git?token=t#frag' } })).toBe(repositoryHash('https://example.com/x'));
  });

  it('answers through POST /hooks/project-claims/sync with the three labels and nothing else', async () => {
    const { app } = testApp();
    try {
      const response = await app.inject({
        method: 'POST',
        url: '/hooks/project-claims/sync',
        payload: request(project({ repository: { url: 'https://git.example.com/acme/shop.git' }, domain: { subdomain: 'shop', domainPoolRef: { name: 'apps' } } })),
      });
      expect(response.statusCode).toBe(200);
      const body = response.json<{ labels: Record<string, string | null> }>();
      expect(Object.keys(body).sort()).toEqual(['labels']);
      expect(body.labels).toEqual({
        'kapsa-project.io/domain-claim': expect.stringMatching(/^[0-9a-f]+$/) as unknown,
        'kapsa-project.io/domain-pool': 'apps',
        [LABEL_REPOSITORY]: repositoryHash('https://git.example.com/acme/shop'),
      });
      const without = await app.inject({ method: 'POST', url: '/hooks/project-claims/sync', payload: request(project({ domain: { subdomain: 'shop' } })) });
      expect(without.json<{ labels: Record<string, string | null> }>().labels[LABEL_REPOSITORY]).toBeNull();
    } finally {
      await app.close();
    }
  });
});

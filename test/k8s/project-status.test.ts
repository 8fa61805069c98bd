import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from './client.ts';
import { applyStrict, kubeClient, refusal } from './support.ts';

/** status.webhook has a schema in the Project CRD; every other status field stays as the hook writes it. */

let client: KubeClient;
beforeAll(() => {
  client = kubeClient();
});
afterAll(() => client.close());

const project: KubeObject = {
  apiVersion: 'kapsa-project.io/v1alpha1',
  kind: 'Project',
  metadata: { name: 'webhook-status' },
  spec: {
    repository: { url: 'https://git.example.com/acme/shop.git' },
    registry: { name: 'main' },
    domain: { subdomain: 'shop', domainPoolRef: { name: 'apps' } },
    environments: [{ name: 'dev' }],
  },
};

describe('Project status.webhook on the API server', () => {
  it('stores the webhook status next to the preserved fields and refuses a malformed one', async () => {
    await applyStrict(client, project);
    const path = `${await client.objectPath({ apiVersion: project.apiVersion, kind: 'Project', name: 'webhook-status' })}/status`;
    const patch = (status: unknown) => client.request('PATCH', path, { status }, 'application/merge-patch+json');

    const stored = (await patch({
      phase: 'Pending',
      builds: [],
      webhook: { url: 'https://kapsa.example.com/receivers/projects/webhook-status', secretName: 'kapsa-webhook' },
    })) as KubeObject;
    expect(stored.status).toEqual({
      phase: 'Pending',
      builds: [],
      webhook: { url: 'https://kapsa.example.com/receivers/projects/webhook-status', secretName: 'kapsa-webhook' },
    });

    expect(await refusal(patch({ webhook: { url: 42, secretName: 'kapsa-webhook' } }))).toMatch(/status\.webhook\.url/);
    expect(await refusal(patch({ webhook: { url: 'https://kapsa.example.com/x', secretName: null } }))).toMatch(/status\.webhook\.secretName/);
    expect(await refusal(patch({ webhook: { secretName: 'x'.repeat(254) } }))).toMatch(/status\.webhook\.secretName/);
  });
});

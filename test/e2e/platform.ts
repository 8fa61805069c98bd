// What a platform admin applies once, for the local cluster and the engine benchmark: a
// ClusterIssuer, a DomainPool, the Registry of the local distribution registry and its push Secret.
import { API_VERSION } from '../../hooks/lib/labels.ts';
import type { KubeObject } from '../k8s/client.ts';
import type { RegistryServer } from '../support/registry-server.ts';
import { KAPSA_NAMESPACE } from './engine.ts';

export function platformObjects(registry: RegistryServer, baseDomain: string): KubeObject[] {
  const user = registry.users[0];
  if (!user) throw new Error('the registry has no user');
  return [
    { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'local-issuer' }, spec: { selfSigned: {} } },
    {
      apiVersion: API_VERSION,
      kind: 'DomainPool',
      metadata: { name: 'apps' },
      spec: { baseDomains: [baseDomain], certManager: { issuerRef: { name: 'local-issuer', kind: 'ClusterIssuer' } }, allocationPolicy: { reservedSubdomains: ['www', 'admin', 'api'] } },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'registry-push', namespace: KAPSA_NAMESPACE, labels: { 'kapsa-project.io/registry': 'main' } },
      type: 'kubernetes.io/basic-auth',
      stringData: { username: user.username, password: user.password },
    },
    {
      apiVersion: API_VERSION,
      kind: 'Registry',
      metadata: { name: 'main' },
      spec: { type: 'generic', endpoint: registry.endpoint, auth: { secretRef: { name: 'registry-push' } }, imagePullSecret: { name: 'kapsa-registry', generatePerNamespace: true } },
    },
  ];
}


import type { CustomizeRequest, CustomizeResponse, DecoratorSyncRequest, DecoratorSyncResponse, RelatedResourceRule } from '../lib/hook.ts';
import { API_VERSION, LABEL_DOMAIN_CLAIM, LABEL_DOMAIN_POOL } from '../lib/labels.ts';
import { isDnsLabel } from '../lib/names.ts';
import { isRecord, type KubeObject } from '../lib/objects.ts';
import { claimLabelValue } from './domain.ts';
import { projectNamespace, type ProjectSettings } from './settings.ts';

/** The label Kapsa's namespace Secrets carry to be readable as push credentials of a Registry. */
export const LABEL_REGISTRY_CREDENTIALS = 'kapsa-project.io/registry';

function stringAt(value: unknown, ...path: string[]): string | undefined {
  let current: unknown = value;
  for (const key of path) {
    if (!isRecord(current)) return undefined;
    current = current[key];
  }
  return typeof current === 'string' && current !== '' ? current : undefined;
}

function domainOf(project: KubeObject): { subdomain: string; pool: string } | undefined {
  const subdomain = stringAt(project.spec, 'domain', 'subdomain');
  const pool = stringAt(project.spec, 'domain', 'domainPoolRef', 'name');
  if (!subdomain || !pool || !isDnsLabel(subdomain)) return undefined;
  return { subdomain, pool };
}

/**
 * The related objects the Project sync needs, and only those: a request must not grow with the
 * number of Projects or Secrets in the cluster. Customize sees only the parent, so the Registry's
 * credential Secret is found by a label (`kapsa-project.io/registry: <registry>`) in Kapsa's namespace.
 */
export function customizeProject(request: CustomizeRequest, settings: ProjectSettings): CustomizeResponse {
  const project = request.parent;
  const name = project.metadata.name ?? '';
  const rules: RelatedResourceRule[] = [];
  const pool = stringAt(project.spec, 'domain', 'domainPoolRef', 'name');
  if (pool) rules.push({ apiVersion: API_VERSION, resource: 'domainpools', names: [pool] });
  const registry = stringAt(project.spec, 'registry', 'name');
  if (registry) {
    rules.push({ apiVersion: API_VERSION, resource: 'registries', names: [registry] });
    rules.push({
      apiVersion: 'v1',
      resource: 'secrets',
      namespace: settings.kapsaNamespace,
      labelSelector: { matchLabels: { [LABEL_REGISTRY_CREDENTIALS]: registry } },
    });
  }
  const gitSecret = stringAt(project.spec, 'repository', 'credentials', 'secretRef', 'name');
  if (gitSecret && name !== '') {
    const namespace = stringAt(project.spec, 'repository', 'credentials', 'secretRef', 'namespace') ?? projectNamespace(name, settings);
    // Only the two namespaces a git Secret may come from are ever asked for.
    if (namespace === projectNamespace(name, settings) || namespace === settings.kapsaNamespace) {
      rules.push({ apiVersion: 'v1', resource: 'secrets', namespace, names: [gitSecret] });
    }
  }
  if (name !== '') rules.push({ apiVersion: 'v1', resource: 'namespaces', names: [projectNamespace(name, settings)] });
  const domain = domainOf(project);
  if (domain) {
    rules.push({
      apiVersion: API_VERSION,
      resource: 'projects',
      labelSelector: { matchLabels: { [LABEL_DOMAIN_CLAIM]: claimLabelValue(domain.subdomain, domain.pool) } },
    });
  }
  return { relatedResources: rules };
}

/**
 * The claim decorator: labels every Project with a hash of the hostname it claims and with its
 * pool, so competitors and pool members are selected by label instead of by listing every Project.
 */
export function syncProjectClaims(request: DecoratorSyncRequest): DecoratorSyncResponse {
  const domain = domainOf(request.object);
  return {
    labels: {
      [LABEL_DOMAIN_CLAIM]: domain ? claimLabelValue(domain.subdomain, domain.pool) : null,
      [LABEL_DOMAIN_POOL]: domain && isDnsLabel(domain.pool) ? domain.pool : null,
    },
  };
}

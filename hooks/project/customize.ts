import type { CustomizeRequest, CustomizeResponse, DecoratorSyncRequest, DecoratorSyncResponse, RelatedResourceRule } from '../lib/hook.ts';
import { API_VERSION, LABEL_DOMAIN_CLAIM, LABEL_DOMAIN_POOL, LABEL_REGISTRY_CREDENTIALS, LABEL_WILDCARD_POOL } from '../lib/labels.ts';
import { isDnsLabel } from '../lib/names.ts';
import { isRecord, objectsOfType, type KubeObject, type ObjectsByType, type Secret } from '../lib/objects.ts';
import { LABEL_REPOSITORY, repositoryHash } from '../lib/repository-identity.ts';
import { chooseGitSecret } from './children.ts';
import { claimLabelValue } from './domain.ts';
import { projectNamespace, type ProjectSettings } from './settings.ts';


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
  if (pool) {
    rules.push({ apiVersion: API_VERSION, resource: 'domainpools', names: [pool] });
    // Only used when the pool is in wildcard mode; customize cannot see the pool to know.
    rules.push({ apiVersion: 'v1', resource: 'secrets', namespace: settings.kapsaNamespace, labelSelector: { matchLabels: { [LABEL_WILDCARD_POOL]: pool } } });
  }
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
  rules.push(...gitSecretRules(project, settings));
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

/** The git credential Secret, asked for only in the two namespaces it may come from. */
export function gitSecretRules(project: KubeObject, settings: ProjectSettings): RelatedResourceRule[] {
  const name = project.metadata.name ?? '';
  const secret = stringAt(project.spec, 'repository', 'credentials', 'secretRef', 'name');
  if (!secret || name === '') return [];
  const namespace = stringAt(project.spec, 'repository', 'credentials', 'secretRef', 'namespace') ?? projectNamespace(name, settings);
  if (namespace !== projectNamespace(name, settings) && namespace !== settings.kapsaNamespace) return [];
  return [{ apiVersion: 'v1', resource: 'secrets', namespace, names: [secret] }];
}

/** Decoded git credentials for the poller, under the same rules as the copy the Project hook makes. */
export function gitCredentials(
  project: KubeObject,
  related: ObjectsByType | undefined,
  settings: ProjectSettings,
): { username: string; password: string } | undefined | { error: string } {
  const name = project.metadata.name ?? '';
  const secretName = stringAt(project.spec, 'repository', 'credentials', 'secretRef', 'name');
  if (!secretName) return undefined;
  const namespace = stringAt(project.spec, 'repository', 'credentials', 'secretRef', 'namespace');
  const choice = chooseGitSecret(
    { name, namespace: projectNamespace(name, settings) },
    { name: secretName, ...(namespace ? { namespace } : {}) },
    objectsOfType<Secret>(related, 'Secret', 'v1'),
    settings,
  );
  if (choice.state === 'none') return undefined;
  if (choice.state === 'refused') return { error: `${choice.reason}: ${choice.message}` };
  const decode = (value: string) => Buffer.from(value, 'base64').toString('utf8');
  return { username: decode(choice.data.username), password: decode(choice.data.password) };
}

/**
 * The claim decorator: labels every Project with a hash of the hostname it claims and with its
 * pool, so competitors and pool members are selected by label instead of by listing every Project;
 * and with a hash of its repository, so a push webhook finds the Projects of a repository the same way.
 */
export function syncProjectClaims(request: DecoratorSyncRequest): DecoratorSyncResponse {
  const domain = domainOf(request.object);
  const url = stringAt(request.object.spec, 'repository', 'url');
  return {
    labels: {
      [LABEL_DOMAIN_CLAIM]: domain ? claimLabelValue(domain.subdomain, domain.pool) : null,
      [LABEL_DOMAIN_POOL]: domain && isDnsLabel(domain.pool) ? domain.pool : null,
      [LABEL_REPOSITORY]: (url && repositoryHash(url)) ?? null,
    },
  };
}

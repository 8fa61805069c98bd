import { baseLabels, LABEL_COMPONENT } from '../lib/labels.ts';
import type { KubeObject } from '../lib/objects.ts';
import type { FieldError } from '../lib/schema.ts';
import type { ProjectModel } from './children.ts';
import type { AccessSubject, ProjectSpec } from './types.ts';

/**
 * `spec.access` as RoleBindings in the project namespace. The ClusterRoles are installed by the
 * chart under these fixed names (one Kapsa per cluster, like its CRDs), so the pure hook can name
 * them without a setting; whoever applies the bindings (Metacontroller) needs `bind` on exactly
 * these three.
 */
export const PROJECT_ROLES = {
  admins: 'kapsa-project-admin',
  developers: 'kapsa-project-developer',
  viewers: 'kapsa-project-viewer',
} as const;

type AccessList = keyof typeof PROJECT_ROLES;
const ACCESS_LISTS = Object.keys(PROJECT_ROLES) as AccessList[];

const RBAC_GROUP = 'rbac.authorization.k8s.io';
const SERVICE_ACCOUNT_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/**
 * What the schema cannot say about a subject (the CRD's CEL rules say it at apply time; a Project
 * stored before them must still get a finding, not a RoleBinding the API server refuses).
 */
export function accessErrors(spec: ProjectSpec): FieldError[] {
  const errors: FieldError[] = [];
  for (const list of ACCESS_LISTS) {
    spec.access?.[list]?.forEach((subject, index) => {
      const path = `spec.access.${list}[${index}]`;
      if (subject.kind === 'ServiceAccount') {
        if (subject.namespace === undefined) errors.push({ path: `${path}.namespace`, message: 'is required for a ServiceAccount' });
        if (!SERVICE_ACCOUNT_NAME.test(subject.name)) errors.push({ path: `${path}.name`, message: 'must be a DNS subdomain for a ServiceAccount' });
      } else if (subject.namespace !== undefined) {
        errors.push({ path: `${path}.namespace`, message: `is not allowed for a ${subject.kind}` });
      }
    });
  }
  return errors;
}

function rbacSubject(subject: AccessSubject): Record<string, string> {
  if (subject.kind === 'ServiceAccount') return { kind: 'ServiceAccount', name: subject.name, namespace: subject.namespace ?? '' };
  return { kind: subject.kind, apiGroup: RBAC_GROUP, name: subject.name };
}

/** The subjects as RBAC writes them, each once, in the order given. */
function rbacSubjects(subjects: readonly AccessSubject[]): Array<Record<string, string>> {
  const seen = new Set<string>();
  return subjects.map(rbacSubject).filter((subject) => {
    const key = JSON.stringify([subject.kind, subject.namespace ?? '', subject.name]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * One RoleBinding per non-empty access list, named like its ClusterRole. A list emptied or removed
 * leaves its binding out of the reply, so Metacontroller deletes it: access ends on the next sync.
 * Repeated subjects are bound once.
 */
export function desiredRoleBindings(project: ProjectModel): KubeObject[] {
  const bindings: KubeObject[] = [];
  for (const list of ACCESS_LISTS) {
    const subjects = rbacSubjects(project.spec.access?.[list] ?? []);
    if (subjects.length === 0) continue;
    bindings.push({
      apiVersion: `${RBAC_GROUP}/v1`,
      kind: 'RoleBinding',
      metadata: {
        name: PROJECT_ROLES[list],
        namespace: project.namespace,
        labels: { ...baseLabels(project.name), [LABEL_COMPONENT]: 'access' },
      },
      roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: PROJECT_ROLES[list] },
      subjects,
    });
  }
  return bindings;
}

/** The Role (and its binding) that gives developers and admins the Secrets their environments name. */
export const SECRETS_ROLE = 'kapsa-project-secrets';

/**
 * Every Secret name an environment of the spec references, sorted and unique, and the
 * references that name one of Kapsa's own Secrets. Those are refused rather than left out: an
 * environment's secretRefs become the pod's environment (envFrom), so the registry push
 * credentials (shared by every Project of the Registry) would reach whoever writes the code.
 */
export function environmentSecrets(spec: ProjectSpec, kapsaSecrets: ReadonlySet<string>): { names: string[]; errors: FieldError[] } {
  const names = new Set<string>();
  const errors: FieldError[] = [];
  spec.environments.forEach((environment, index) => {
    environment.secretRefs?.forEach((name, refIndex) => {
      if (kapsaSecrets.has(name)) {
        errors.push({
          path: `spec.environments[${index}].secretRefs[${refIndex}]`,
          message: `names ${name}, a Secret Kapsa keeps in the namespace for itself; environments may not use it`,
        });
      } else names.add(name);
    });
  });
  return { names: [...names].sort(), errors };
}

/**
 * A Role on exactly `secretNames` and its binding to the developers and admins, when there is
 * anybody to bind. RBAC cannot narrow `list` to names, so nobody gets it; `create` comes from the
 * ClusterRoles (it reads nothing). `readOnlyNames` are Kapsa's Secrets made for this Project alone
 * (the push-webhook token, which the team must give its forge): read, never changed. With no names
 * the Role has no rules at all (still written, so the namespace shows that nothing is granted): a
 * rule with an empty resourceNames would grant every Secret of the namespace.
 */
export function desiredSecretsAccess(project: ProjectModel, secretNames: readonly string[], readOnlyNames: readonly string[] = []): KubeObject[] {
  const subjects = rbacSubjects([...(project.spec.access?.admins ?? []), ...(project.spec.access?.developers ?? [])]);
  if (subjects.length === 0) return [];
  const metadata = { name: SECRETS_ROLE, namespace: project.namespace, labels: { ...baseLabels(project.name), [LABEL_COMPONENT]: 'access' } };
  const role: KubeObject = { apiVersion: `${RBAC_GROUP}/v1`, kind: 'Role', metadata };
  // No `rules: []`: the API server answers an empty list as `null`, so only an absent key makes
  // what the hook returns agree with what Metacontroller observes.
  const rules: Array<Record<string, unknown>> = [];
  if (secretNames.length > 0) rules.push({ apiGroups: [''], resources: ['secrets'], resourceNames: [...secretNames], verbs: ['get', 'watch', 'update', 'patch', 'delete'] });
  if (readOnlyNames.length > 0) rules.push({ apiGroups: [''], resources: ['secrets'], resourceNames: [...readOnlyNames], verbs: ['get', 'watch'] });
  if (rules.length > 0) role.rules = rules;
  return [
    role,
    {
      apiVersion: `${RBAC_GROUP}/v1`,
      kind: 'RoleBinding',
      metadata: { ...metadata, labels: { ...metadata.labels } },
      roleRef: { apiGroup: RBAC_GROUP, kind: 'Role', name: SECRETS_ROLE },
      subjects,
    },
  ];
}

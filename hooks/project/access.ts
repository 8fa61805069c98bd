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

/**
 * One RoleBinding per non-empty access list, named like its ClusterRole. A list emptied or removed
 * leaves its binding out of the reply, so Metacontroller deletes it: access ends on the next sync.
 * Repeated subjects are bound once.
 */
export function desiredRoleBindings(project: ProjectModel): KubeObject[] {
  const bindings: KubeObject[] = [];
  for (const list of ACCESS_LISTS) {
    const seen = new Set<string>();
    const subjects = (project.spec.access?.[list] ?? []).map(rbacSubject).filter((subject) => {
      const key = JSON.stringify([subject.kind, subject.namespace ?? '', subject.name]);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
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

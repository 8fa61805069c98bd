// The chart's part of "who may touch a Project": the admission policy and its values, the roles
// spec.access binds, the creator role, and Metacontroller's `bind` grant. The policy's behaviour
// runs on a real API server in test/k8s/project-access.test.ts.

import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROLES, SECRETS_ROLE } from '../../hooks/project/access.ts';
import { CHART_DIR, findObject, helm, helmBinary, NAMESPACE, renderChart, valuesArgs, type ChartObject } from './helm.ts';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

const rulesOf = (role: ChartObject) => role.rules as Rule[];
const variable = (policy: ChartObject, name: string) =>
  ((policy.spec as { variables: Array<{ name: string; expression: string }> }).variables.find((item) => item.name === name) ?? { expression: '' }).expression;
/** Every (resource, verb) a role grants in the core and Kapsa groups, as `resource:verb`. */
const grants = (role: ChartObject) => new Set(rulesOf(role).flatMap((rule) => rule.resources.flatMap((resource) => rule.verbs.map((verb) => `${resource}:${verb}`))));

beforeAll(() => {
  helmBinary();
}, 900_000);

describe('project access in the chart', () => {
  it('installs the policy on by default, denying, for create, update and delete of projects only (never projects/status)', () => {
    const objects = renderChart();
    const policy = findObject(objects, 'ValidatingAdmissionPolicy', 'kapsa-project-access');
    const spec = policy.spec as { failurePolicy: string; matchConstraints: { resourceRules: Array<Record<string, unknown>> } };
    expect(spec.failurePolicy).toBe('Fail');
    expect(spec.matchConstraints.resourceRules).toEqual([
      { apiGroups: ['kapsa-project.io'], apiVersions: ['*'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: ['projects'] },
    ]);
    expect(findObject(objects, 'ValidatingAdmissionPolicyBinding', 'kapsa-project-access').spec).toEqual({ policyName: 'kapsa-project-access', validationActions: ['Deny'] });
    expect(JSON.parse(variable(policy, 'platformAdminGroups'))).toEqual(['kapsa-platform-admins', 'system:masters']);
    expect(variable(policy, 'platformWriter')).toContain('"system:serviceaccount:metacontroller:metacontroller"');
    expect(variable(policy, 'kapsaReconcileRequest')).toContain('"system:serviceaccount:kapsa-system:kapsa"');
  });

  it('takes platform admins, Metacontroller, Kapsa’s ServiceAccount and the validation actions from values; group names stay CEL string literals', () => {
    const groups = ['ops', 'team "quoted" \\ <odd>'];
    const objects = renderChart({
      projectAccess: { platformAdminGroups: groups, policy: { validationActions: ['Warn', 'Audit'] } },
      metacontroller: { namespace: 'mc', serviceAccountName: 'engine' },
      serviceAccount: { name: 'hooks' },
    }, { namespace: 'platform' });
    const policy = findObject(objects, 'ValidatingAdmissionPolicy');
    // JSON string literals are CEL string literals: the list round-trips exactly.
    expect(JSON.parse(variable(policy, 'platformAdminGroups'))).toEqual(groups);
    expect(variable(policy, 'platformWriter')).toContain('"system:serviceaccount:mc:engine"');
    expect(variable(policy, 'kapsaReconcileRequest')).toContain('"system:serviceaccount:platform:hooks"');
    expect((findObject(objects, 'ValidatingAdmissionPolicyBinding').spec as { validationActions: string[] }).validationActions).toEqual(['Warn', 'Audit']);
  });

  it('leaves the policy out with projectAccess.policy.enabled=false, and every role out with rbac.create=false', () => {
    const withoutPolicy = renderChart({ projectAccess: { policy: { enabled: false } } }).map((object) => object.kind);
    expect(withoutPolicy).not.toContain('ValidatingAdmissionPolicy');
    expect(withoutPolicy).not.toContain('ValidatingAdmissionPolicyBinding');
    expect(withoutPolicy).toContain('ClusterRole');
    const withoutRbac = renderChart({ rbac: { create: false }, projectAccess: { creatorGroups: ['devs'] } });
    expect(withoutRbac.filter((object) => object.kind.startsWith('ClusterRole'))).toEqual([]);
  });

  it('names the roles the Project hook binds, and lets Metacontroller bind exactly those', () => {
    const objects = renderChart();
    for (const name of Object.values(PROJECT_ROLES)) findObject(objects, 'ClusterRole', name);
    const metacontroller = findObject(objects, 'ClusterRole', 'kapsa-metacontroller');
    const bind = rulesOf(metacontroller).filter((rule) => rule.verbs.includes('bind') || rule.verbs.includes('escalate') || rule.verbs.includes('*'));
    expect(bind).toEqual([
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['bind'], resourceNames: Object.values(PROJECT_ROLES).sort() },
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['bind'], resourceNames: [SECRETS_ROLE] },
    ]);
    expect(rulesOf(metacontroller).some((rule) => rule.resources.includes('rolebindings') && rule.verbs.includes('create'))).toBe(true);
    // The Secrets Role it writes grants nothing on Secrets it does not hold itself, so no escalate.
    expect(rulesOf(metacontroller).some((rule) => rule.resources.includes('roles') && rule.verbs.includes('create'))).toBe(true);
    const onSecrets = rulesOf(metacontroller).filter((rule) => rule.resources.includes('secrets') && rule.apiGroups.includes(''));
    for (const verb of ['get', 'watch', 'update', 'patch', 'delete']) expect(onSecrets.some((rule) => rule.verbs.includes(verb) && rule.resourceNames === undefined), verb).toBe(true);
  });

  it('viewers read without Secrets; developers add ConfigMaps, creating Secrets and port-forward; admins the same; nobody execs; none touches RBAC or Projects', () => {
    const objects = renderChart();
    const viewer = grants(findObject(objects, 'ClusterRole', 'kapsa-project-viewer'));
    const developer = grants(findObject(objects, 'ClusterRole', 'kapsa-project-developer'));
    const admin = grants(findObject(objects, 'ClusterRole', 'kapsa-project-admin'));
    expect([...viewer].filter((grant) => grant.startsWith('secrets:'))).toEqual([]);
    expect([...viewer].filter((grant) => !/:(get|list|watch)$/.test(grant))).toEqual([]);
    for (const grant of ['pods/log:get', 'configmaps:get', 'pods:list', 'environments:get']) expect(viewer, grant).toContain(grant);
    for (const grant of ['secrets:create', 'configmaps:create', 'pods/portforward:create', 'pods:delete']) expect(developer, grant).toContain(grant);
    // Reading or changing a Secret comes by name from the Project hook's Role, never from these.
    for (const role of [developer, admin]) expect([...role].filter((grant) => grant.startsWith('secrets:'))).toEqual(['secrets:create']);
    // A shell in a build pod would reach the Registry's push credentials, which other Projects share.
    for (const role of [viewer, developer, admin]) expect([...role].filter((grant) => grant.startsWith('pods/exec') || grant.startsWith('pods/attach'))).toEqual([]);
    expect([...admin].sort()).toEqual([...developer].sort());
    for (const grant of viewer) expect(developer, grant).toContain(grant);
    for (const grant of developer) expect(admin, grant).toContain(grant);
    for (const role of [viewer, developer, admin]) {
      expect([...role].filter((grant) => /^(rolebindings|roles|projects|projects\/status|\*):/.test(grant) || grant.endsWith(':*'))).toEqual([]);
    }
  });

  it('binds kapsa-project-creator to creatorGroups only when there are some', () => {
    expect(renderChart().some((object) => object.metadata.name === 'kapsa-project-creators')).toBe(false);
    const binding = findObject(renderChart({ projectAccess: { creatorGroups: ['developers', 'contractors'] } }), 'ClusterRoleBinding', 'kapsa-project-creators');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kapsa-project-creator' });
    expect(binding.subjects).toEqual([
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'developers' },
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'contractors' },
    ]);
    const creator = grants(findObject(renderChart(), 'ClusterRole', 'kapsa-project-creator'));
    expect([...creator].sort()).toEqual(
      ['projects', 'domainpools', 'registries']
        .flatMap((resource) => (resource === 'projects' ? ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] : ['get', 'list', 'watch']).map((verb) => `${resource}:${verb}`))
        .sort(),
    );
  });

  it.each([
    ['an unknown validation action', { projectAccess: { policy: { validationActions: ['Block'] } } }],
    ['no validation action', { projectAccess: { policy: { validationActions: [] } } }],
    ['an empty group name', { projectAccess: { platformAdminGroups: [''] } }],
    ['a misspelt key', { projectAccess: { creatorGroup: ['devs'] } }],
  ])('the schema refuses %s', (_name, values) => {
    const result = helm('template', 'kapsa', CHART_DIR, '--namespace', NAMESPACE, ...valuesArgs(values));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/values don't meet the specifications of the schema/);
  });
});

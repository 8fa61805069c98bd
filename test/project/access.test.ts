/**
 * spec.access in the Project hook: the subjects validateProject refuses (each with its field path)
 * and the RoleBindings desiredRoleBindings makes of the rest.
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../hooks/lib/objects.ts';
import { desiredRoleBindings, desiredSecretsAccess, environmentSecrets, PROJECT_ROLES, SECRETS_ROLE } from '../../hooks/project/access.ts';
import { projectSettings } from '../../hooks/project/settings.ts';
import { syncProject } from '../../hooks/project/sync.ts';
import { validateProject } from '../../hooks/project/validate.ts';
import { defaultConfig } from '../../hooks/server/config.ts';

function project(access: unknown): KubeObject {
  return {
    apiVersion: 'kapsa-project.io/v1alpha1',
    kind: 'Project',
    metadata: { name: 'shop' },
    spec: {
      repository: { url: 'https://git.example.com/acme/shop.git' },
      registry: { name: 'main' },
      domain: { subdomain: 'shop', domainPoolRef: { name: 'apps' } },
      environments: [{ name: 'dev' }],
      access,
    },
  };
}

function errorsOf(access: unknown): string[] {
  const result = validateProject(project(access));
  return result.ok ? [] : result.errors.map((error) => `${error.path}: ${error.message}`);
}

function bindings(access: unknown): KubeObject[] {
  const result = validateProject(project(access));
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return desiredRoleBindings({ name: 'shop', namespace: 'shop', spec: result.spec });
}

describe('spec.access validation', () => {
  it.each([
    ['a ServiceAccount without a namespace', { developers: [{ kind: 'ServiceAccount', name: 'ci' }] }, 'spec.access.developers[0].namespace: is required for a ServiceAccount'],
    ['a namespace on a User', { admins: [{ kind: 'User', name: 'ana', namespace: 'shop' }] }, 'spec.access.admins[0].namespace: is not allowed for a User'],
    ['a namespace on a Group', { viewers: [{ kind: 'Group', name: 'g', namespace: 'shop' }] }, 'spec.access.viewers[0].namespace: is not allowed for a Group'],
    ['a ServiceAccount name that is no DNS subdomain', { admins: [{ kind: 'ServiceAccount', name: 'CI_Bot', namespace: 'ci' }] }, 'spec.access.admins[0].name: must be a DNS subdomain for a ServiceAccount'],
    ['a kind RBAC does not have', { admins: [{ kind: 'Role', name: 'x' }] }, 'spec.access.admins[0].kind: must be one of: User, Group, ServiceAccount'],
    ['an empty name', { admins: [{ kind: 'User', name: '' }] }, 'spec.access.admins[0].name'],
    ['a control character in a name', { admins: [{ kind: 'User', name: 'ana\nbo' }] }, 'spec.access.admins[0].name'],
    ['a list that is not a list', { admins: { kind: 'User', name: 'ana' } }, 'spec.access.admins'],
  ])('refuses %s, naming the field', (_name, access, expected) => {
    const errors = errorsOf(access);
    expect(errors.some((error) => error.startsWith(expected)), errors.join('\n')).toBe(true);
  });

  it('accepts every kind written the way RBAC names it', () => {
    expect(errorsOf({ admins: [{ kind: 'User', name: 'system:serviceaccount:ci:deployer' }, { kind: 'Group', name: 'oidc:shop devs' }, { kind: 'ServiceAccount', name: 'ci.bot', namespace: 'ci' }] })).toEqual([]);
  });
});

describe('RoleBindings from spec.access', () => {
  it('makes none without spec.access or with empty lists', () => {
    expect(bindings(undefined)).toEqual([]);
    expect(bindings({ admins: [], developers: [], viewers: [] })).toEqual([]);
  });

  it('binds each list to its ClusterRole in the project namespace, each subject once, in the order given', () => {
    const made = bindings({
      viewers: [{ kind: 'Group', name: 'auditors' }],
      admins: [{ kind: 'User', name: 'ana' }, { kind: 'User', name: 'ana' }, { kind: 'ServiceAccount', name: 'ci', namespace: 'ci' }, { kind: 'ServiceAccount', name: 'ci', namespace: 'cd' }],
    });
    expect(made.map((binding) => [binding.metadata.namespace, binding.metadata.name, (binding.roleRef as { name: string }).name])).toEqual([
      ['shop', PROJECT_ROLES.admins, PROJECT_ROLES.admins],
      ['shop', PROJECT_ROLES.viewers, PROJECT_ROLES.viewers],
    ]);
    expect(made[0]?.subjects).toEqual([
      { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'ana' },
      { kind: 'ServiceAccount', name: 'ci', namespace: 'ci' },
      { kind: 'ServiceAccount', name: 'ci', namespace: 'cd' },
    ]);
    expect(made[0]?.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'kapsa', 'kapsa-project.io/project': 'shop', 'app.kubernetes.io/component': 'access' });
  });
});

describe('the Secrets Role from spec.access and the environments', () => {
  const model = (access: unknown, environments: unknown[]) => {
    const parent = project(access);
    (parent.spec as Record<string, unknown>).environments = environments;
    const result = validateProject(parent);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    return { name: 'shop', namespace: 'shop', spec: result.spec };
  };
  const developer = { developers: [{ kind: 'User', name: 'ana' }] };

  it('names exactly the Secrets environments reference, once each, sorted', () => {
    const { names, errors } = environmentSecrets(model(developer, [{ name: 'dev', secretRefs: ['b', 'a'] }, { name: 'prod', secretRefs: ['a', 'c'], configRefs: ['cfg'] }]).spec, new Set());
    expect(errors).toEqual([]);
    expect(names).toEqual(['a', 'b', 'c']);
  });

  it('refuses a reference to one of Kapsa\'s own Secrets, naming the field', () => {
    const { names, errors } = environmentSecrets(model(developer, [{ name: 'dev', secretRefs: ['db', 'kapsa-registry-push'] }]).spec, new Set(['kapsa-registry-push']));
    expect(names).toEqual(['db']);
    expect(errors).toEqual([{ path: 'spec.environments[0].secretRefs[1]', message: expect.stringContaining('kapsa-registry-push') }]);
  });

  it('gives a Role without rules when nothing is referenced: an empty resourceNames would mean every Secret', () => {
    const [role, binding] = desiredSecretsAccess(model(developer, [{ name: 'dev' }]), []);
    expect(role?.kind).toBe('Role');
    expect(role).not.toHaveProperty('rules');
    expect(binding?.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: SECRETS_ROLE });
  });

  it("lets the team read its own webhook token, and only read it", () => {
    const [role] = desiredSecretsAccess(model(developer, [{ name: 'dev', secretRefs: ['db'] }]), ['db'], ['kapsa-webhook']);
    expect(role?.rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['db'], verbs: ['get', 'watch', 'update', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['kapsa-webhook'], verbs: ['get', 'watch'] },
    ]);
    const [alone] = desiredSecretsAccess(model(developer, [{ name: 'dev' }]), [], ['kapsa-webhook']);
    expect(alone?.rules).toEqual([{ apiGroups: [''], resources: ['secrets'], resourceNames: ['kapsa-webhook'], verbs: ['get', 'watch'] }]);
  });

  it('binds admins and developers, never viewers, and makes nothing when neither is listed', () => {
    const access = { admins: [{ kind: 'User', name: 'ana' }], developers: [{ kind: 'User', name: 'ana' }, { kind: 'Group', name: 'devs' }], viewers: [{ kind: 'User', name: 'vi' }] };
    const [role, binding] = desiredSecretsAccess(model(access, [{ name: 'dev', secretRefs: ['db'] }]), ['db']);
    expect(role?.rules).toEqual([{ apiGroups: [''], resources: ['secrets'], resourceNames: ['db'], verbs: ['get', 'watch', 'update', 'patch', 'delete'] }]);
    expect(binding?.subjects).toEqual([
      { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'ana' },
      { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'devs' },
    ]);
    expect(desiredSecretsAccess(model({ viewers: [{ kind: 'User', name: 'vi' }] }, [{ name: 'dev', secretRefs: ['db'] }]), ['db'])).toEqual([]);
    expect(desiredSecretsAccess(model(undefined, [{ name: 'dev', secretRefs: ['db'] }]), ['db'])).toEqual([]);
  });
});

describe('Kapsa\'s own Secrets in secretRefs, through the Project hook', () => {
  it.each(['kapsa-registry-push', 'kapsa-registry', 'kapsa-git', 'kapsa-wildcard-tls', 'kapsa-webhook'])(
    'refuses %s even before the Registry or the copy exists',
    (name) => {
      const parent = project({ developers: [{ kind: 'User', name: 'ana' }] });
      (parent.spec as Record<string, unknown>).environments = [{ name: 'dev', secretRefs: [name] }];
      const reply = syncProject({ parent, children: {}, related: {} }, { now: new Date('2026-11-26T12:00:00Z'), settings: projectSettings(defaultConfig()) });
      const conditions = (reply.status as { conditions: Array<Record<string, string>> }).conditions;
      expect(conditions.find((condition) => condition.type === 'InvalidSpec')).toMatchObject({ status: 'True', message: expect.stringContaining('spec.environments[0].secretRefs[0]') });
      expect(reply.children).toEqual([]);
    },
  );
});

import { parseDurationSeconds } from '../lib/duration.ts';
import type { KubeObject } from '../lib/objects.ts';
import { isDnsLabel } from '../lib/names.ts';
import { compileValidator, type FieldError } from '../lib/schema.ts';
import { ProjectSpec } from './types.ts';

const specValidator = compileValidator(ProjectSpec);

/**
 * The checks of the CRD's schema and CEL rules, repeated here because a hook must never trust
 * that the API server ran them (an older CRD, a hand-made request), plus what CEL cannot say.
 */
export function validateProject(parent: KubeObject): { ok: true; spec: ProjectSpec } | { ok: false; errors: FieldError[] } {
  const name = parent.metadata.name ?? '';
  if (!isDnsLabel(name)) {
    return { ok: false, errors: [{ path: 'metadata.name', message: 'must be a DNS label of at most 63 characters (it names the project namespace)' }] };
  }
  const parsed = specValidator.parse(parent.spec, 'spec');
  if (!parsed.ok) return parsed;
  const spec = parsed.value;
  const errors: FieldError[] = [];
  const names = new Set<string>();
  spec.environments.forEach((environment, index) => {
    if (names.has(environment.name)) errors.push({ path: `spec.environments[${index}].name`, message: `duplicates environment ${environment.name}` });
    names.add(environment.name);
    if (!/^[a-z]/.test(environment.name)) errors.push({ path: `spec.environments[${index}].name`, message: 'must start with a letter' });
  });
  if (spec.environments.filter((environment) => environment.primary === true).length > 1) {
    errors.push({ path: 'spec.environments', message: 'at most one environment may be primary' });
  }
  if (spec.build.strategy !== 'dockerfile' && spec.build.dockerfile !== undefined) {
    errors.push({ path: 'spec.build.dockerfile', message: 'is only allowed with strategy dockerfile' });
  }
  if (spec.build.strategy !== 'dockerfile' && spec.build.args !== undefined) {
    errors.push({ path: 'spec.build.args', message: 'are only allowed with strategy dockerfile' });
  }
  const pollInterval = spec.repository.pollInterval;
  if (pollInterval !== undefined && (parseDurationSeconds(pollInterval) ?? 0) < 10) {
    errors.push({ path: 'spec.repository.pollInterval', message: 'must be a duration of at least 10s' });
  }
  const ttl = spec.previewEnvironments?.ttl;
  if (ttl !== undefined && (parseDurationSeconds(ttl) ?? 0) < 60) {
    errors.push({ path: 'spec.previewEnvironments.ttl', message: 'must be a duration of at least 60s' });
  }
  try {
    const url = new URL(spec.repository.url);
    if (url.username !== '' || url.password !== '') {
      errors.push({ path: 'spec.repository.url', message: 'must not carry credentials; use spec.repository.credentials' });
    }
  } catch {
    errors.push({ path: 'spec.repository.url', message: 'is not a URL' });
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, spec };
}

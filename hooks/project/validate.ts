import { parseDurationSeconds } from '../lib/duration.ts';
import { branchGlobProblem, branchNameProblem } from '../lib/git-refs.ts';
import { isRecord, type KubeObject } from '../lib/objects.ts';
import { isDnsLabel } from '../lib/names.ts';
import { compileValidator, type FieldError } from '../lib/schema.ts';
import { accessErrors } from './access.ts';
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
  // Branches and paths are checked on the spec as stored, so their message says which rule a
  // value breaks instead of repeating the schema's pattern; the schema's error at the same path
  // is then dropped.
  const named = branchAndPathErrors(parent.spec);
  const parsed = specValidator.parse(parent.spec, 'spec');
  if (!parsed.ok) {
    const paths = new Set(named.map((error) => error.path));
    return { ok: false, errors: [...named, ...parsed.errors.filter((error) => !paths.has(error.path))] };
  }
  if (named.length > 0) return { ok: false, errors: named };
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
  errors.push(...accessErrors(spec));
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, spec };
}

/**
 * The branch names (git's rules and Kapsa's short-name rule, lib/git-refs.ts), preview globs and
 * repository paths of a spec, read leniently: a field of another type is left to the schema.
 */
function branchAndPathErrors(spec: unknown): FieldError[] {
  if (!isRecord(spec)) return [];
  const errors: FieldError[] = [];
  const branch = (path: string, value: unknown): void => {
    if (typeof value !== 'string') return;
    const problem = branchNameProblem(value);
    if (problem !== undefined) errors.push({ path, message: `is not a branch name Kapsa can follow: it ${problem}` });
  };
  const globs = (path: string, value: unknown): void => {
    if (!Array.isArray(value)) return;
    value.forEach((glob, index) => {
      if (typeof glob !== 'string') return;
      const problem = branchGlobProblem(glob);
      if (problem !== undefined) errors.push({ path: `${path}[${index}]`, message: `is not a branch glob: it ${problem}` });
    });
  };
  const repositoryPath = (path: string, value: unknown, directory: boolean): void => {
    if (typeof value !== 'string') return;
    const problem = repositoryPathProblem(value, directory);
    if (problem !== undefined) errors.push({ path, message: problem });
  };
  if (isRecord(spec.repository)) branch('spec.repository.branch', spec.repository.branch);
  if (Array.isArray(spec.environments)) {
    spec.environments.forEach((environment, index) => {
      if (isRecord(environment)) branch(`spec.environments[${index}].branch`, environment.branch);
    });
  }
  if (isRecord(spec.previewEnvironments) && isRecord(spec.previewEnvironments.branches)) {
    globs('spec.previewEnvironments.branches.include', spec.previewEnvironments.branches.include);
    globs('spec.previewEnvironments.branches.exclude', spec.previewEnvironments.branches.exclude);
  }
  if (isRecord(spec.build)) {
    repositoryPath('spec.build.dockerfile', spec.build.dockerfile, false);
    repositoryPath('spec.build.context', spec.build.context, true);
  }
  return errors;
}

/**
 * Why `path` cannot name a file (or, with `directory`, a directory; empty is the root) inside the
 * repository, or undefined: the rule of REPOSITORY_PATH_PATTERN in words. BuildKit gets these
 * paths as they are, so one that leaves the repository would build from outside it.
 */
export function repositoryPathProblem(path: string, directory: boolean): string | undefined {
  if (path === '') return directory ? undefined : 'must not be empty';
  if (path.startsWith('/')) return 'must be relative to the repository, not an absolute path';
  if (path.includes('\\')) return 'must not contain a backslash (separate directories with /)';
  if ([...path].some((char) => char <= ' ' || char === '\x7f')) return 'must not contain whitespace or control characters';
  if (path.split('/').includes('..')) return 'must not contain a ".." segment: it would leave the repository';
  return undefined;
}

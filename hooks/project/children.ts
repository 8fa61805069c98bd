import { ANNOTATION_SHARE_WITH, baseLabels, LABEL_COMPONENT } from '../lib/labels.ts';
import type { KubeObject, Secret } from '../lib/objects.ts';
import { dockerConfigJson } from '../registry/credentials.ts';
import { GIT_SECRET, PUSH_SECRET } from './builds.ts';
import type { ProjectSettings } from './settings.ts';
import type { ProjectSpec } from './types.ts';

export interface ProjectModel {
  name: string;
  namespace: string;
  spec: ProjectSpec;
}

export function desiredNamespace(project: ProjectModel): KubeObject {
  // Dockerfile builds need a namespace that admits rootless BuildKit (see desiredBuildJob);
  // everything else runs under `restricted`. Warnings and audit stay at `restricted` either way.
  const enforce = project.spec.build.strategy === 'dockerfile' ? 'privileged' : 'restricted';
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: project.namespace,
      labels: {
        ...baseLabels(project.name),
        'pod-security.kubernetes.io/enforce': enforce,
        'pod-security.kubernetes.io/warn': 'restricted',
        'pod-security.kubernetes.io/audit': 'restricted',
      },
    },
  };
}

export function desiredBuildServiceAccount(project: ProjectModel, settings: ProjectSettings, secrets: { push: boolean; git: boolean; pull?: string }): KubeObject {
  const serviceAccount: KubeObject = {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: {
      name: settings.buildServiceAccount,
      namespace: project.namespace,
      labels: { ...baseLabels(project.name), [LABEL_COMPONENT]: 'build' },
    },
    automountServiceAccountToken: false,
  };
  const listed = [...(secrets.push ? [PUSH_SECRET] : []), ...(secrets.git ? [GIT_SECRET] : [])];
  if (listed.length > 0) serviceAccount.secrets = listed.map((name) => ({ name }));
  const pull = secrets.pull ?? (secrets.push ? PUSH_SECRET : undefined);
  if (pull) serviceAccount.imagePullSecrets = [{ name: pull }];
  return serviceAccount;
}

function secret(project: ProjectModel, name: string, type: string, data: Record<string, string>, annotations?: Record<string, string>): Secret {
  const metadata: Secret['metadata'] = {
    name,
    namespace: project.namespace,
    labels: { ...baseLabels(project.name), [LABEL_COMPONENT]: 'credentials' },
  };
  if (annotations) metadata.annotations = annotations;
  return { apiVersion: 'v1', kind: 'Secret', metadata, type, data };
}

export function desiredDockerConfigSecret(project: ProjectModel, name: string, registryHost: string, credentials: { username: string; password: string }): Secret {
  const config = dockerConfigJson(registryHost, credentials.username, credentials.password);
  return secret(project, name, 'kubernetes.io/dockerconfigjson', { '.dockerconfigjson': Buffer.from(config).toString('base64') });
}

/** Git credentials in the form kpack reads: basic auth, annotated with the server they are for. */
export function desiredGitSecret(project: ProjectModel, repositoryUrl: string, data: { username: string; password: string }): Secret {
  const url = new URL(repositoryUrl);
  return secret(
    project,
    GIT_SECRET,
    'kubernetes.io/basic-auth',
    { username: data.username, password: data.password },
    { 'kpack.io/git': `${url.protocol}//${url.host}` },
  );
}

export type GitSecretChoice =
  | { state: 'none' }
  | { state: 'ok'; data: { username: string; password: string } }
  | { state: 'refused'; reason: string; message: string };

/**
 * The git credential Secret a Project may use: one in its own namespace, or one in Kapsa's
 * namespace that names this Project in its share annotation. Anything else is refused, so a
 * developer cannot copy an arbitrary Secret of the cluster into their namespace by naming it.
 * Returns base64 data exactly as stored; nothing is decoded or logged.
 */
export function chooseGitSecret(
  project: Pick<ProjectModel, 'name' | 'namespace'>,
  ref: { name: string; namespace?: string } | undefined,
  related: readonly Secret[],
  settings: ProjectSettings,
): GitSecretChoice {
  if (!ref) return { state: 'none' };
  const namespace = ref.namespace ?? project.namespace;
  if (namespace !== project.namespace && namespace !== settings.kapsaNamespace) {
    return {
      state: 'refused',
      reason: 'GitSecretNotAllowed',
      message: `git credentials may come only from the project namespace ${project.namespace} or from ${settings.kapsaNamespace} when shared with this Project`,
    };
  }
  const found = related.find((item) => item.metadata.name === ref.name && item.metadata.namespace === namespace);
  if (!found) return { state: 'refused', reason: 'GitSecretNotFound', message: `Secret ${namespace}/${ref.name} does not exist` };
  if (namespace === settings.kapsaNamespace && namespace !== project.namespace) {
    const sharedWith = (found.metadata.annotations?.[ANNOTATION_SHARE_WITH] ?? '').split(',').map((item) => item.trim());
    if (!sharedWith.includes(project.name) && !sharedWith.includes('*')) {
      return {
        state: 'refused',
        reason: 'GitSecretNotAllowed',
        message: `Secret ${namespace}/${ref.name} is not shared with this Project (annotation ${ANNOTATION_SHARE_WITH})`,
      };
    }
  }
  const data = found.data ?? {};
  const username = data.username ?? (data.token !== undefined ? Buffer.from('x-access-token').toString('base64') : undefined);
  const password = data.password ?? data.token;
  if (username === undefined || password === undefined) {
    return { state: 'refused', reason: 'InvalidGitSecret', message: `Secret ${namespace}/${ref.name} needs username and password (or token) keys` };
  }
  return { state: 'ok', data: { username, password } };
}

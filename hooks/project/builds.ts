import { ANNOTATION_BRANCH, ANNOTATION_COMMIT, baseLabels, LABEL_BRANCH_SLUG, LABEL_COMPONENT } from '../lib/labels.ts';
import { joinName, slugify } from '../lib/names.ts';
import { isRecord, objectsOfType, type KubeObject, type ObjectsByType } from '../lib/objects.ts';
import type { ProjectSettings } from './settings.ts';
import type { ProjectSpec } from './types.ts';

/** One build Kapsa knows the result of; promotion reads these from the Project status. */
export interface BuildRecord {
  branch: string;
  commit: string;
  image: string;
}

export type BuildState =
  | { state: 'succeeded'; image: string }
  | { state: 'running' }
  | { state: 'failed'; reason: string; message: string };

/** Everything a build child is made from. */
export interface BuildTarget {
  project: string;
  namespace: string;
  branch: string;
  commit: string;
  /** `<registry host>/<imageRepository>`. */
  repository: string;
}

export const BUILD_HISTORY_LIMIT = 50;
const KPACK = 'kpack.io/v1alpha2';

export function branchSlug(branch: string): string {
  return slugify(branch);
}

function buildLabels(target: BuildTarget): Record<string, string> {
  return { ...baseLabels(target.project), [LABEL_COMPONENT]: 'build', [LABEL_BRANCH_SLUG]: branchSlug(target.branch) };
}

function gitCommitAnnotations(target: BuildTarget): Record<string, string> {
  return { [ANNOTATION_BRANCH]: target.branch, [ANNOTATION_COMMIT]: target.commit };
}

export function kpackImageName(branch: string): string {
  return branchSlug(branch);
}

/**
 * A kpack Image pinned to one commit. kpack does not poll a commit: Kapsa moves the revision when
 * the poller sees a new head, and kpack builds exactly that.
 */
export function desiredKpackImage(target: BuildTarget, spec: ProjectSpec, repositoryUrl: string, settings: ProjectSettings): KubeObject {
  const image: Record<string, unknown> = {
    tag: `${target.repository}:${branchSlug(target.branch)}`,
    serviceAccountName: settings.buildServiceAccount,
    builder: { kind: 'ClusterBuilder', name: settings.kpackClusterBuilder },
    source: {
      git: { url: repositoryUrl, revision: target.commit },
      ...(spec.build.context ? { subPath: spec.build.context } : {}),
    },
    successBuildHistoryLimit: 3,
    failedBuildHistoryLimit: 3,
  };
  if (spec.build.env && spec.build.env.length > 0) {
    image.build = { env: spec.build.env.map((variable) => ({ name: variable.name, value: variable.value })) };
  }
  return {
    apiVersion: KPACK,
    kind: 'Image',
    metadata: {
      name: kpackImageName(target.branch),
      namespace: target.namespace,
      labels: buildLabels(target),
      annotations: gitCommitAnnotations(target),
    },
    spec: image,
  };
}

export function buildJobName(branch: string, commit: string): string {
  return joinName(['build', slugify(branch, 40), commit.slice(0, 12)]);
}

/**
 * A BuildKit Job for one branch at one commit (kpack cannot build Dockerfiles). Rootless BuildKit
 * needs unconfined seccomp and AppArmor for its user namespaces, so project namespaces that build
 * Dockerfiles enforce Pod Security `privileged` (with `restricted` warnings and audit); the pod
 * itself still runs as a non-root user without privilege escalation.
 */
export function desiredBuildJob(
  target: BuildTarget,
  spec: ProjectSpec,
  repositoryUrl: string,
  settings: ProjectSettings,
  options: { gitCredentials: boolean },
): KubeObject {
  const context = spec.build.context ? spec.build.context : '.';
  const dockerfile = spec.build.dockerfile ?? 'Dockerfile';
  const gitContext = `${repositoryUrl.replace(/\.git$/, '')}.git#${target.commit}${context === '.' ? '' : `:${context}`}`;
  const args = [
    'build',
    '--frontend=dockerfile.v0',
    `--opt=context=${gitContext}`,
    `--opt=filename=${dockerfile}`,
    ...(spec.build.args ?? []).map((arg) => `--opt=build-arg:${arg.name}=${arg.value}`),
    // BuildKit fetches a private git context with its pre-defined GIT_AUTH_TOKEN secret, scoped
    // to the repository's host so it is never offered to another one.
    ...(options.gitCredentials ? [`--secret=id=GIT_AUTH_TOKEN.${new URL(repositoryUrl).host},src=${GIT_TOKEN_PATH}`] : []),
    `--output=type=image,name=${target.repository}:${target.commit},push=true`,
  ];
  const volumeMounts: Array<Record<string, unknown>> = [
    { name: 'docker-config', mountPath: '/home/user/.docker', readOnly: true },
    { name: 'buildkitd', mountPath: '/home/user/.local/share/buildkit' },
  ];
  const volumes: Array<Record<string, unknown>> = [
    { name: 'docker-config', secret: { secretName: PUSH_SECRET, items: [{ key: '.dockerconfigjson', path: 'config.json' }] } },
    { name: 'buildkitd', emptyDir: {} },
  ];
  if (options.gitCredentials) {
    volumeMounts.push({ name: 'git-credentials', mountPath: GIT_TOKEN_PATH.slice(0, GIT_TOKEN_PATH.lastIndexOf('/')), readOnly: true });
    volumes.push({ name: 'git-credentials', secret: { secretName: GIT_SECRET, items: [{ key: 'password', path: 'token' }] } });
  }
  const labels = buildLabels(target);
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: buildJobName(target.branch, target.commit),
      namespace: target.namespace,
      labels,
      annotations: gitCommitAnnotations(target),
    },
    spec: {
      backoffLimit: 1,
      activeDeadlineSeconds: 3600,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: settings.buildServiceAccount,
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 },
          containers: [
            {
              name: 'buildkit',
              image: settings.buildkitImage,
              command: ['buildctl-daemonless.sh'],
              args,
              env: [
                { name: 'BUILDKITD_FLAGS', value: '--oci-worker-no-process-sandbox' },
                { name: 'DOCKER_CONFIG', value: '/home/user/.docker' },
              ],
              securityContext: {
                allowPrivilegeEscalation: false,
                capabilities: { drop: ['ALL'] },
                runAsNonRoot: true,
                runAsUser: 1000,
                runAsGroup: 1000,
                seccompProfile: { type: 'Unconfined' },
                appArmorProfile: { type: 'Unconfined' },
              },
              volumeMounts,
            },
          ],
          volumes,
        },
      },
    },
  };
}

export const PUSH_SECRET = 'kapsa-registry-push';
export const GIT_SECRET = 'kapsa-git';
const GIT_TOKEN_PATH = '/run/kapsa/git/token';

function conditionOf(object: KubeObject, type: string): Record<string, unknown> | undefined {
  const status = object.status;
  if (!isRecord(status) || !Array.isArray(status.conditions)) return undefined;
  return status.conditions.find((item): item is Record<string, unknown> => isRecord(item) && item.type === type);
}

function annotation(object: KubeObject, key: string): string | undefined {
  return object.metadata.annotations?.[key];
}

/** The state of the kpack build of the Image's current revision. */
export function kpackBuildState(image: KubeObject): BuildState {
  const status = isRecord(image.status) ? image.status : {};
  const generation = image.metadata.generation ?? 0;
  const builtGeneration = typeof status.latestBuildImageGeneration === 'number' ? status.latestBuildImageGeneration : -1;
  const ready = conditionOf(image, 'Ready');
  // kpack reports the result of the build for this spec only once it caught up with it.
  if (builtGeneration !== generation) return { state: 'running' };
  if (ready?.status === 'True' && typeof status.latestImage === 'string' && status.latestImage !== '') {
    return { state: 'succeeded', image: status.latestImage };
  }
  if (ready?.status === 'False') {
    const reason = typeof status.latestBuildReason === 'string' ? status.latestBuildReason : 'BuildFailed';
    return { state: 'failed', reason: 'BuildFailed', message: `kpack build failed (${reason.slice(0, 64)})` };
  }
  return { state: 'running' };
}

export function jobBuildState(job: KubeObject, repository: string, commit: string): BuildState {
  const status = isRecord(job.status) ? job.status : {};
  if (conditionOf(job, 'Complete')?.status === 'True' || (typeof status.succeeded === 'number' && status.succeeded > 0)) {
    return { state: 'succeeded', image: `${repository}:${commit}` };
  }
  if (conditionOf(job, 'Failed')?.status === 'True') {
    return { state: 'failed', reason: 'BuildFailed', message: 'the Dockerfile build Job failed' };
  }
  return { state: 'running' };
}

/** The observed state of the build of `branch` at `commit`, if a build child for it exists. */
export function observedBuild(children: ObjectsByType | undefined, strategy: ProjectSpec['build']['strategy'], target: BuildTarget): BuildState | undefined {
  if (strategy === 'buildpacks') {
    const name = kpackImageName(target.branch);
    const image = objectsOfType(children, 'Image', KPACK).find((object) => object.metadata.name === name);
    if (!image) return undefined;
    const spec = isRecord(image.spec) ? image.spec : {};
    const source = isRecord(spec.source) && isRecord(spec.source.git) ? spec.source.git : {};
    if (source.revision !== target.commit) return undefined;
    return kpackBuildState(image);
  }
  const jobName = buildJobName(target.branch, target.commit);
  const job = objectsOfType(children, 'Job', 'batch/v1').find((object) => object.metadata.name === jobName);
  if (!job) return undefined;
  if (annotation(job, ANNOTATION_COMMIT) !== target.commit) return undefined;
  return jobBuildState(job, target.repository, target.commit);
}

/** Previous build records from the Project status, ignoring anything malformed. */
export function previousBuilds(project: KubeObject): BuildRecord[] {
  const status = project.status;
  if (!isRecord(status) || !Array.isArray(status.builds)) return [];
  return status.builds.filter(
    (item): item is BuildRecord =>
      isRecord(item) && typeof item.branch === 'string' && typeof item.commit === 'string' && typeof item.image === 'string',
  );
}

/** New records first, then the old ones not repeated, bounded. */
export function mergeBuildHistory(fresh: readonly BuildRecord[], previous: readonly BuildRecord[]): BuildRecord[] {
  const seen = new Set<string>();
  const merged: BuildRecord[] = [];
  for (const record of [...fresh, ...previous]) {
    const key = `${record.branch}\u0000${record.commit}`;
    if (seen.has(key)) continue;
    seen.add(key);
    merged.push({ branch: record.branch, commit: record.commit, image: record.image });
    if (merged.length >= BUILD_HISTORY_LIMIT) break;
  }
  return merged;
}

/** A build of `revision` (a full SHA or a prefix of at least 7), newest first. */
export function findBuild(history: readonly BuildRecord[], revision: string): BuildRecord | undefined {
  return history.find((record) => record.commit.startsWith(revision));
}

/**
 * The observed build children of a branch (its kpack Image, its build Jobs), for when the branch
 * is not in the last poll but its environment still runs what was built from it.
 */
export function observedBuildChildren(children: ObjectsByType | undefined, branch: string): KubeObject[] {
  const ofBranch = (object: KubeObject) => annotation(object, ANNOTATION_BRANCH) === branch;
  const imageName = kpackImageName(branch);
  return [
    ...objectsOfType(children, 'Image', KPACK).filter((object) => ofBranch(object) || (annotation(object, ANNOTATION_BRANCH) === undefined && object.metadata.name === imageName)),
    ...objectsOfType(children, 'Job', 'batch/v1').filter(ofBranch),
  ];
}

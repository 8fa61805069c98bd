/** Every label and annotation key Kapsa reads or writes, in one place. */
export const GROUP = 'kapsa-project.io';
export const API_VERSION = `${GROUP}/v1alpha1`;

export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'kapsa';
export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_PROJECT = `${GROUP}/project`;
export const LABEL_ENVIRONMENT = `${GROUP}/environment`;
export const LABEL_BRANCH_SLUG = `${GROUP}/branch`;
/** Written on every Project by the claim decorator: a hash of `<subdomain>.<pool>` that only competing Projects share. */
export const LABEL_DOMAIN_CLAIM = `${GROUP}/domain-claim`;
export const LABEL_DOMAIN_POOL = `${GROUP}/domain-pool`;

/** On a Registry's push Secret in Kapsa's namespace: the Registry it serves. Project hooks select it by this. */
export const LABEL_REGISTRY_CREDENTIALS = `${GROUP}/registry`;

/** cert-manager puts these on wildcard Secrets (Certificate.spec.secretTemplate), so Project hooks can select them. */
export const LABEL_WILDCARD_POOL = `${GROUP}/wildcard-pool`;
export const ANNOTATION_WILDCARD_BASE = `${GROUP}/wildcard-base`;

export const ANNOTATION_OBSERVED_REFS = `${GROUP}/observed-refs`;
export const ANNOTATION_OBSERVED_REFS_TRUNCATED = `${GROUP}/observed-refs-truncated`;
export const ANNOTATION_POLL_ERROR = `${GROUP}/poll-error`;
export const ANNOTATION_COMMIT = `${GROUP}/commit`;
export const ANNOTATION_BRANCH = `${GROUP}/branch`;
/** On a Secret in Kapsa's namespace: the Projects (comma separated, or `*`) allowed to copy it. */
export const ANNOTATION_SHARE_WITH = `${GROUP}/share-with-projects`;

/** Metacontroller keeps what a hook last returned for a child here; it is how we rebuild last good children. */
export const ANNOTATION_LAST_APPLIED = 'metacontroller.k8s.io/last-applied-configuration';

export function baseLabels(project: string, environment?: string): Record<string, string> {
  const labels: Record<string, string> = {
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_PROJECT]: project,
  };
  if (environment !== undefined) labels[LABEL_ENVIRONMENT] = environment;
  return labels;
}

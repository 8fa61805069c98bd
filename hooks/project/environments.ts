import type { EnvironmentSpec, RuntimeSpec } from '../environment/types.ts';
import { API_VERSION, baseLabels, LABEL_BRANCH_SLUG, LABEL_COMPONENT } from '../lib/labels.ts';
import { isRecord, type KubeObject } from '../lib/objects.ts';
import type { ProjectModel } from './children.ts';

/** Project-wide runtime defaults, overridden field by field by an environment's own. */
export function mergedRuntime(base: RuntimeSpec | undefined, override: RuntimeSpec | undefined): RuntimeSpec | undefined {
  if (!base) return override;
  if (!override) return base;
  return { ...base, ...override };
}

export interface EnvironmentPlan {
  name: string;
  type: 'standard' | 'preview';
  branch: string;
  image: string;
  commit: string | undefined;
  runtime: RuntimeSpec | undefined;
  host: string | undefined;
  env?: EnvironmentSpec['env'];
  configRefs?: string[];
  secretRefs?: string[];
  /** The TLS Secret, and whether the Environment should ask cert-manager for it. */
  tls: { secretName: string; managed: boolean; issuerRef?: { name: string; kind: 'ClusterIssuer' | 'Issuer'; group: string } } | undefined;
  pullSecret: string | undefined;
}

export interface EnvironmentDefaults {
  ingressClass: string;
  progressDeadlineSeconds: number;
}

export function desiredEnvironment(project: ProjectModel, plan: EnvironmentPlan, defaults: EnvironmentDefaults): KubeObject {
  const spec: Record<string, unknown> = {
    project: project.name,
    type: plan.type,
    branch: plan.branch,
  };
  if (plan.commit) spec.commit = plan.commit;
  spec.image = plan.image;
  if (plan.runtime) spec.runtime = plan.runtime;
  const ingress: Record<string, unknown> = { enabled: plan.host !== undefined };
  if (plan.host !== undefined) {
    ingress.host = plan.host;
    ingress.path = '/';
    if (defaults.ingressClass !== '') ingress.className = defaults.ingressClass;
    if (plan.tls) {
      const tls: Record<string, unknown> = { enabled: true, secretName: plan.tls.secretName, managed: plan.tls.managed };
      if (plan.tls.issuerRef) tls.issuerRef = plan.tls.issuerRef;
      ingress.tls = tls;
    } else {
      ingress.tls = { enabled: false, managed: false };
    }
  }
  spec.ingress = ingress;
  if (plan.configRefs && plan.configRefs.length > 0) spec.configRefs = plan.configRefs;
  if (plan.secretRefs && plan.secretRefs.length > 0) spec.secretRefs = plan.secretRefs;
  if (plan.env && plan.env.length > 0) spec.env = plan.env;
  if (plan.pullSecret) spec.imagePullSecrets = [plan.pullSecret];
  spec.progressDeadlineSeconds = defaults.progressDeadlineSeconds;
  const labels: Record<string, string> = { ...baseLabels(project.name, plan.name), [LABEL_COMPONENT]: plan.type === 'preview' ? 'preview' : 'environment' };
  if (plan.type === 'preview') labels[LABEL_BRANCH_SLUG] = plan.name;
  return {
    apiVersion: API_VERSION,
    kind: 'Environment',
    metadata: { name: plan.name, namespace: project.namespace, labels },
    spec,
  };
}

/** The image and commit an observed Environment runs now (its spec, as Kapsa last wrote it). */
export function currentRelease(environment: KubeObject | undefined): { image: string; commit: string | undefined } | undefined {
  const spec = environment?.spec;
  if (!isRecord(spec) || typeof spec.image !== 'string' || spec.image === '') return undefined;
  return { image: spec.image, commit: typeof spec.commit === 'string' ? spec.commit : undefined };
}

export function environmentReady(environment: KubeObject | undefined): { ready: boolean; phase: string | undefined; url: string | undefined } {
  const status = environment?.status;
  if (!isRecord(status)) return { ready: false, phase: undefined, url: undefined };
  const conditions = Array.isArray(status.conditions) ? status.conditions : [];
  const ready = conditions.some((item) => isRecord(item) && item.type === 'Ready' && item.status === 'True');
  const urls = Array.isArray(status.urls) ? status.urls.filter((url): url is string => typeof url === 'string') : [];
  return { ready, phase: typeof status.phase === 'string' ? status.phase : undefined, url: urls[0] };
}

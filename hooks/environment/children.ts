import { ANNOTATION_BRANCH, ANNOTATION_COMMIT, baseLabels, LABEL_COMPONENT, LABEL_ENVIRONMENT, LABEL_INSTANCE, LABEL_NAME, LABEL_PROJECT } from '../lib/labels.ts';
import type { KubeObject } from '../lib/objects.ts';
import { canonicalQuantity } from '../lib/quantity.ts';
import type { EnvironmentSpec, PortSpec, ProbeSpec, RuntimeSpec } from './types.ts';

/** The defaults of a runtime when neither the Project nor the Environment says otherwise. */
export const DEFAULT_PORTS: readonly PortSpec[] = [{ name: 'http', containerPort: 8080, protocol: 'TCP' }];
export const APP_CONTAINER = 'app';

/** An Environment reduced to what its children are built from. */
export interface EnvironmentModel {
  name: string;
  namespace: string;
  spec: EnvironmentSpec;
}

export function ports(runtime: RuntimeSpec | undefined): readonly PortSpec[] {
  return runtime?.ports && runtime.ports.length > 0 ? runtime.ports : DEFAULT_PORTS;
}

export function autoscalingEnabled(spec: EnvironmentSpec): boolean {
  return spec.runtime?.autoscaling?.enabled === true;
}

export function ingressEnabled(spec: EnvironmentSpec): boolean {
  return spec.ingress !== undefined && spec.ingress.enabled && spec.ingress.host !== undefined;
}

export function tlsEnabled(spec: EnvironmentSpec): boolean {
  return ingressEnabled(spec) && spec.ingress?.tls?.enabled === true;
}

export function certificateManaged(spec: EnvironmentSpec): boolean {
  return tlsEnabled(spec) && spec.ingress?.tls?.managed !== false && spec.ingress?.tls?.issuerRef !== undefined;
}

export function tlsSecretName(env: EnvironmentModel): string {
  return env.spec.ingress?.tls?.secretName ?? `${env.name}-tls`;
}

function labels(env: EnvironmentModel, component: string): Record<string, string> {
  return {
    ...baseLabels(env.spec.project, env.name),
    [LABEL_NAME]: env.spec.project,
    [LABEL_INSTANCE]: env.name,
    [LABEL_COMPONENT]: component,
  };
}

/** The pod selector: only labels that never change for the life of the Deployment (it is immutable). */
export function selectorLabels(env: EnvironmentModel): Record<string, string> {
  return { [LABEL_PROJECT]: env.spec.project, [LABEL_ENVIRONMENT]: env.name };
}

function metadata(env: EnvironmentModel, component: string): KubeObject['metadata'] {
  return { name: env.name, namespace: env.namespace, labels: labels(env, component) };
}

function versionAnnotations(spec: EnvironmentSpec): Record<string, string> | undefined {
  const annotations: Record<string, string> = {};
  if (spec.commit) annotations[ANNOTATION_COMMIT] = spec.commit;
  if (spec.branch) annotations[ANNOTATION_BRANCH] = spec.branch;
  return Object.keys(annotations).length > 0 ? annotations : undefined;
}

function resourceList(list: { cpu?: string; memory?: string } | undefined): Record<string, string> | undefined {
  if (!list) return undefined;
  const out: Record<string, string> = {};
  if (list.cpu !== undefined) out.cpu = canonicalQuantity(list.cpu);
  if (list.memory !== undefined) out.memory = canonicalQuantity(list.memory);
  return Object.keys(out).length > 0 ? out : undefined;
}

function probe(spec: ProbeSpec, defaultPort: string): Record<string, unknown> {
  const result: Record<string, unknown> = { httpGet: { path: spec.path, port: spec.port ?? defaultPort, scheme: 'HTTP' } };
  // The API server drops a zero here (omitempty); sending it would be a diff on every sync.
  if (spec.initialDelaySeconds > 0) result.initialDelaySeconds = spec.initialDelaySeconds;
  return {
    ...result,
    periodSeconds: spec.periodSeconds,
    timeoutSeconds: spec.timeoutSeconds,
    successThreshold: 1,
    failureThreshold: spec.failureThreshold,
  };
}

/**
 * The application container. Its security context passes Pod Security `restricted`: non-root,
 * no privilege escalation, every capability dropped, the runtime's default seccomp profile.
 */
function container(env: EnvironmentModel): Record<string, unknown> {
  const { spec } = env;
  const runtime = spec.runtime;
  const containerPorts = ports(runtime);
  const firstPort = containerPorts[0]?.name ?? 'http';
  const result: Record<string, unknown> = {
    name: APP_CONTAINER,
    image: spec.image,
    imagePullPolicy: 'IfNotPresent',
  };
  if (runtime?.command) result.command = runtime.command;
  if (runtime?.args) result.args = runtime.args;
  result.ports = containerPorts.map((port) => ({ name: port.name, containerPort: port.containerPort, protocol: port.protocol }));
  const envFrom = [
    ...(spec.configRefs ?? []).map((name) => ({ configMapRef: { name } })),
    ...(spec.secretRefs ?? []).map((name) => ({ secretRef: { name } })),
  ];
  if (envFrom.length > 0) result.envFrom = envFrom;
  if (spec.env && spec.env.length > 0) result.env = spec.env.map((variable) => ({ name: variable.name, value: variable.value }));
  const requests = resourceList(runtime?.resources?.requests);
  const limits = resourceList(runtime?.resources?.limits);
  if (requests || limits) {
    const resources: Record<string, unknown> = {};
    if (limits) resources.limits = limits;
    if (requests) resources.requests = requests;
    result.resources = resources;
  }
  if (runtime?.probes?.readiness) result.readinessProbe = probe(runtime.probes.readiness, firstPort);
  if (runtime?.probes?.liveness) result.livenessProbe = probe(runtime.probes.liveness, firstPort);
  if (runtime?.probes?.startup) result.startupProbe = probe(runtime.probes.startup, firstPort);
  result.securityContext = {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    runAsNonRoot: true,
    seccompProfile: { type: 'RuntimeDefault' },
  };
  return result;
}

export function desiredDeployment(env: EnvironmentModel): KubeObject {
  const { spec } = env;
  const podAnnotations = versionAnnotations(spec);
  const podSpec: Record<string, unknown> = {
    automountServiceAccountToken: false,
    enableServiceLinks: false,
  };
  if (spec.serviceAccountName) podSpec.serviceAccountName = spec.serviceAccountName;
  if (spec.imagePullSecrets && spec.imagePullSecrets.length > 0) {
    podSpec.imagePullSecrets = spec.imagePullSecrets.map((name) => ({ name }));
  }
  podSpec.securityContext = { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };
  podSpec.containers = [container(env)];

  const deploymentSpec: Record<string, unknown> = {};
  // With an autoscaler the replica count belongs to it; setting it here would fight the HPA.
  if (!autoscalingEnabled(spec)) deploymentSpec.replicas = spec.runtime?.replicas ?? 1;
  deploymentSpec.revisionHistoryLimit = 3;
  deploymentSpec.progressDeadlineSeconds = spec.progressDeadlineSeconds;
  deploymentSpec.selector = { matchLabels: selectorLabels(env) };
  const templateMetadata: Record<string, unknown> = { labels: { ...selectorLabels(env), ...labels(env, 'app') } };
  if (podAnnotations) templateMetadata.annotations = podAnnotations;
  deploymentSpec.template = { metadata: templateMetadata, spec: podSpec };

  const meta = metadata(env, 'app');
  if (podAnnotations) meta.annotations = podAnnotations;
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta, spec: deploymentSpec };
}

export function desiredService(env: EnvironmentModel): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(env, 'app'),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(env),
      ports: ports(env.spec.runtime).map((port) => ({
        name: port.name,
        port: port.containerPort,
        protocol: port.protocol,
        targetPort: port.name,
      })),
    },
  };
}

export function desiredIngress(env: EnvironmentModel): KubeObject {
  const ingress = env.spec.ingress;
  const host = ingress?.host ?? '';
  const firstPort = ports(env.spec.runtime)[0]?.name ?? 'http';
  const spec: Record<string, unknown> = {};
  if (ingress?.className) spec.ingressClassName = ingress.className;
  if (tlsEnabled(env.spec)) spec.tls = [{ hosts: [host], secretName: tlsSecretName(env) }];
  spec.rules = [
    {
      host,
      http: {
        paths: [
          {
            path: ingress?.path ?? '/',
            pathType: 'Prefix',
            backend: { service: { name: env.name, port: { name: firstPort } } },
          },
        ],
      },
    },
  ];
  return { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: metadata(env, 'ingress'), spec };
}

export function desiredCertificate(env: EnvironmentModel): KubeObject {
  const tls = env.spec.ingress?.tls;
  const issuer = tls?.issuerRef;
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: metadata(env, 'certificate'),
    spec: {
      secretName: tlsSecretName(env),
      dnsNames: [env.spec.ingress?.host ?? ''],
      issuerRef: { name: issuer?.name ?? '', kind: issuer?.kind ?? 'ClusterIssuer', group: issuer?.group ?? 'cert-manager.io' },
      privateKey: { rotationPolicy: 'Always' },
    },
  };
}

export function desiredAutoscaler(env: EnvironmentModel): KubeObject {
  const autoscaling = env.spec.runtime?.autoscaling;
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: metadata(env, 'autoscaler'),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: env.name },
      minReplicas: autoscaling?.minReplicas ?? 1,
      maxReplicas: autoscaling?.maxReplicas ?? 5,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: autoscaling?.targetCPUUtilizationPercentage ?? 80 } },
        },
      ],
    },
  };
}

import { nextConditions, type ConditionInput } from '../lib/conditions.ts';
import type { CompositeSyncRequest, CompositeSyncResponse, SyncContext } from '../lib/hook.ts';
import { keepAll } from '../lib/kept.ts';
import { isRecord, objectsOfType, type KubeObject } from '../lib/objects.ts';
import { compileValidator, describeErrors, type FieldError } from '../lib/schema.ts';
import {
  APP_CONTAINER,
  autoscalingEnabled,
  certificateManaged,
  desiredAutoscaler,
  desiredCertificate,
  desiredDeployment,
  desiredIngress,
  desiredService,
  ingressEnabled,
  ports,
  tlsEnabled,
  type EnvironmentModel,
} from './children.ts';
import { EnvironmentSpec } from './types.ts';

const specValidator = compileValidator(EnvironmentSpec);

export type EnvironmentPhase = 'Pending' | 'Building' | 'Deploying' | 'Running' | 'Degraded' | 'Failed';

/** Checks what the schema cannot express; every error names its field. */
export function validateEnvironment(parent: KubeObject): { ok: true; env: EnvironmentModel } | { ok: false; errors: FieldError[] } {
  const name = parent.metadata.name;
  const namespace = parent.metadata.namespace;
  if (!name || !namespace) return { ok: false, errors: [{ path: 'metadata', message: 'name and namespace are required' }] };
  const parsed = specValidator.parse(parent.spec, 'spec');
  if (!parsed.ok) return parsed;
  const spec = parsed.value;
  const errors: FieldError[] = [];
  const portNames = new Set(ports(spec.runtime).map((port) => port.name));
  if (spec.runtime?.ports && new Set(spec.runtime.ports.map((port) => port.name)).size !== spec.runtime.ports.length) {
    errors.push({ path: 'spec.runtime.ports', message: 'port names must be unique' });
  }
  for (const kind of ['readiness', 'liveness', 'startup'] as const) {
    const port = spec.runtime?.probes?.[kind]?.port;
    if (port !== undefined && !portNames.has(port)) {
      errors.push({ path: `spec.runtime.probes.${kind}.port`, message: `names no port of the runtime (${[...portNames].join(', ')})` });
    }
  }
  const autoscaling = spec.runtime?.autoscaling;
  if (autoscaling?.enabled && autoscaling.minReplicas > autoscaling.maxReplicas) {
    errors.push({ path: 'spec.runtime.autoscaling.minReplicas', message: 'must not exceed maxReplicas' });
  }
  if (spec.ingress?.enabled && spec.ingress.host === undefined) {
    errors.push({ path: 'spec.ingress.host', message: 'is required when the ingress is enabled' });
  }
  if (spec.env && new Set(spec.env.map((variable) => variable.name)).size !== spec.env.length) {
    errors.push({ path: 'spec.env', message: 'variable names must be unique' });
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, env: { name, namespace, spec } };
}

/** Every child this Environment should have, given a valid spec. */
export function desiredChildren(env: EnvironmentModel): KubeObject[] {
  const children: KubeObject[] = [];
  // No image means nothing was built yet: no Deployment (and no autoscaler) to make.
  if (env.spec.image !== '') children.push(desiredDeployment(env));
  children.push(desiredService(env));
  if (ingressEnabled(env.spec)) children.push(desiredIngress(env));
  if (certificateManaged(env.spec)) children.push(desiredCertificate(env));
  if (autoscalingEnabled(env.spec) && env.spec.image !== '') children.push(desiredAutoscaler(env));
  return children;
}

function conditionOf(object: KubeObject | undefined, type: string): Record<string, unknown> | undefined {
  const status = object?.status;
  if (!isRecord(status) || !Array.isArray(status.conditions)) return undefined;
  return status.conditions.find((item): item is Record<string, unknown> => isRecord(item) && item.type === type);
}

function numberAt(value: unknown, key: string): number {
  return isRecord(value) && typeof value[key] === 'number' ? value[key] : 0;
}

function observedImage(deployment: KubeObject | undefined): string | undefined {
  const spec = deployment?.spec;
  if (!isRecord(spec) || !isRecord(spec.template) || !isRecord(spec.template.spec)) return undefined;
  const containers = spec.template.spec.containers;
  if (!Array.isArray(containers)) return undefined;
  const app = containers.find((item) => isRecord(item) && item.name === APP_CONTAINER) ?? containers[0];
  return isRecord(app) && typeof app.image === 'string' ? app.image : undefined;
}

function availability(deployment: KubeObject | undefined): ConditionInput {
  if (!deployment) return { type: 'Available', status: 'False', reason: 'NotCreated', message: 'the Deployment does not exist yet' };
  const progressing = conditionOf(deployment, 'Progressing');
  if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded') {
    return { type: 'Available', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'the rollout did not finish in time' };
  }
  const generation = deployment.metadata.generation ?? 0;
  const observedGeneration = numberAt(deployment.status, 'observedGeneration');
  const spec = isRecord(deployment.spec) ? deployment.spec : {};
  const wanted = typeof spec.replicas === 'number' ? spec.replicas : 1;
  const updated = numberAt(deployment.status, 'updatedReplicas');
  const available = numberAt(deployment.status, 'availableReplicas');
  if (observedGeneration < generation || updated < wanted) {
    return { type: 'Available', status: 'False', reason: 'RollingOut', message: `${updated} of ${wanted} replicas updated` };
  }
  if (available < wanted || conditionOf(deployment, 'Available')?.status !== 'True') {
    return { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: `${available} of ${wanted} replicas available` };
  }
  return { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: `${available} of ${wanted} replicas available` };
}

function ingressReadiness(env: EnvironmentModel | undefined, ingress: KubeObject | undefined): ConditionInput {
  if (env && !ingressEnabled(env.spec)) return { type: 'IngressReady', status: 'True', reason: 'NotRequired', message: 'no ingress requested' };
  if (!ingress) return { type: 'IngressReady', status: 'False', reason: 'NotCreated', message: 'the Ingress does not exist yet' };
  const status = ingress.status;
  const balancer = isRecord(status) && isRecord(status.loadBalancer) ? status.loadBalancer.ingress : undefined;
  if (Array.isArray(balancer) && balancer.length > 0) {
    return { type: 'IngressReady', status: 'True', reason: 'AddressAssigned', message: 'the ingress controller published an address' };
  }
  return { type: 'IngressReady', status: 'False', reason: 'AddressPending', message: 'waiting for the ingress controller to publish an address' };
}

function tlsReadiness(env: EnvironmentModel | undefined, certificate: KubeObject | undefined): ConditionInput {
  if (env && !tlsEnabled(env.spec)) return { type: 'TLSReady', status: 'True', reason: 'NotRequired', message: 'TLS is off' };
  if (env && !certificateManaged(env.spec)) {
    return { type: 'TLSReady', status: 'True', reason: 'ProvidedSecret', message: 'the TLS secret is provided outside this environment' };
  }
  if (!certificate) return { type: 'TLSReady', status: 'False', reason: 'NotCreated', message: 'the Certificate does not exist yet' };
  const ready = conditionOf(certificate, 'Ready');
  if (ready?.status === 'True') return { type: 'TLSReady', status: 'True', reason: 'CertificateReady', message: 'the certificate is issued' };
  const reason = typeof ready?.reason === 'string' && /^[A-Za-z][A-Za-z0-9]*$/.test(ready.reason) ? ready.reason : 'Issuing';
  return { type: 'TLSReady', status: 'False', reason, message: 'waiting for cert-manager to issue the certificate' };
}

interface Observed {
  deployment?: KubeObject;
  service?: KubeObject;
  ingress?: KubeObject;
  certificate?: KubeObject;
  autoscaler?: KubeObject;
}

function observedChildren(request: CompositeSyncRequest, name: string | undefined): Observed {
  const pick = (kind: string, apiVersion: string) =>
    objectsOfType(request.children, kind, apiVersion).find((object) => object.metadata.name === name);
  const result: Observed = {};
  const deployment = pick('Deployment', 'apps/v1');
  if (deployment) result.deployment = deployment;
  const service = pick('Service', 'v1');
  if (service) result.service = service;
  const ingress = pick('Ingress', 'networking.k8s.io/v1');
  if (ingress) result.ingress = ingress;
  const certificate = pick('Certificate', 'cert-manager.io/v1');
  if (certificate) result.certificate = certificate;
  const autoscaler = pick('HorizontalPodAutoscaler', 'autoscaling/v2');
  if (autoscaler) result.autoscaler = autoscaler;
  return result;
}

function observedUrls(ingress: KubeObject | undefined): string[] {
  const spec = ingress?.spec;
  if (!isRecord(spec) || !Array.isArray(spec.rules)) return [];
  const tlsHosts = new Set<string>();
  for (const entry of Array.isArray(spec.tls) ? spec.tls : []) {
    if (isRecord(entry) && Array.isArray(entry.hosts)) for (const host of entry.hosts) if (typeof host === 'string') tlsHosts.add(host);
  }
  const urls: string[] = [];
  for (const rule of spec.rules) {
    if (!isRecord(rule) || typeof rule.host !== 'string') continue;
    const paths = isRecord(rule.http) && Array.isArray(rule.http.paths) ? rule.http.paths : [];
    const first = paths.find(isRecord);
    const path = first && typeof first.path === 'string' && first.path !== '/' ? first.path : '';
    urls.push(`${tlsHosts.has(rule.host) ? 'https' : 'http'}://${rule.host}${path}`);
  }
  return urls.sort();
}

function phaseOf(env: EnvironmentModel | undefined, invalid: boolean, available: ConditionInput, hasDeployment: boolean): EnvironmentPhase {
  if (invalid) return hasDeployment ? 'Degraded' : 'Failed';
  if (env && env.spec.image === '' && !hasDeployment) return env.spec.commit ? 'Building' : 'Pending';
  if (available.reason === 'ProgressDeadlineExceeded') return 'Failed';
  if (available.status === 'True') return 'Running';
  return hasDeployment && available.reason === 'MinimumReplicasUnavailable' ? 'Degraded' : 'Deploying';
}

/**
 * The Environment sync hook: `(request, now) -> response`, pure and byte-stable. Children come
 * from the spec; status only from what was observed.
 */
export function syncEnvironment(request: CompositeSyncRequest, context: SyncContext): CompositeSyncResponse {
  const parent = request.parent;
  const validation = validateEnvironment(parent);
  const env = validation.ok ? validation.env : undefined;
  const observed = observedChildren(request, parent.metadata.name);
  // An empty image with a Deployment running means the spec lost its image (a hand edit, say):
  // keep what runs rather than tear it down.
  const keep = !env || (env.spec.image === '' && observed.deployment !== undefined);
  const children = keep ? keepAll(request.children) : desiredChildren(env);

  const available = availability(observed.deployment);
  const ingress = ingressReadiness(env, observed.ingress);
  const tls = tlsReadiness(env, observed.certificate);
  let ready: ConditionInput;
  if (!validation.ok) {
    ready = { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: describeErrors(validation.errors) };
  } else if (env && env.spec.image === '' && !observed.deployment) {
    ready = env.spec.commit
      ? { type: 'Ready', status: 'False', reason: 'Building', message: `waiting for the image of commit ${env.spec.commit}` }
      : { type: 'Ready', status: 'False', reason: 'AwaitingImage', message: 'no image has been built for this environment yet' };
  } else {
    const failing = [available, ingress, tls].find((condition) => condition.status !== 'True');
    ready = failing
      ? { type: 'Ready', status: 'False', reason: failing.reason, message: `${failing.type}: ${failing.message}` }
      : { type: 'Ready', status: 'True', reason: 'Running', message: 'the environment is serving' };
  }

  const previousStatus = isRecord(parent.status) ? parent.status : {};
  const generation = parent.metadata.generation;
  const resources: Record<string, string> = {};
  if (observed.deployment) resources.deployment = observed.deployment.metadata.name ?? '';
  if (observed.service) resources.service = observed.service.metadata.name ?? '';
  if (observed.ingress) resources.ingress = observed.ingress.metadata.name ?? '';
  if (observed.certificate) resources.certificate = observed.certificate.metadata.name ?? '';
  if (observed.autoscaler) resources.horizontalPodAutoscaler = observed.autoscaler.metadata.name ?? '';

  const status: Record<string, unknown> = {};
  if (generation !== undefined) status.observedGeneration = generation;
  status.phase = phaseOf(env, !validation.ok, available, observed.deployment !== undefined);
  const image = observedImage(observed.deployment);
  if (image) status.image = image;
  status.urls = observedUrls(observed.ingress);
  status.resources = resources;
  status.conditions = nextConditions(
    Array.isArray(previousStatus.conditions) ? previousStatus.conditions : undefined,
    [ready, available, ingress, tls],
    context.now,
    generation,
  );
  return { status, children };
}

/**
 * The Registry controller: a status-only Metacontroller controller with a periodic probe.
 *
 * customize names the push-credentials Secret as a related resource; sync reads it from
 * `related`, probes the registry (the one side effect, injectable) and reports
 * `status.verified` plus a Ready condition. The Registry has no children.
 *
 * No churn: a sync that observes the same result as the previous one returns byte-identical
 * status. `lastVerified` is the time the current result was first observed and is carried over
 * from the parent's status while the result (verified, reason, message) stays the same; the
 * conditions' lastTransitionTime moves only when their status moves (nextConditions).
 */
import { X509Certificate } from 'node:crypto';
import type { Condition, ConditionInput } from '../lib/conditions.ts';
import { findCondition, formatTime, nextConditions } from '../lib/conditions.ts';
import type { CustomizeResponse } from '../lib/hook.ts';
import type { KubeObject, Secret } from '../lib/objects.ts';
import { isRecord } from '../lib/objects.ts';
import type { RegistryCredentials } from './credentials.ts';
import { parseRegistrySecret } from './credentials.ts';
import { LABEL_REGISTRY_CREDENTIALS } from '../lib/labels.ts';
import { compileValidator } from '../lib/schema.ts';
import { REGISTRY_TYPES, RegistrySpec } from './spec.ts';
import type { Probe, ProbeOptions, ProbeResult } from './probe.ts';
import { probeRegistry, redact } from './probe.ts';

export { REGISTRY_TYPES };
export type RegistryType = (typeof REGISTRY_TYPES)[number];

export const READY = 'Ready';

export type RegistryReason =
  | 'Verified'
  | 'Unauthorized'
  | 'Unreachable'
  | 'TLSError'
  | 'SecretNotFound'
  | 'InvalidSecret'
  | 'InvalidSpec';

/** Hosts besides the registry's own whose https token realm may receive the credentials, per registry type. */
export const TRUSTED_REALM_HOSTS: Partial<Record<RegistryType, readonly string[]>> = {
  dockerhub: ['auth.docker.io'],
};

export interface RegistrySettings {
  type: RegistryType;
  endpoint: string;
  auth: { secretRef: { name: string; namespace: string } };
  imagePullSecret: { name: string; generatePerNamespace: boolean };
  insecureSkipTLSVerify: boolean;
  caBundle?: string;
}

export interface RegistryStatus {
  observedGeneration?: number;
  verified: boolean;
  /** RFC 3339: when the current result (verified, reason, message) was first observed. */
  lastVerified: string;
  conditions: Condition[];
}

export interface RegistryCustomizeRequest {
  controller?: unknown;
  parent?: unknown;
}

export interface RegistryCustomizeConfig {
  /** Kapsa's own namespace: the default namespace of spec.auth.secretRef. */
  kapsaNamespace: string;
}

export interface RegistrySyncRequest {
  controller?: unknown;
  parent?: unknown;
  children?: unknown;
  related?: unknown;
  finalizing?: boolean;
}

export interface RegistrySyncDeps {
  kapsaNamespace: string;
  /** Defaults to probeRegistry; tests inject a fake. */
  probe?: Probe;
  probeTimeoutMs: number;
  resyncSeconds: number;
  now: Date;
}

export interface RegistrySyncResponse {
  status: RegistryStatus;
  children: [];
  resyncAfterSeconds: number;
}

interface Outcome {
  verified: boolean;
  reason: RegistryReason;
  message: string;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_MESSAGE = 1024;

export function registryCustomize(request: RegistryCustomizeRequest, config: RegistryCustomizeConfig): CustomizeResponse {
  // Read leniently: even when another part of the spec is invalid, sync reports the Secret's state.
  const ref = secretRefOf(isRecord(request) ? request.parent : undefined, config.kapsaNamespace);
  if (ref === undefined) return { relatedResources: [] };
  return { relatedResources: [{ apiVersion: 'v1', resource: 'secrets', namespace: ref.namespace, names: [ref.name] }] };
}

export async function registrySync(request: RegistrySyncRequest, deps: RegistrySyncDeps): Promise<RegistrySyncResponse> {
  const parent = isRecord(request) && isRecord(request.parent) ? request.parent : undefined;
  const metadata = parent !== undefined && isRecord(parent.metadata) ? parent.metadata : undefined;
  const generation = typeof metadata?.generation === 'number' ? metadata.generation : undefined;
  const previous = parent !== undefined && isRecord(parent.status) ? parent.status : undefined;
  const resyncAfterSeconds = Number.isFinite(deps.resyncSeconds) && deps.resyncSeconds > 0 ? Math.round(deps.resyncSeconds) : 300;

  const related = isRecord(request) ? request.related : undefined;
  const outcome = await evaluate(parent, related, deps);
  const shared = sharedWithProjects(parent, related, deps.kapsaNamespace);
  return { status: buildStatus(outcome, shared, previous, generation, deps.now), children: [], resyncAfterSeconds };
}

/**
 * Whether Projects can use the push Secret. Their customize hook sees only the Project, so it
 * selects the Secret by the label `kapsa-project.io/registry: <registry>` in Kapsa's namespace;
 * a Secret that works for the probe but lacks the label would leave every Project without it.
 */
function sharedWithProjects(parent: Record<string, unknown> | undefined, related: unknown, kapsaNamespace: string): ConditionInput {
  const type = 'SharedWithProjects';
  const name = isRecord(parent?.metadata) && typeof parent.metadata.name === 'string' ? parent.metadata.name : '';
  const spec = isRecord(parent?.spec) ? parent.spec : {};
  const ref = isRecord(spec.auth) && isRecord(spec.auth.secretRef) ? spec.auth.secretRef : undefined;
  if (!ref || typeof ref.name !== 'string') return { type, status: 'False', reason: 'NoSecret', message: 'no push Secret is configured' };
  const namespace = typeof ref.namespace === 'string' ? ref.namespace : kapsaNamespace;
  if (namespace !== kapsaNamespace) {
    return { type, status: 'False', reason: 'SecretOutsideKapsaNamespace', message: `Projects read push Secrets only from ${kapsaNamespace}` };
  }
  const secret = findSecret(related, namespace, ref.name);
  if (!secret) return { type, status: 'False', reason: 'SecretNotFound', message: `Secret ${namespace}/${ref.name} not found` };
  if (secret.metadata.labels?.[LABEL_REGISTRY_CREDENTIALS] !== name) {
    return { type, status: 'False', reason: 'SecretNotLabelled', message: `label Secret ${namespace}/${ref.name} with ${LABEL_REGISTRY_CREDENTIALS}=${name} so Projects can use it` };
  }
  return { type, status: 'True', reason: 'Labelled', message: `Projects find Secret ${namespace}/${ref.name} by its label` };
}

async function evaluate(parent: Record<string, unknown> | undefined, related: unknown, deps: RegistrySyncDeps): Promise<Outcome> {
  const parsed = parseRegistrySpec(parent, deps.kapsaNamespace);
  if (!parsed.ok) return { verified: false, reason: 'InvalidSpec', message: parsed.message };
  const spec = parsed.spec;

  const { name, namespace } = spec.auth.secretRef;
  const result = parseRegistrySecret(findSecret(related, namespace, name), spec.endpoint);
  if (!result.ok) {
    const message =
      result.reason === 'SecretNotFound' ? `Secret ${namespace}/${name} (spec.auth.secretRef) not found` : `Secret ${namespace}/${name}: ${result.message}`;
    return { verified: false, reason: result.reason, message: limit(message) };
  }
  const credentials: RegistryCredentials = { username: result.username, password: result.password };

  const options: ProbeOptions = {
    endpoint: spec.endpoint,
    credentials,
    timeoutMs: deps.probeTimeoutMs,
    insecureSkipTLSVerify: spec.insecureSkipTLSVerify,
  };
  if (spec.caBundle !== undefined) options.caBundle = spec.caBundle;
  const trusted = TRUSTED_REALM_HOSTS[spec.type];
  if (trusted !== undefined) options.trustedHosts = trusted;

  const secrets = [credentials.password, Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')];
  let probed: ProbeResult;
  try {
    probed = await (deps.probe ?? probeRegistry)(options);
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    return { verified: false, reason: 'Unreachable', message: limit(redact(`probe failed: ${text}`, secrets)) };
  }
  if (!isRecord(probed) || typeof probed.ok !== 'boolean') {
    return { verified: false, reason: 'Unreachable', message: 'probe returned no result' };
  }
  if (probed.ok) return { verified: true, reason: 'Verified', message: `registry ${displayEndpoint(spec.endpoint)} accepted the credentials` };
  const reason: RegistryReason = probed.reason === 'Unauthorized' || probed.reason === 'TLSError' ? probed.reason : 'Unreachable';
  const message = typeof probed.message === 'string' && probed.message !== '' ? probed.message : `probe failed: ${reason}`;
  return { verified: false, reason, message: limit(redact(message, secrets)) };
}

function buildStatus(
  outcome: Outcome,
  shared: ConditionInput,
  previous: Record<string, unknown> | undefined,
  generation: number | undefined,
  now: Date,
): RegistryStatus {
  const previousConditions = Array.isArray(previous?.conditions) ? (previous.conditions as unknown[]) : undefined;
  const previousReady = findCondition(previousConditions, READY);
  const previousLastVerified = typeof previous?.lastVerified === 'string' ? previous.lastVerified : undefined;
  const sameResult =
    previousReady !== undefined &&
    previous?.verified === outcome.verified &&
    previousReady.status === (outcome.verified ? 'True' : 'False') &&
    previousReady.reason === outcome.reason &&
    previousReady.message === outcome.message;
  const lastVerified = sameResult && previousLastVerified !== undefined ? previousLastVerified : formatTime(now);

  const ready: ConditionInput = {
    type: READY,
    status: outcome.verified ? 'True' : 'False',
    reason: outcome.reason,
    message: outcome.message,
  };
  // Key order is fixed so equal statuses serialize to equal bytes.
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    verified: outcome.verified,
    lastVerified,
    conditions: nextConditions(previousConditions, [ready, shared], now, generation),
  };
}

// ---------------------------------------------------------------------------------------------
// Spec

export type ParsedRegistrySettings = { ok: true; spec: RegistrySettings } | { ok: false; message: string };

const specValidator = compileValidator(RegistrySpec);

/**
 * Validates a Registry parent with the same schema the CRD is generated from (so this controller
 * and the Project hook never disagree about a Registry), plus what a schema cannot say: the
 * endpoint parses as a URL without credentials, and a caBundle holds certificates. Never throws.
 */
export function parseRegistrySpec(parent: unknown, kapsaNamespace: string): ParsedRegistrySettings {
  if (!isRecord(parent)) return { ok: false, message: 'the Registry object is missing' };
  const raw = parent.spec;
  if (raw === undefined || raw === null) return { ok: false, message: 'spec is missing' };
  if (!isRecord(raw)) return { ok: false, message: 'spec must be an object' };
  const problems: string[] = [];
  let endpoint = '';
  if (typeof raw.endpoint === 'string' && raw.endpoint !== '') {
    const checked = checkEndpoint(raw.endpoint);
    if (checked.ok) endpoint = checked.endpoint;
    else problems.push(checked.message);
  }
  let caBundle: string | undefined;
  if (typeof raw.caBundle === 'string' && raw.caBundle !== '') {
    caBundle = readCaBundle(raw.caBundle);
    if (caBundle === undefined) problems.push('spec.caBundle must hold PEM certificates (or base64 of PEM)');
  }
  const parsed = specValidator.parse(raw, 'spec');
  if (!parsed.ok) {
    // The endpoint's own message above says more than its pattern does.
    const reported = new Set(problems.map((problem) => problem.split(' ')[0]));
    problems.push(...parsed.errors.filter((error) => !reported.has(error.path)).map((error) => `${error.path}: ${error.message}`));
  }
  if (problems.length > 0 || !parsed.ok) return { ok: false, message: limit(`invalid spec: ${problems.join('; ')}`) };
  const spec = parsed.value;
  const result: RegistrySettings = {
    type: spec.type,
    endpoint,
    auth: { secretRef: { name: spec.auth.secretRef.name, namespace: spec.auth.secretRef.namespace ?? kapsaNamespace } },
    imagePullSecret: { name: spec.imagePullSecret.name, generatePerNamespace: spec.imagePullSecret.generatePerNamespace },
    insecureSkipTLSVerify: spec.insecureSkipTLSVerify,
  };
  if (caBundle !== undefined) result.caBundle = caBundle;
  return { ok: true, spec: result };
}

function checkEndpoint(text: string): { ok: true; endpoint: string } | { ok: false; message: string } {
  const trimmed = text.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return { ok: false, message: 'spec.endpoint is not a valid URL' };
  }
  if (url.username !== '' || url.password !== '') {
    return { ok: false, message: 'spec.endpoint must not contain credentials; use spec.auth.secretRef' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, message: 'spec.endpoint must be an http:// or https:// URL' };
  if (url.search !== '' || url.hash !== '') return { ok: false, message: 'spec.endpoint must not have a query or fragment' };
  return { ok: true, endpoint: withScheme };
}

function readCaBundle(text: string): string | undefined {
  let pem = text;
  if (!pem.includes('-----BEGIN')) {
    const compact = pem.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return undefined;
    pem = Buffer.from(compact, 'base64').toString('utf8');
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks || blocks.length === 0) return undefined;
  try {
    for (const block of blocks) new X509Certificate(block);
  } catch {
    return undefined;
  }
  return `${blocks.join('\n')}\n`;
}

/** The Secret named by spec.auth.secretRef, read without validating the rest of the spec. */
function secretRefOf(parent: unknown, kapsaNamespace: string): { name: string; namespace: string } | undefined {
  if (!isRecord(parent) || !isRecord(parent.spec) || !isRecord(parent.spec.auth)) return undefined;
  const ref = parent.spec.auth.secretRef;
  if (!isRecord(ref)) return undefined;
  const name = ref.name;
  const namespace = ref.namespace === undefined || ref.namespace === null || ref.namespace === '' ? kapsaNamespace : ref.namespace;
  if (typeof name !== 'string' || name.length > 253 || !DNS_SUBDOMAIN.test(name)) return undefined;
  if (typeof namespace !== 'string' || namespace.length > 63 || !DNS_LABEL.test(namespace)) return undefined;
  return { name, namespace };
}

function findSecret(related: unknown, namespace: string, name: string): Secret | undefined {
  if (!isRecord(related)) return undefined;
  const group = related['Secret.v1'];
  if (!isRecord(group)) return undefined;
  const direct = group[`${namespace}/${name}`];
  if (isRecord(direct)) return direct as unknown as Secret;
  for (const key of Object.keys(group).sort()) {
    const candidate = group[key];
    if (!isRecord(candidate) || !isRecord(candidate.metadata)) continue;
    const meta = (candidate as unknown as KubeObject).metadata;
    if (meta.name === name && (meta.namespace ?? namespace) === namespace) return candidate as unknown as Secret;
  }
  return undefined;
}

function displayEndpoint(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    return `${url.protocol}//${url.host}`;
  } catch {
    return 'endpoint';
  }
}

function limit(message: string): string {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}...` : message;
}

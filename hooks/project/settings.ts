import type { Config } from '../server/config.ts';

/** What the Project hook takes from the service configuration; passed in, never read from the environment. */
export interface ProjectSettings {
  namespacePrefix: string;
  reservedNamespaces: readonly string[];
  kapsaNamespace: string;
  metacontrollerNamespace: string;
  kpackClusterBuilder: string;
  buildServiceAccount: string;
  buildkitImage: string;
  ingressClass: string;
  defaultPollIntervalSeconds: number;
  rolloutTimeoutSeconds: number;
  /** Derives each Project's push-webhook token; empty when push webhooks are off. */
  receiverKey: string;
  /** Base URL forges send pushes to; empty when unknown. */
  receiverUrl: string;
}

export function projectSettings(config: Config): ProjectSettings {
  return {
    namespacePrefix: config.projectNamespacePrefix,
    reservedNamespaces: config.reservedNamespaces,
    kapsaNamespace: config.namespace,
    metacontrollerNamespace: config.metacontrollerNamespace,
    kpackClusterBuilder: config.kpackClusterBuilder,
    buildServiceAccount: config.kpackServiceAccount,
    buildkitImage: config.buildkitImage,
    ingressClass: config.ingressClass,
    defaultPollIntervalSeconds: config.defaultPollIntervalSeconds,
    rolloutTimeoutSeconds: config.reconciliationTimeoutSeconds,
    receiverKey: config.receiverKey,
    receiverUrl: config.receiverUrl,
  };
}

export function projectNamespace(project: string, settings: ProjectSettings): string {
  return `${settings.namespacePrefix}${project}`;
}

/** Namespaces no Project may take: the system's, Kapsa's, Metacontroller's and the configured ones. */
export function namespaceReservation(name: string, settings: ProjectSettings): string | undefined {
  if (name === 'default' || name.startsWith('kube-')) return `${name} is a Kubernetes system namespace`;
  if (name === settings.kapsaNamespace) return `${name} is Kapsa's own namespace`;
  if (name === settings.metacontrollerNamespace) return `${name} is Metacontroller's namespace`;
  if (settings.reservedNamespaces.includes(name)) return `${name} is reserved by the platform`;
  if (name.length > 63) return `${name} is longer than 63 characters`;
  return undefined;
}

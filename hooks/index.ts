/**
 * Kapsa's hooks as a library: `import { syncProject } from 'kapsa'`. Every hook is a function of
 * a Metacontroller v2 request (and the clock and settings it is handed) to its reply; the service
 * is a thin HTTP layer over these. Importing this module starts nothing, reads no environment
 * and does no I/O; only registrySync does I/O when called (its probe), and it takes the probe
 * as an argument too.
 */

// The pure hooks: same request, same clock, same settings, byte-identical reply.
export { syncProject, type ProjectSyncContext } from './project/sync.ts';
export { customizeProject, gitSecretRules, syncProjectClaims } from './project/customize.ts';
export { syncEnvironment } from './environment/sync.ts';
export { customizeDomainPool, syncDomainPool, type DomainPoolSettings } from './domainpool/sync.ts';
export {
  registryCustomize,
  type RegistryCustomizeConfig,
  type RegistryCustomizeRequest,
  type RegistryReason,
  type RegistryStatus,
  type RegistrySyncRequest,
  type RegistrySyncResponse,
} from './registry/sync.ts';

// The registry hook probes the registry's credentials when called; pass `probe` to decide what
// it finds. (The git poller's sync is not here: it is I/O through and through, and its git client
// reads the environment as it loads.)
export { registrySync, type RegistrySyncDeps } from './registry/sync.ts';
export type { Probe, ProbeOptions, ProbeResult } from './registry/probe.ts';

// Metacontroller's hook v2 envelopes and the objects in them.
export type {
  CompositeSyncRequest,
  CompositeSyncResponse,
  CustomizeRequest,
  CustomizeResponse,
  DecoratorSyncRequest,
  DecoratorSyncResponse,
  RelatedResourceRule,
  SyncContext,
} from './lib/hook.ts';
export { groupObjects, typeKey, type KubeObject, type ObjectMeta, type ObjectsByType, type Secret } from './lib/objects.ts';
export type { Condition, ConditionStatus } from './lib/conditions.ts';

// The spec types: each TypeBox schema (the CRDs' openAPIV3Schema) and its static type share a name.
export { ProjectSpec, type ProjectEnvironmentSpec } from './project/types.ts';
export { EnvironmentSpec, type PortSpec, type ProbeSpec, type RuntimeSpec } from './environment/types.ts';
export { DomainPoolSpec } from './domainpool/types.ts';
export { REGISTRY_TYPES, RegistrySpec } from './registry/spec.ts';

// Settings: the KAPSA_* table with its defaults, and the part of it each hook takes.
export { ConfigError, defaultConfig, loadConfig, SETTINGS, type Config } from './server/config.ts';
export { projectSettings, type ProjectSettings } from './project/settings.ts';

import { customizeDomainPool, syncDomainPool } from '../domainpool/sync.ts';
import { syncEnvironment } from '../environment/sync.ts';
import type { CompositeSyncRequest, CustomizeRequest, DecoratorSyncRequest } from '../lib/hook.ts';
import { isRecord } from '../lib/objects.ts';
import { gitPollerSync } from '../git-poller/sync.ts';
import { PollScheduler } from '../git-poller/scheduler.ts';
import { ANNOTATION_POLL_ERROR } from '../lib/labels.ts';
import { registryCustomize, registrySync, type RegistrySyncRequest } from '../registry/sync.ts';
import { customizeProject, gitCredentials, gitSecretRules, syncProjectClaims } from '../project/customize.ts';
import { projectSettings } from '../project/settings.ts';
import { syncProject } from '../project/sync.ts';
import type { Config } from './config.ts';
import type { EnvelopeKind } from './envelopes.ts';
import type { Logger } from './logger.ts';
import { PhaseTracker, type Metrics } from './metrics.ts';

export interface HookContext {
  log: Logger;
  now: Date;
}

/** One `POST /hooks/<controller>/<hook>` route. */
export interface HookRoute {
  controller: string;
  hook: 'sync' | 'customize' | 'finalize';
  envelope: EnvelopeKind;
  handle(body: unknown, context: HookContext): unknown;
}

export interface HookDependencies {
  config: Config;
  metrics: Metrics;
  /** The service clock; the poll scheduler keeps its intervals on it too. */
  clock?: () => Date;
}

function objectKey(request: CompositeSyncRequest): string {
  const { namespace, name } = request.parent.metadata;
  return `${namespace ?? ''}/${name ?? ''}`;
}

/** `branch@commit` of every build record in a Project status. */
function buildRecords(status: unknown): Set<string> {
  if (!isRecord(status) || !Array.isArray(status.builds)) return new Set();
  return new Set(status.builds.filter(isRecord).map((record) => `${String(record.branch)}@${String(record.commit)}`));
}

/** Every hook the service answers, wired to its pure function (or, for the pollers, its I/O). */
export function hookRoutes({ config, metrics, clock = () => new Date() }: HookDependencies): HookRoute[] {
  const environmentPhases = new PhaseTracker(metrics.environmentsTotal);
  const projectPhases = new PhaseTracker(metrics.projectsTotal);
  const settings = projectSettings(config);
  // One scheduler per process: it is what keeps each repository to one poll per interval.
  const scheduler = new PollScheduler({
    maxConcurrent: config.gitMaxConcurrentPolls,
    reconcileMinIntervalSeconds: config.reconcileMinIntervalSeconds,
    now: () => clock().getTime(),
  });
  return [
    {
      controller: 'project',
      hook: 'customize',
      envelope: 'customize',
      handle: (body) => customizeProject(body as CustomizeRequest, settings),
    },
    {
      controller: 'project',
      hook: 'sync',
      envelope: 'composite',
      handle(body, { now }) {
        const request = body as CompositeSyncRequest;
        const started = process.hrtime.bigint();
        let result = 'error';
        try {
          const reply = syncProject(request, { now, settings });
          const conditions = Array.isArray(reply.status.conditions) ? reply.status.conditions : [];
          const ready = conditions.find((item) => isRecord(item) && item.type === 'Ready');
          result = isRecord(ready) && ready.status === 'True' ? 'ready' : isRecord(ready) && ready.reason === 'InvalidSpec' ? 'invalid' : 'not_ready';
          if (request.finalizing) projectPhases.forget(objectKey(request));
          else projectPhases.observe(objectKey(request), String(reply.status.phase));
          // A build counts once: when its record first appears in the status history.
          const before = buildRecords(request.parent.status);
          const declared = isRecord(request.parent.spec) && isRecord(request.parent.spec.build) ? request.parent.spec.build.strategy : undefined;
          const strategy = declared === 'dockerfile' ? 'dockerfile' : 'buildpacks';
          for (const record of buildRecords(reply.status)) if (!before.has(record)) metrics.buildsTotal.inc({ strategy, result: 'succeeded' });
          return reply;
        } finally {
          metrics.projectReconcileTotal.inc({ result });
          metrics.projectReconcileDuration.observe({ result }, Number(process.hrtime.bigint() - started) / 1e9);
        }
      },
    },
    {
      controller: 'git-poller',
      hook: 'customize',
      envelope: 'customize',
      handle: (body) => ({ relatedResources: gitSecretRules((body as CustomizeRequest).parent, settings) }),
    },
    {
      controller: 'git-poller',
      hook: 'sync',
      envelope: 'decorator',
      async handle(body, { log }) {
        const reply = await gitPollerSync(body as DecoratorSyncRequest, {
          scheduler,
          policy: { allowHttp: config.gitAllowHttp, allowedHosts: config.gitAllowedHosts },
          defaultPollIntervalSeconds: config.defaultPollIntervalSeconds,
          timeoutMs: config.gitTimeoutSeconds * 1000,
          maxTracked: config.gitMaxTrackedBranches,
          resolveCredentials: (project, related) => gitCredentials(project, related, settings),
          log,
        });
        const failure = reply.annotations?.[ANNOTATION_POLL_ERROR];
        metrics.gitPollTotal.inc({ result: typeof failure === 'string' ? (failure.split(':')[0] ?? 'error') : 'ok' });
        return reply;
      },
    },
    {
      controller: 'domainpool',
      hook: 'customize',
      envelope: 'customize',
      handle: (body) => customizeDomainPool(body as CustomizeRequest, { kapsaNamespace: config.namespace }),
    },
    {
      controller: 'domainpool',
      hook: 'sync',
      envelope: 'composite',
      handle: (body, { now }) => syncDomainPool(body as CompositeSyncRequest, { now, settings: { kapsaNamespace: config.namespace } }),
    },
    {
      controller: 'registry',
      hook: 'customize',
      envelope: 'customize',
      handle: (body) => registryCustomize(body as CustomizeRequest, { kapsaNamespace: config.namespace }),
    },
    {
      controller: 'registry',
      hook: 'sync',
      envelope: 'composite',
      handle: (body, { now }) =>
        registrySync(body as RegistrySyncRequest, {
          kapsaNamespace: config.namespace,
          probeTimeoutMs: config.registryProbeTimeoutSeconds * 1000,
          resyncSeconds: config.registryProbeIntervalSeconds,
          now,
        }),
    },
    {
      controller: 'project-claims',
      hook: 'sync',
      envelope: 'decorator',
      handle: (body) => syncProjectClaims(body as DecoratorSyncRequest),
    },
    {
      controller: 'environment',
      hook: 'sync',
      envelope: 'composite',
      handle(body, { now }) {
        const request = body as CompositeSyncRequest;
        const reply = syncEnvironment(request, { now });
        if (request.finalizing) environmentPhases.forget(objectKey(request));
        else environmentPhases.observe(objectKey(request), String(reply.status.phase));
        return reply;
      },
    },
  ];
}

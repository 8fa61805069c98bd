import { syncEnvironment } from '../environment/sync.ts';
import type { CompositeSyncRequest } from '../lib/hook.ts';
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
}

function objectKey(request: CompositeSyncRequest): string {
  const { namespace, name } = request.parent.metadata;
  return `${namespace ?? ''}/${name ?? ''}`;
}

/** Every hook the service answers, wired to its pure function (or, for the pollers, its I/O). */
export function hookRoutes({ metrics }: HookDependencies): HookRoute[] {
  const environmentPhases = new PhaseTracker(metrics.environmentsTotal);
  return [
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

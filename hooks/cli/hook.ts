import { extname } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { secretValues } from '../server/app.ts';
import type { Config } from '../server/config.ts';
import { handleHook, HookRefusal, oneLine, parseHookBody } from '../server/handle-hook.ts';
import { createLogger } from '../server/logger.ts';
import { createMetrics } from '../server/metrics.ts';
import { hookRoutes, type HookRoute } from '../server/routes.ts';

/**
 * `kapsa hook <controller>/<hook> [file|-]`: one Metacontroller request in, the reply the service
 * would send out, byte for byte. It runs the service's own path (handleHook with the service's
 * route table and settings), so what it prints is what Metacontroller would get.
 */

/**
 * Hooks whose answer depends on the network. `kapsa hook` refuses them rather than poll a git
 * server or a registry from a laptop or a CI job: their output would not be reproducible, and the
 * pure hooks downstream read what they found from annotations and status, which a request can carry.
 */
export const NETWORK_HOOKS: Readonly<Record<string, string>> = {
  'git-poller/sync': 'git-poller/sync polls the git server over the network',
  'registry/sync': "registry/sync probes the registry's credentials over the network",
};

export interface HookCommandResult {
  /** 0: answered; 1: the hook failed; 2: the request or the command is wrong. */
  exitCode: 0 | 1 | 2;
  stdout: string;
  stderr: string;
}

export interface HookCommandOptions {
  now: Date;
  config: Config;
}

const refused = (message: string): HookCommandResult => ({ exitCode: 2, stdout: '', stderr: `kapsa: ${message}\n` });

/** The request as the JSON text the service would receive: JSON as it is, YAML converted. */
function requestText(text: string, source: string): string {
  const extension = extname(source).toLowerCase();
  const looksLikeJson = extension === '.json' || (extension !== '.yaml' && extension !== '.yml' && text.trimStart().startsWith('{'));
  if (looksLikeJson) return text;
  const documents = parseAllDocuments(text);
  const list = Array.isArray(documents) ? documents : [documents];
  const error = list.flatMap((document) => document.errors)[0];
  if (error) throw new HookRefusal(400, `${source}: not valid YAML: ${oneLine(error.message.split('\n')[0] ?? 'parse error')}`);
  if (list.length > 1) throw new HookRefusal(400, `${source}: holds ${list.length} YAML documents; a request is one`);
  // An empty document is an empty body, refused below exactly as the service refuses one.
  const value: unknown = list[0]?.toJS();
  return value === undefined || value === null ? '' : JSON.stringify(value);
}

/** Every hook `kapsa hook` can run, as `controller/hook`. */
export function hookNames(routes: readonly HookRoute[]): string[] {
  return routes.map((route) => `${route.controller}/${route.hook}`);
}

/** Answers one request the way the service does; the caller prints the result and exits with its code. */
export async function runHook(name: string, text: string, source: string, options: HookCommandOptions): Promise<HookCommandResult> {
  // The service's route table, on a clock pinned to `now` and metrics nobody reads.
  const routes = hookRoutes({ config: options.config, metrics: createMetrics(false), clock: () => options.now });
  const route = routes.find((candidate) => `${candidate.controller}/${candidate.hook}` === name);
  if (!route) return refused(`no hook ${name}; the hooks are ${hookNames(routes).join(', ')}`);
  const network = NETWORK_HOOKS[name];
  if (network) return refused(`${network}; kapsa hook runs only the hooks that need no network (the library's gitPollerSync and registrySync take their I/O as arguments)`);

  let body: unknown;
  try {
    const json = requestText(text, source);
    if (Buffer.byteLength(json) > options.config.bodyLimitBytes) throw new HookRefusal(413, 'Request body is too large');
    body = parseHookBody(json);
  } catch (error) {
    if (error instanceof HookRefusal) return refused(error.message);
    throw error;
  }

  // Hook logs go to stderr, warnings and worse only, so stdout stays the reply alone.
  const log = createLogger({ level: 'warn', format: 'json' }, process.stderr);
  try {
    const answer = await handleHook(route, body, { log, now: options.now });
    if (!answer.ok) return refused(answer.message);
    // No newline: these are the bytes of the HTTP reply body.
    return { exitCode: 0, stdout: answer.body, stderr: '' };
  } catch (error) {
    // The service logs this failure with every Secret value of the request scrubbed; so does this.
    let message = oneLine((error as Error).message);
    for (const secret of secretValues(body)) message = message.split(secret).join('[REDACTED]');
    return { exitCode: 1, stdout: '', stderr: `kapsa: ${name} failed: ${message}\n` };
  }
}

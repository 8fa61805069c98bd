/**
 * `POST /receivers/projects/<project>`: a forge's push webhook for one Project. The request is
 * checked in an order that keeps an unauthenticated caller cheap and blind: headers first (no API
 * call), then one cached lookup of the Project, then the signature over the raw bytes, and only
 * then is the body parsed. A verified push sets the reconcile annotation on every Project of that
 * repository that tracks a pushed branch; the git poller does the rest.
 */
import { createHash } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Counter } from 'prom-client';
import { trackedBranches } from '../git-poller/tracked.ts';
import { isDnsLabel } from '../lib/names.ts';
import { isRecord } from '../lib/objects.ts';
import { ANNOTATION_RECONCILE_REQUESTED, projectWebhookToken, repositoryHash } from '../lib/repository-identity.ts';
import { MAX_NESTING_DEPTH, nestedDeeperThan } from '../lib/schema.ts';
import { oneLine } from '../server/handle-hook.ts';
import { detectForge, eventKind, eventsToSend, FORGES, hasSignature, parsePush, signatureHeader, verifySignature, type Forge } from './forges.ts';
import { CachedProjectLookup, DeliveryMemory, type ProjectStore, type ProjectView } from './projects.ts';

export const RECEIVER_PREFIX = '/receivers';

export interface ReceiverOptions {
  /** Empty: push webhooks are off and every receiver path answers 404. */
  receiverKey: string;
  bodyLimitBytes: number;
  /** Needed when receiverKey is set. */
  store?: ProjectStore;
  requests: Counter<'forge' | 'outcome'>;
  clock: () => Date;
  /** Overrides of the lookup cache's bounds, for tests. */
  lookup?: ConstructorParameters<typeof CachedProjectLookup>[1];
}

type Outcome =
  | 'accepted'
  | 'ignored'
  | 'ping'
  | 'unauthorized'
  | 'replayed'
  | 'bad_request'
  | 'unknown_event'
  | 'wrong_repository'
  | 'too_large'
  | 'unsupported_media_type'
  | 'busy'
  | 'disabled'
  | 'error';

/** The same answer for an unknown Project and a wrong signature: no oracle for Project names. */
const NOT_VERIFIED = 'the signature does not match this Project\'s webhook token';

/**
 * Registers the receiver routes in their own fastify context: their own body parsers (the raw
 * bytes, for the signature), body limit and error handler. The routes are `open` to the hook
 * token: the forge's signature is their authentication.
 */
export function registerReceiver(app: FastifyInstance, options: ReceiverOptions): void {
  const requests = options.requests;
  const enabled = options.receiverKey !== '' && options.store !== undefined;
  const lookup = options.store ? new CachedProjectLookup(options.store, options.lookup) : undefined;
  const deliveries = new DeliveryMemory();

  app.register(
    async (scope) => {
      scope.removeAllContentTypeParsers();
      // Signatures cover the bytes as sent: keep them whole and parse only after verifying.
      scope.addContentTypeParser(['application/json', 'application/x-www-form-urlencoded'], { parseAs: 'buffer', bodyLimit: options.bodyLimitBytes }, (_request, body, done) =>
        done(null, body),
      );

      const answer = (request: FastifyRequest, reply: FastifyReply, forge: Forge | 'unknown', outcome: Outcome, status: number, message: string, extra: Record<string, unknown> = {}) => {
        requests.inc({ forge, outcome });
        const project = (request.params as { project?: string }).project;
        const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
        // Never the headers: they carry the token (GitLab) or a signature.
        request.log[level]({ receiver: forge, outcome, statusCode: status, project, reason: message }, 'push webhook');
        return reply.code(status).send(status >= 400 ? { error: errorName(status), message } : { status: outcome, message, ...extra });
      };

      scope.setErrorHandler((error: FastifyError, request, reply) => {
        const forge = forgeOf(request);
        const status = error.statusCode ?? 500;
        if (status === 413) return answer(request, reply, forge, 'too_large', 413, `the body is larger than ${options.bodyLimitBytes} bytes (KAPSA_RECEIVER_BODY_LIMIT)`);
        if (status === 415) return answer(request, reply, forge, 'unsupported_media_type', 415, 'send application/json (or GitHub\'s application/x-www-form-urlencoded)');
        if (status >= 400 && status < 500) return answer(request, reply, forge, 'bad_request', status, oneLine(error.message).slice(0, 200));
        request.log.error({ err: { type: error.name, message: error.message } }, 'push webhook failed');
        return answer(request, reply, forge, 'error', 500, 'the webhook could not be handled; see the service log');
      });

      scope.post<{ Params: { project: string } }>(
        '/projects/:project',
        {
          config: { open: true },
          bodyLimit: options.bodyLimitBytes,
          // Off: answer before reading a byte of the body, as for a path that does not exist.
          onRequest: async (request, reply) => {
            if (enabled) return;
            requests.inc({ forge: 'unknown', outcome: 'disabled' });
            return reply.code(404).send({ error: 'Not Found', message: `no route POST ${request.url.split('?')[0]}` });
          },
        },
        async (request, reply) => {
          const detected = detectForge(request.headers);
          if ('error' in detected) return answer(request, reply, 'unknown', 'bad_request', 400, detected.error);
          const { forge, event, delivery } = detected;
          const kind = eventKind(forge, event);
          if (kind === 'unknown') return answer(request, reply, forge, 'unknown_event', 400, `event "${event.slice(0, 64)}" is not handled; send ${eventsToSend(forge)} events`);
          if (!hasSignature(forge, request.headers)) return answer(request, reply, forge, 'unauthorized', 401, `no ${signatureHeader(forge)} header: set the webhook secret to this Project's token`);

          const name = request.params.project;
          // A name the API server could not hold costs no lookup.
          const found = isDnsLabel(name) ? await (lookup as CachedProjectLookup).get(name) : undefined;
          if (found === 'busy') return answer(request, reply, forge, 'busy', 429, 'too many webhook requests at once; try again');
          const raw = request.body as Buffer;
          // An unknown Project still costs an HMAC, so the answer's timing does not tell it apart.
          const token = projectWebhookToken(options.receiverKey, found?.uid ?? 'no-such-project');
          const nowSeconds = Math.floor(options.clock().getTime() / 1000);
          const verified = verifySignature(forge, request.headers, raw, token, nowSeconds, delivery);
          if (!found || !verified.ok) {
            if (verified.ok === false && verified.reason === 'stale' && found) {
              return answer(request, reply, forge, 'replayed', 401, 'the X-Kapsa-Signature timestamp is more than 5 minutes from the receiver\'s clock');
            }
            return answer(request, reply, forge, 'unauthorized', 401, NOT_VERIFIED);
          }
          // Keyed per Project: one delivery id is one forge hook, which belongs to one Project.
          const replayKey = `${found.uid}/${verified.replayKey}`;
          if (!deliveries.remember(replayKey)) return answer(request, reply, forge, 'replayed', 409, 'this delivery was already received');
          try {
            const handled = await handleVerified(request, reply, forge, kind, found, raw, deliveryLabel(delivery, verified.replayKey));
            return handled;
          } catch (error) {
            deliveries.forget(replayKey);
            throw error;
          }
        },
      );

      async function handleVerified(request: FastifyRequest, reply: FastifyReply, forge: Forge, kind: 'push' | 'ping' | 'tag-push', project: ProjectView, raw: Buffer, delivery: string) {
        if (kind === 'ping') return answer(request, reply, forge, 'ping', 200, 'the signature matches; push events will reconcile this Project');
        const payload = parsePayload(request.headers['content-type'], raw);
        if ('error' in payload) return answer(request, reply, forge, 'bad_request', 400, payload.error);
        if (kind === 'tag-push') return answer(request, reply, forge, 'ignored', 200, 'tags are not tracked; nothing to reconcile', { projects: 0 });
        const push = parsePush(forge, payload.value);
        if ('error' in push) return answer(request, reply, forge, 'bad_request', 400, push.error);

        const projectHash = repositoryHash(projectRepositoryUrl(project.spec));
        if (projectHash === undefined || !push.repositoryUrls.some((url) => repositoryHash(url) === projectHash)) {
          return answer(request, reply, forge, 'wrong_repository', 422, 'the pushed repository is not this Project\'s spec.repository.url');
        }
        if (push.tagsOnly) return answer(request, reply, forge, 'ignored', 200, 'tags are not tracked; nothing to reconcile', { projects: 0 });

        // The Projects of this repository by label, plus this one in case its label is not yet
        // written; each checked against its own URL, since a label is only a hint.
        const listed = await (options.store as ProjectStore).listByRepository(projectHash);
        const candidates = new Map<string, ProjectView>([[project.name, project], ...listed.map((view) => [view.name, view] as const)]);
        const value = `${options.clock().toISOString()} ${delivery}`;
        let patched = 0;
        for (const candidate of [...candidates.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
          if (repositoryHash(projectRepositoryUrl(candidate.spec)) !== projectHash) continue;
          if (!push.branches.some((branch) => tracksBranch(candidate.spec, branch))) continue;
          await (options.store as ProjectStore).annotate(candidate.name, ANNOTATION_RECONCILE_REQUESTED, value);
          patched += 1;
        }
        // A count, not names: the sender may not see the other tenants' Projects of a shared repository.
        return answer(request, reply, forge, patched > 0 ? 'accepted' : 'ignored', 202, patched > 0 ? 'reconcile requested' : 'no Project tracks the pushed branch', { projects: patched });
      }
    },
    { prefix: RECEIVER_PREFIX },
  );

  // Every label pair exists from the start, so a dashboard sees zeros rather than gaps.
  for (const forge of [...FORGES, 'unknown']) requests.inc({ forge, outcome: 'accepted' }, 0);
}

/**
 * Whether a Project tracks `branch`: the poller's own rule (environment branches, then preview
 * include/exclude), asked about a remote that has only that branch. A deleted branch counts too:
 * the poll is what removes its preview.
 */
export function tracksBranch(spec: unknown, branch: string): boolean {
  return Object.hasOwn(trackedBranches(spec, { [branch]: 'pushed' }, { maxTracked: 1 }).heads, branch);
}

function projectRepositoryUrl(spec: unknown): string {
  const repository = isRecord(spec) && isRecord(spec.repository) ? spec.repository : {};
  return typeof repository.url === 'string' ? repository.url : '';
}

/**
 * What tells this delivery apart in the annotation value: the forge's delivery id, short and
 * plain; without one, a digest of what identified it (never a signature itself).
 */
function deliveryLabel(delivery: string | undefined, replayKey: string): string {
  const plain = (delivery ?? '').replace(/[^A-Za-z0-9._{}-]/g, '').slice(0, 80);
  return plain !== '' ? plain : createHash('sha256').update(replayKey).digest('hex').slice(0, 16);
}

function parsePayload(contentType: string | undefined, raw: Buffer): { value: unknown } | { error: string } {
  let text = raw.toString('utf8');
  if ((contentType ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    const payload = new URLSearchParams(text).get('payload');
    if (payload === null) return { error: 'a form-encoded body needs a payload field' };
    text = payload;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { error: 'the body is not valid JSON' };
  }
  if (nestedDeeperThan(value, MAX_NESTING_DEPTH)) return { error: `the body is nested deeper than ${MAX_NESTING_DEPTH} levels` };
  return { value };
}

function forgeOf(request: FastifyRequest): Forge | 'unknown' {
  const detected = detectForge(request.headers);
  return 'forge' in detected ? detected.forge : 'unknown';
}

function errorName(status: number): string {
  return (
    { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Entity', 429: 'Too Many Requests' } as Record<number, string>
  )[status] ?? 'Internal Server Error';
}

import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { projectWebhookToken } from '../lib/repository-identity.ts';
import { MAX_NESTING_DEPTH } from '../lib/schema.ts';
import type { Config } from './config.ts';
import { envelopeMessage, handleHook, oneLine, parseHookBody } from './handle-hook.ts';
import type { Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { hookRoutes, type HookRoute } from './routes.ts';
import type { ProjectStore } from '../receiver/projects.ts';
import { registerReceiver } from '../receiver/routes.ts';

export interface AppOptions {
  config: Config;
  logger: Logger;
  metrics?: Metrics;
  /** The webhook bearer token; no check when empty. */
  token?: string;
  /** Replaces the hook table, for tests of the HTTP layer itself. */
  routes?: HookRoute[];
  /** The clock handed to pure hooks; tests pin it. */
  clock?: () => Date;
  /** Serve HTTPS with this certificate and key (PEM). */
  https?: { cert: Buffer; key: Buffer };
  /** The API access of the push-webhook receiver; it answers 404 without one (or without a key). */
  projectStore?: ProjectStore;
}

export interface KapsaApp extends FastifyInstance {
  markShuttingDown(): void;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without the webhook token: health, readiness and metrics, nothing else. */
    open?: boolean;
    /** The metric labels of a hook route; set on hook routes only. */
    hookLabels?: { controller: string; hook: string };
  }
}

/** The deepest a hook request body may nest objects and arrays (the body itself is level 1). */
export const MAX_BODY_DEPTH = MAX_NESTING_DEPTH;

/** How often node looks for connections past their headers or request timeout. */
const CONNECTIONS_CHECK_INTERVAL_MS = 1000;

/**
 * The fastify options that bound how long a client may hold a connection: a half-sent header or
 * body, or an idle keep-alive connection, is closed once its limit passes. Both servers (hooks and
 * the separate metrics port) use them; `limitConnections` caps how many connections they hold.
 */
export function connectionLimits(config: Config) {
  const timeouts = {
    headersTimeout: config.httpHeadersTimeoutSeconds * 1000,
    requestTimeout: config.httpRequestTimeoutSeconds * 1000,
    // node checks the two limits above only this often (30s by default).
    connectionsCheckingInterval: CONNECTIONS_CHECK_INTERVAL_MS,
  };
  return {
    http: timeouts,
    // fastify sets these two on the server itself (and would put its own defaults over node's).
    requestTimeout: timeouts.requestTimeout,
    keepAliveTimeout: config.httpKeepAliveTimeoutSeconds * 1000,
  };
}

/** Connections past the cap are closed as soon as they are accepted. */
export function limitConnections(server: { maxConnections: number }, config: Config): void {
  server.maxConnections = config.httpMaxConnections;
}

/** A strong ETag of the reply bytes (Metacontroller's `webhook.etag` sends it back as If-None-Match). */
export function etagOf(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url')}"`;
}

const UNKNOWN_HOOK = { controller: 'unknown', hook: 'unknown' } as const;

function tokenMatches(expected: Buffer, header: string | undefined): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  // Compare digests so the comparison takes the same time whatever the length of the guess.
  const given = createHash('sha256').update(header.slice('Bearer '.length)).digest();
  return timingSafeEqual(given, expected);
}

/**
 * The hook service as a fastify instance, not yet listening. Routes:
 * `POST /hooks/<controller>/<hook>`, `GET /healthz`, `GET /readyz`, `GET /metrics`, and the push
 * webhooks under `/receivers/` (hooks/receiver/routes.ts).
 */
export function buildApp(options: AppOptions): KapsaApp {
  const { config } = options;
  const metrics = options.metrics ?? createMetrics();
  const clock = options.clock ?? (() => new Date());
  const expectedToken = options.token ? createHash('sha256').update(options.token).digest() : undefined;
  let shuttingDown = false;

  const limits = connectionLimits(config);
  const app = Fastify({
    // https.createServer takes the same timeouts next to the certificate.
    ...(options.https ? { https: { ...options.https, ...limits.http } } : { http: limits.http }),
    requestTimeout: limits.requestTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    // One spelling per route. Authentication does not depend on this (it looks at the matched
    // route, not at the URL), but the tests of every spelling do.
    routerOptions: { caseSensitive: true, ignoreTrailingSlash: false, ignoreDuplicateSlashes: false },
    loggerInstance: options.logger,
    bodyLimit: config.bodyLimitBytes,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    ajv: {
      // Kubernetes objects must reach the hooks exactly as Metacontroller sent them.
      customOptions: { removeAdditional: false, useDefaults: false, coerceTypes: false, allErrors: false },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  limitConnections(app.server, config);

  // Hooks speak JSON only; anything else is refused with 415 rather than parsed as text.
  app.removeContentTypeParser('text/plain');

  // The body is parsed the way `kapsa hook` parses it (strict JSON, bounded depth): see handle-hook.ts.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseHookBody(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  // A refused request is the first sign that Metacontroller and Kapsa disagree on a contract, so
  // each one is logged with what it was for and why (the metric is counted in onResponse).
  const refuse = (request: FastifyRequest, reply: FastifyReply, statusCode: number, message: string) => {
    const { controller, hook } = request.routeOptions.config.hookLabels ?? UNKNOWN_HOOK;
    request.log.warn(
      { controller, hook, ...parentOf(request.body), statusCode, reason: message },
      'hook request refused',
    );
    return reply.code(statusCode).send({ error: 'Bad Request', message });
  };

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const statusCode = error.statusCode ?? 500;
    if (error.validation) {
      return refuse(request, reply, 400, envelopeMessage(error.validation));
    }
    if (statusCode >= 400 && statusCode < 500) {
      return refuse(request, reply, statusCode, scrub(oneLine(error.message), [...secretValues(request.body), ...receiverSecrets(config, request.body)]));
    }
    // Redaction works on field paths, not on text: an error message can quote what it failed on
    // (JSON.parse does), so every Secret value of the request is scrubbed from it first.
    request.log.error({ err: scrubbedError(error, [...secretValues(request.body), ...receiverSecrets(config, request.body)]) }, 'hook failed');
    return reply.code(500).send({ error: 'Internal Server Error', message: 'the hook failed; see the service log' });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'Not Found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });

  // Authentication looks at the route the router matched, never at the URL: the router decodes
  // and normalises paths (`/%68ooks/...`, absolute-form targets), so any test of the raw URL can be
  // spelled around. Every route needs the token unless it is marked open, and so does a path that
  // matches no route (a 401 there, so an unauthenticated caller does not learn the hook table).
  app.addHook('onRequest', async (request, reply) => {
    if (!expectedToken || request.routeOptions.config.open === true) return;
    if (tokenMatches(expectedToken, request.headers.authorization)) return;
    metrics.hookRequests.inc({ ...(request.routeOptions.config.hookLabels ?? UNKNOWN_HOOK), outcome: 'unauthorized' });
    return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'Unauthorized' });
  });

  app.get('/healthz', { config: { open: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { open: true } }, async (_request, reply) => {
    if (shuttingDown) return reply.code(503).send({ status: 'shutting down' });
    return { status: 'ready' };
  });
  if (config.metricsEnabled && config.metricsPort === 0) {
    app.get('/metrics', { config: { open: true } }, async (_request, reply) => {
      reply.header('content-type', metrics.registry.contentType);
      return metrics.registry.metrics();
    });
  }

  // The receiver's own context has no TypeBox schemas; the plain instance type is enough for it.
  registerReceiver(app as unknown as FastifyInstance, {
    receiverKey: config.receiverKey,
    bodyLimitBytes: config.receiverBodyLimitBytes,
    ...(options.projectStore ? { store: options.projectStore } : {}),
    requests: metrics.receiverRequests,
    clock,
  });

  const routes = options.routes ?? hookRoutes({ config, metrics, clock });
  for (const route of routes) {
    const labels = { controller: route.controller, hook: route.hook };
    app.post(
      `/hooks/${route.controller}/${route.hook}`,
      // The envelope is checked in handleHook, the same check `kapsa hook` makes.
      { config: { hookLabels: labels } },
      async (request, reply) => {
        const log = request.log.child({ controller: route.controller, hook: route.hook, ...parentOf(request.body) });
        const started = process.hrtime.bigint();
        const observe = (outcome: string) => {
          metrics.hookRequests.inc({ ...labels, outcome });
          metrics.hookDuration.observe({ ...labels, outcome }, Number(process.hrtime.bigint() - started) / 1e9);
        };
        try {
          const answer = await handleHook(route, request.body, { log, now: clock() });
          if (!answer.ok) return refuse(request, reply, answer.statusCode, answer.message);
          metrics.hookRequestBytes.inc(labels, Number(request.headers['content-length'] ?? 0) || 0);
          const body = answer.body;
          const etag = etagOf(body);
          reply.header('etag', etag);
          if (request.headers['if-none-match'] === etag) {
            observe('not_modified');
            return reply.code(304).send();
          }
          observe('ok');
          log.debug({ bytes: body.length }, 'hook answered');
          return reply.type('application/json').send(body);
        } catch (error) {
          observe('error');
          throw error;
        }
      },
    );
  }

  app.addHook('onResponse', async (request, reply) => {
    const labels = request.routeOptions.config.hookLabels;
    if (labels && reply.statusCode >= 400 && reply.statusCode < 500 && reply.statusCode !== 401) {
      metrics.hookRequests.inc({ ...labels, outcome: 'bad_request' });
    }
  });

  const kapsa = app as unknown as KapsaApp;
  kapsa.markShuttingDown = () => {
    shuttingDown = true;
  };
  return kapsa;
}

/** Every Secret value a hook request carries, base64 as sent and decoded. */
export function secretValues(body: unknown): string[] {
  const values = new Set<string>();
  if (typeof body !== 'object' || body === null) return [];
  const record = body as Record<string, unknown>;
  for (const field of ['related', 'children', 'attachments']) {
    const groups = record[field];
    if (typeof groups !== 'object' || groups === null) continue;
    for (const [type, group] of Object.entries(groups as Record<string, unknown>)) {
      if (!type.startsWith('Secret.') || typeof group !== 'object' || group === null) continue;
      for (const secret of Object.values(group as Record<string, { data?: unknown; stringData?: unknown }>)) {
        for (const data of [secret?.data, secret?.stringData]) {
          if (typeof data !== 'object' || data === null) continue;
          for (const value of Object.values(data)) {
            if (typeof value !== 'string' || value.length < 4) continue;
            values.add(value);
            const decoded = Buffer.from(value, 'base64').toString('utf8');
            if (decoded.length >= 4) values.add(decoded);
          }
        }
      }
    }
  }
  // Longest first, so a value that contains another is replaced whole.
  return [...values].sort((a, b) => b.length - a.length);
}

/**
 * Secrets a hook holds that its request does not carry: the receiver key, and the webhook token of
 * the Project the request is about (derived from its uid), as text and base64.
 */
export function receiverSecrets(config: Pick<Config, 'receiverKey'>, body: unknown): string[] {
  if (config.receiverKey === '') return [];
  const values = [config.receiverKey];
  const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  for (const field of ['parent', 'object']) {
    const metadata = (record[field] as { metadata?: { uid?: unknown } } | undefined)?.metadata;
    if (typeof metadata?.uid !== 'string') continue;
    const token = projectWebhookToken(config.receiverKey, metadata.uid);
    values.push(token, Buffer.from(token).toString('base64'));
  }
  return values.sort((a, b) => b.length - a.length);
}

function scrub(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) result = result.split(secret).join('[REDACTED]');
  return result;
}

/** The error as a plain object with every secret value scrubbed from its message and stack. */
function scrubbedError(error: Error, secrets: readonly string[]): Record<string, unknown> {
  const scrubbed: Record<string, unknown> = { type: error.name, message: scrub(error.message, secrets) };
  if (error.stack) scrubbed.stack = scrub(error.stack, secrets);
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') scrubbed.code = code;
  return scrubbed;
}

type Envelope = { metadata?: { name?: unknown; namespace?: unknown; generation?: unknown } };

/** The object a request is about: `parent` in composite and customize requests, `object` in decorator ones. */
function parentOf(body: unknown): { parent?: string; generation?: number } {
  if (typeof body !== 'object' || body === null) return {};
  const envelope = body as { parent?: Envelope; object?: Envelope };
  const metadata = (isPlainObject(envelope.parent) ? envelope.parent : isPlainObject(envelope.object) ? envelope.object : undefined)?.metadata;
  if (!isPlainObject(metadata) || typeof metadata.name !== 'string' || metadata.name === '') return {};
  const result: { parent?: string; generation?: number } = {
    parent: typeof metadata.namespace === 'string' && metadata.namespace !== '' ? `${metadata.namespace}/${metadata.name}` : metadata.name,
  };
  if (typeof metadata.generation === 'number') result.generation = metadata.generation;
  return result;
}

function isPlainObject<T extends object>(value: T | undefined | unknown): value is T {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

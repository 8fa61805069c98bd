import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import secureJson from 'secure-json-parse';
import { MAX_NESTING_DEPTH, nestedDeeperThan } from '../lib/schema.ts';
import { pickReplyFields, REQUEST_SCHEMAS, type EnvelopeKind } from './envelopes.ts';
import type { HookContext, HookRoute } from './routes.ts';

/**
 * The one path from a hook request body to the bytes of its reply, shared by the HTTP route and
 * `kapsa hook` so that both give the same answer: the envelope check, the call of the hook, the
 * reduction of the reply to the fields Metacontroller's strict decoding accepts, serialisation.
 * Transport concerns (authentication, ETags, metrics of requests) stay in the server.
 */

/** A request the service refuses before any hook sees it: a 4xx and a one-line message. */
export class HookRefusal extends Error {
  override name = 'HookRefusal';
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.statusCode = statusCode;
  }
}

/**
 * A request body as text to its value: strict JSON, no `__proto__` or `constructor.prototype`
 * keys (they would poison objects a hook builds from the request), and no deeper than
 * MAX_NESTING_DEPTH. Throws a HookRefusal (400) that says what is wrong.
 */
export function parseHookBody(text: string): unknown {
  if (text.length === 0) throw new HookRefusal(400, "Body cannot be empty when content-type is set to 'application/json'");
  let value: unknown;
  try {
    value = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    throw new HookRefusal(400, oneLine((error as Error).message));
  }
  // JSON.parse itself is iterative, but much that handles a value afterwards (JSON.stringify,
  // structuredClone, schema defaults) recurses: a body nested thousands of levels deep would
  // overflow the stack in a hook and fail on every retry. No Kubernetes object comes near the
  // limit, so such a body is refused before any hook sees it.
  if (nestedDeeperThan(value, MAX_NESTING_DEPTH)) throw new HookRefusal(400, `body is nested deeper than ${MAX_NESTING_DEPTH} levels`);
  return value;
}

/** The first schema error as `body.<path> <problem>`, the message a refused request gets. */
export function envelopeMessage(errors: readonly Pick<ErrorObject, 'instancePath' | 'message'>[] | null | undefined): string {
  const first = errors?.[0];
  const where = first?.instancePath ? `body${first.instancePath.replace(/\//g, '.')}` : 'body';
  return `${where} ${first?.message ?? 'is invalid'}`;
}

// Kubernetes objects must reach the hooks exactly as Metacontroller sent them: nothing removed,
// defaulted or coerced. Validators are compiled on first use, so importing this module compiles nothing.
let ajv: Ajv | undefined;
const validators = new Map<EnvelopeKind, ValidateFunction>();
function envelopeValidator(kind: EnvelopeKind): ValidateFunction {
  let validate = validators.get(kind);
  if (!validate) {
    ajv ??= new Ajv({ removeAdditional: false, useDefaults: false, coerceTypes: false, allErrors: false, addUsedSchema: false });
    validate = ajv.compile(REQUEST_SCHEMAS[kind]);
    validators.set(kind, validate);
  }
  return validate;
}

export type HookAnswer = { ok: true; statusCode: 200; body: string } | { ok: false; statusCode: number; message: string };

/**
 * Checks the envelope of `body`, runs the hook and serialises its reply. A body that does not fit
 * the envelope is answered with a 400 and a message naming the field; a failure of the hook
 * itself is thrown (the service turns it into a 500).
 */
export async function handleHook(route: HookRoute, body: unknown, context: HookContext): Promise<HookAnswer> {
  const validate = envelopeValidator(route.envelope);
  if (!validate(body)) return { ok: false, statusCode: 400, message: envelopeMessage(validate.errors) };
  const reply = (await route.handle(body, context)) as Record<string, unknown>;
  return { ok: true, statusCode: 200, body: JSON.stringify(pickReplyFields(route.envelope, reply)) };
}

export function oneLine(message: string): string {
  return message.replace(/\s+/g, ' ').trim();
}

import { Kind, Type, TypeRegistry, type SchemaOptions, type TSchema, type Static } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { DNS_LABEL_PATTERN } from './names.ts';

/**
 * Schema building blocks shared by every Kapsa spec. The same TypeBox schema is the CRD's
 * openAPIV3Schema (so Kubernetes rejects bad input at apply time) and the hooks' runtime validator
 * (so a request that slipped past an older CRD still gets a clear condition instead of a crash).
 * Kubernetes structural schemas forbid `additionalProperties: false` and `anyOf` of constants,
 * hence enums as plain string schemas.
 */

const STRING_ENUM = 'KapsaStringEnum';
if (!TypeRegistry.Has(STRING_ENUM)) {
  TypeRegistry.Set<{ enum: string[] }>(STRING_ENUM, (schema, value) => typeof value === 'string' && schema.enum.includes(value));
}

export function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}) {
  return Type.Unsafe<T[number]>({ [Kind]: STRING_ENUM, type: 'string', enum: [...values], ...options });
}

export function DnsLabel(options: SchemaOptions = {}) {
  return Type.String({ pattern: DNS_LABEL_PATTERN, minLength: 1, maxLength: 63, ...options });
}

/** A CEL rule with the message Kubernetes shows when it fails. */
export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
}

export function cel(...rules: CelRule[]): { 'x-kubernetes-validations': CelRule[] } {
  return { 'x-kubernetes-validations': rules };
}

export interface FieldError {
  path: string;
  message: string;
}

/** `/spec/environments/2/name` → `spec.environments[2].name`, the form kubectl users read. */
export function fieldPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, segment) => {
      if (/^\d+$/.test(segment)) return `${path}[${segment}]`;
      return path === '' ? segment : `${path}.${segment}`;
    }, '');
}

export interface Validator<T extends TSchema> {
  /** Defaults applied to a copy of `value`, then checked; errors name the field. */
  parse(value: unknown, prefix: string): { ok: true; value: Static<T> } | { ok: false; errors: FieldError[] };
}

/**
 * The deepest any value handed to Kapsa may nest objects and arrays (the value itself is level 1).
 * Kubernetes objects stay far below it (a Deployment's deepest field is about a dozen levels down);
 * what handles a value after parsing (JSON.stringify, structuredClone, schema defaults) recurses,
 * so a deeper value could overflow the stack instead of getting an answer.
 */
export const MAX_NESTING_DEPTH = 100;

/** True when `value` nests objects or arrays more than `limit` levels deep. Iterative: no input overflows it. */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const pending: Array<{ item: object; depth: number }> = [];
  if (typeof value === 'object' && value !== null) pending.push({ item: value, depth: 1 });
  while (pending.length > 0) {
    const { item, depth } = pending.pop()!;
    if (depth > limit) return true;
    for (const child of Object.values(item)) {
      if (typeof child === 'object' && child !== null) pending.push({ item: child, depth: depth + 1 });
    }
  }
  return false;
}

/** Deep-freezes a parsed spec: cached results are shared between requests, so nobody may change one. */
function deepFreeze<V>(value: V): V {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    if (typeof item !== 'object' || item === null || Object.isFrozen(item)) continue;
    Object.freeze(item);
    for (const child of Object.values(item)) pending.push(child);
  }
  return value;
}

const PARSE_MEMO_LIMIT = 5_000;

export function compileValidator<T extends TSchema>(schema: T): Validator<T> {
  const check: TypeCheck<T> = TypeCompiler.Compile(schema);
  // Applying defaults to a copy is most of the cost of a sync; Metacontroller sends the same specs
  // again and again, so valid results are remembered by their JSON text (bounded).
  const valid = new Map<string, Static<T>>();
  return {
    parse(value, prefix) {
      // Checked first: the memo key, the copy and the defaults below all recurse into the value.
      if (nestedDeeperThan(value, MAX_NESTING_DEPTH)) {
        return { ok: false, errors: [{ path: prefix, message: `is nested deeper than ${MAX_NESTING_DEPTH} levels` }] };
      }
      const key = JSON.stringify(value ?? {});
      const known = valid.get(key);
      if (known !== undefined) return { ok: true, value: known };
      const withDefaults = Value.Default(schema, structuredClone(value ?? {}));
      if (check.Check(withDefaults)) {
        if (valid.size >= PARSE_MEMO_LIMIT) valid.clear();
        valid.set(key, deepFreeze(withDefaults));
        return { ok: true, value: withDefaults };
      }
      const errors: FieldError[] = [];
      const seen = new Set<string>();
      for (const error of check.Errors(withDefaults)) {
        const path = [prefix, fieldPath(error.path)].filter((part) => part !== '').join('.');
        if (seen.has(path)) continue;
        seen.add(path);
        const allowed = (error.schema as { enum?: unknown }).enum;
        const message = Array.isArray(allowed) ? `must be one of: ${allowed.join(', ')}` : error.message;
        errors.push({ path, message });
        if (errors.length >= 10) break;
      }
      return { ok: false, errors };
    },
  };
}

export function describeErrors(errors: readonly FieldError[]): string {
  return errors.map((error) => `${error.path}: ${error.message}`).join('; ');
}

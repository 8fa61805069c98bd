import { Type, type TSchema } from '@sinclair/typebox';

/**
 * Metacontroller hook v2 request envelopes. Only the envelope is checked: the objects inside are
 * Kubernetes objects owned by the API server and pass through untouched (every object schema
 * allows additional properties, and the validator is set up never to strip or coerce).
 */

const ObjectMeta = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    namespace: Type.Optional(Type.String()),
    generation: Type.Optional(Type.Integer()),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  { additionalProperties: true },
);

export const KubeObjectSchema = Type.Object(
  {
    apiVersion: Type.String({ minLength: 1 }),
    kind: Type.String({ minLength: 1 }),
    metadata: ObjectMeta,
  },
  { additionalProperties: true },
);

/** `{"Kind.apiVersion": {"namespace/name": object}}`. */
const ObjectsByType = Type.Record(Type.String(), Type.Record(Type.String(), KubeObjectSchema));

const Controller = Type.Optional(Type.Object({}, { additionalProperties: true }));

export const CompositeRequestSchema = Type.Object(
  {
    controller: Controller,
    parent: KubeObjectSchema,
    children: Type.Optional(ObjectsByType),
    related: Type.Optional(ObjectsByType),
    finalizing: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: true },
);

/**
 * Hook v2 decorator requests carry the decorated object as `object` and what it owns as
 * `attachments` (Metacontroller's `pkg/controller/decorator/api/v2/hooks.go`).
 */
export const DecoratorRequestSchema = Type.Object(
  {
    controller: Controller,
    object: KubeObjectSchema,
    attachments: Type.Optional(ObjectsByType),
    related: Type.Optional(ObjectsByType),
    finalizing: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: true },
);

export const CustomizeRequestSchema = Type.Object(
  {
    controller: Controller,
    parent: KubeObjectSchema,
  },
  { additionalProperties: true },
);

/**
 * The fields Metacontroller's strict v2 decoding accepts in each reply kind. Replies are reduced
 * to these before they are sent, so a stray field never makes Metacontroller reject a reply.
 */
export const REPLY_FIELDS = {
  composite: ['status', 'children', 'resyncAfterSeconds', 'finalized'],
  decorator: ['labels', 'annotations', 'status', 'attachments', 'resyncAfterSeconds', 'finalized'],
  customize: ['relatedResources'],
} as const;

export type EnvelopeKind = keyof typeof REPLY_FIELDS;

export const REQUEST_SCHEMAS: Record<EnvelopeKind, TSchema> = {
  composite: CompositeRequestSchema,
  decorator: DecoratorRequestSchema,
  customize: CustomizeRequestSchema,
};

export function pickReplyFields(kind: EnvelopeKind, reply: Record<string, unknown>): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const field of REPLY_FIELDS[kind]) {
    if (reply[field] !== undefined) picked[field] = reply[field];
  }
  return picked;
}

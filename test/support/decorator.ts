/** The git poller's decorator request and reply, as Metacontroller sends and applies them. */
import type { DecoratorResponse } from '../../hooks/git-poller/sync.ts';
import type { DecoratorSyncRequest } from '../../hooks/lib/hook.ts';
import type { KubeObject, ObjectsByType } from '../../hooks/lib/objects.ts';

export function pollerRequest(object: KubeObject, related: ObjectsByType = {}): DecoratorSyncRequest {
  return { controller: { metadata: { name: 'kapsa-git-poller' } }, object, attachments: {}, related, finalizing: false };
}

/** Merges a reply into the object the way Metacontroller does (null deletes, absent leaves alone). */
export function applyReply(object: KubeObject, response: DecoratorResponse): KubeObject {
  const annotations = { ...(object.metadata.annotations ?? {}) };
  for (const [key, value] of Object.entries(response.annotations)) {
    if (value === null) delete annotations[key];
    else annotations[key] = value;
  }
  return { ...object, metadata: { ...object.metadata, annotations } };
}

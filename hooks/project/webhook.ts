import { baseLabels, LABEL_COMPONENT } from '../lib/labels.ts';
import type { KubeObject, Secret } from '../lib/objects.ts';
import { projectWebhookToken, WEBHOOK_SECRET_NAME } from '../lib/repository-identity.ts';
import type { ProjectSettings } from './settings.ts';

export interface ProjectWebhook {
  secret: Secret;
  /** `status.webhook`: where the forge sends pushes and which Secret holds the token; never the token. */
  status: { url?: string; secretName: string };
}

/** The push-webhook URL of a Project; undefined while KAPSA_RECEIVER_URL is unset. */
export function projectWebhookUrl(project: string, settings: Pick<ProjectSettings, 'receiverUrl'>): string | undefined {
  return settings.receiverUrl === '' ? undefined : `${settings.receiverUrl}/receivers/projects/${encodeURIComponent(project)}`;
}

/**
 * The `kapsa-webhook` Secret a tenant gives their forge: the token the receiver expects pushes for
 * this Project to be signed with, and the URL to send them to. Only with a receiver key, and only
 * for a Project the API server has given a uid: the token is derived from it, and one made up for
 * a Project without one (`kapsa render`) would be a token no receiver accepts.
 */
export function projectWebhook(parent: KubeObject, namespace: string, settings: Pick<ProjectSettings, 'receiverKey' | 'receiverUrl'>): ProjectWebhook | undefined {
  const uid = parent.metadata.uid;
  const name = parent.metadata.name ?? '';
  if (settings.receiverKey === '' || typeof uid !== 'string' || uid === '' || name === '') return undefined;
  const url = projectWebhookUrl(name, settings);
  const data: Record<string, string> = { token: Buffer.from(projectWebhookToken(settings.receiverKey, uid)).toString('base64') };
  if (url !== undefined) data.url = Buffer.from(url).toString('base64');
  return {
    secret: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: WEBHOOK_SECRET_NAME, namespace, labels: { ...baseLabels(name), [LABEL_COMPONENT]: 'webhook' } },
      type: 'Opaque',
      data,
    },
    status: { ...(url !== undefined ? { url } : {}), secretName: WEBHOOK_SECRET_NAME },
  };
}

/**
 * How a push webhook finds its Projects, and how a Project's webhook secret is made. Shared by the
 * claim decorator (which labels Projects), the Project hook (which hands the tenant its token) and
 * the push receiver (which verifies signatures and selects Projects by label).
 */
import { createHash, createHmac } from 'node:crypto';
import { GROUP } from './labels.ts';

/** On every Project, written by the claim decorator: `repositoryHash(spec.repository.url)`. */
export const LABEL_REPOSITORY = `${GROUP}/repository`;
/** Set by a user or the push receiver; any value that differs from the handled one forces a poll. */
export const ANNOTATION_RECONCILE_REQUESTED = `${GROUP}/reconcile-requested-at`;
/** Written by the git poller once it has polled for that request value. */
export const ANNOTATION_RECONCILE_HANDLED = `${GROUP}/reconcile-handled-at`;
/** The Secret in a project namespace that holds the token and URL a tenant gives their forge. */
export const WEBHOOK_SECRET_NAME = 'kapsa-webhook';

/**
 * One spelling per repository as forges and users write it: `HTTPS://GitHub.com:443/Org/Shop.git/`
 * and `https://github.com/org/shop` are the same repository. Lower case throughout because the
 * large forges treat owner and repository names case-insensitively; on a case-sensitive server the
 * worst outcome of a collision is one extra poll. Credentials, query and fragment never take part.
 * Returns undefined for anything that is not an absolute http(s) URL.
 */
export function normalizeRepositoryUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return undefined;
  // URL drops the port when it is the scheme's default, so :443 and no port compare equal.
  const path = parsed.pathname.replace(/\/+$/, '').replace(/\.git$/i, '').replace(/\/+$/, '');
  return `${parsed.protocol}//${parsed.host}${path}`.toLowerCase();
}

/** A label value (32 hex characters) naming the repository; undefined when the URL is not one. */
export function repositoryHash(url: string): string | undefined {
  const normalized = normalizeRepositoryUrl(url);
  if (normalized === undefined) return undefined;
  return createHash('sha256').update(normalized).digest('hex').slice(0, 32);
}

/**
 * The secret a Project's forge signs its pushes with: HMAC-SHA256(receiver key, Project uid), hex.
 * Derived rather than stored, so the receiver needs no access to Secrets, a recreated Project (new
 * uid) gets a new token, and rotating the receiver key rotates every token at once.
 */
export function projectWebhookToken(receiverKey: string, projectUid: string): string {
  return createHmac('sha256', receiverKey).update(`kapsa-project-webhook:${projectUid}`).digest('hex');
}

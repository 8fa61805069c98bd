/**
 * What each forge sends with a push webhook: which headers name it, how it signs the body, where
 * its delivery id is, and where the repository and the pushed branches are in its payload.
 * Pure functions over headers and bytes; the route (routes.ts) does the I/O.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isRecord } from '../lib/objects.ts';

export type Forge = 'github' | 'gitlab' | 'gitea' | 'forgejo' | 'bitbucket' | 'generic';
export const FORGES: readonly Forge[] = ['github', 'gitlab', 'gitea', 'forgejo', 'bitbucket', 'generic'];

export type Headers = Record<string, string | string[] | undefined>;

/** Kapsa's own form, for a forge or a CI job that is none of the above. */
export const GENERIC_SIGNATURE_HEADER = 'x-kapsa-signature';
export const GENERIC_EVENT_HEADER = 'x-kapsa-event';
/** How far the generic form's timestamp may be from the receiver's clock, either way. */
export const GENERIC_WINDOW_SECONDS = 300;

interface ForgeRules {
  /** The header that names the event; its presence is how the forge is recognised. */
  event: string;
  delivery?: string;
  signature: string;
  push: readonly string[];
  ping: readonly string[];
  /** Events that are pushes of tags only: accepted, but they change nothing Kapsa tracks. */
  tagPush: readonly string[];
}

const RULES: Record<Forge, ForgeRules> = {
  github: { event: 'x-github-event', delivery: 'x-github-delivery', signature: 'x-hub-signature-256', push: ['push'], ping: ['ping'], tagPush: [] },
  gitlab: { event: 'x-gitlab-event', delivery: 'x-gitlab-event-uuid', signature: 'x-gitlab-token', push: ['Push Hook'], ping: [], tagPush: ['Tag Push Hook'] },
  gitea: { event: 'x-gitea-event', delivery: 'x-gitea-delivery', signature: 'x-gitea-signature', push: ['push'], ping: [], tagPush: [] },
  forgejo: { event: 'x-forgejo-event', delivery: 'x-forgejo-delivery', signature: 'x-forgejo-signature', push: ['push'], ping: [], tagPush: [] },
  // Bitbucket Cloud has no ping; `diagnostics:ping` is the test event of Bitbucket Data Center.
  bitbucket: { event: 'x-event-key', delivery: 'x-request-uuid', signature: 'x-hub-signature', push: ['repo:push'], ping: ['diagnostics:ping'], tagPush: [] },
  generic: { event: GENERIC_SIGNATURE_HEADER, signature: GENERIC_SIGNATURE_HEADER, push: ['push'], ping: ['ping'], tagPush: [] },
};

/** The header a forge signs with, for messages that say which one is missing. */
export function signatureHeader(forge: Forge): string {
  return RULES[forge].signature;
}

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  // A header sent twice is ambiguous about what was signed: treat it as absent.
  return typeof value === 'string' ? value : undefined;
}

export type Detection = { forge: Forge; event: string; delivery?: string } | { error: string };

/**
 * Which forge sent the request, by its event header. Gitea sends GitHub's and Gogs' headers too,
 * and Forgejo sends Gitea's, so within that family the most specific name wins; headers of two
 * families at once (GitHub-like, GitLab, Bitbucket, Kapsa's own) are refused as ambiguous.
 */
export function detectForge(headers: Headers): Detection {
  const githubFamily: Forge | undefined = header(headers, RULES.forgejo.event) !== undefined
    ? 'forgejo'
    : header(headers, RULES.gitea.event) !== undefined
      ? 'gitea'
      : header(headers, RULES.github.event) !== undefined
        ? 'github'
        : undefined;
  const found = [githubFamily, ...(['gitlab', 'bitbucket', 'generic'] as const).filter((forge) => header(headers, RULES[forge].event) !== undefined)].filter(
    (forge): forge is Forge => forge !== undefined,
  );
  if (found.length === 0) return { error: 'no forge event header (X-GitHub-Event, X-Gitlab-Event, X-Gitea-Event, X-Forgejo-Event, X-Event-Key or X-Kapsa-Signature)' };
  if (found.length > 1) return { error: `headers of more than one forge (${found.join(', ')}); send one forge's headers` };
  const forge = found[0] as Forge;
  const rules = RULES[forge];
  const event = forge === 'generic' ? (header(headers, GENERIC_EVENT_HEADER) ?? 'push') : (header(headers, rules.event) ?? '');
  const delivery = rules.delivery ? header(headers, rules.delivery) : undefined;
  return { forge, event, ...(delivery ? { delivery } : {}) };
}

export type EventKind = 'push' | 'ping' | 'tag-push' | 'unknown';

export function eventKind(forge: Forge, event: string): EventKind {
  const rules = RULES[forge];
  if (rules.push.includes(event)) return 'push';
  if (rules.ping.includes(event)) return 'ping';
  if (rules.tagPush.includes(event)) return 'tag-push';
  return 'unknown';
}

/** The events to pick in a forge's settings, for messages. */
export function eventsToSend(forge: Forge): string {
  return RULES[forge].push.join(', ');
}

export function hmacHex(secret: string, data: Buffer | string): string {
  return createHmac('sha256', secret).update(data).digest('hex');
}

/** Equal strings, in a time that depends on neither their content nor their lengths. */
export function constantTimeEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export type Verification = { ok: true; replayKey: string } | { ok: false; reason: 'missing' | 'malformed' | 'mismatch' | 'stale' };

/** Whether the signature header is there at all: checked before any API call is made. */
export function hasSignature(forge: Forge, headers: Headers): boolean {
  const value = header(headers, RULES[forge].signature);
  return value !== undefined && value !== '';
}

/**
 * Checks the forge's signature of the raw body with the Project's token. On success also says what
 * identifies this delivery for replay protection: the forge's delivery id when it sends one, else
 * the signature (the generic form) or a digest of the body.
 */
export function verifySignature(forge: Forge, headers: Headers, rawBody: Buffer, token: string, nowSeconds: number, delivery?: string): Verification {
  const given = header(headers, RULES[forge].signature);
  if (given === undefined || given === '') return { ok: false, reason: 'missing' };
  const bodyDigest = () => createHash('sha256').update(rawBody).digest('hex');
  const replayKey = (fallback: () => string) => ({ ok: true as const, replayKey: delivery ? `delivery:${delivery}` : fallback() });
  switch (forge) {
    case 'github':
    case 'bitbucket': {
      if (!given.startsWith('sha256=')) return { ok: false, reason: 'malformed' };
      return constantTimeEqual(given.slice('sha256='.length).toLowerCase(), hmacHex(token, rawBody)) ? replayKey(() => `body:${bodyDigest()}`) : { ok: false, reason: 'mismatch' };
    }
    case 'gitea':
    case 'forgejo':
      return constantTimeEqual(given.toLowerCase(), hmacHex(token, rawBody)) ? replayKey(() => `body:${bodyDigest()}`) : { ok: false, reason: 'mismatch' };
    case 'gitlab':
      // GitLab signs nothing: the header carries the secret itself, so anyone who sees one request
      // can forge others. Replays of the same body are still refused.
      return constantTimeEqual(given, token) ? replayKey(() => `body:${bodyDigest()}`) : { ok: false, reason: 'mismatch' };
    case 'generic': {
      const parsed = parseGenericSignature(given);
      if (!parsed) return { ok: false, reason: 'malformed' };
      const expected = hmacHex(token, Buffer.concat([Buffer.from(`${parsed.timestamp}.`), rawBody]));
      if (!constantTimeEqual(parsed.signature.toLowerCase(), expected)) return { ok: false, reason: 'mismatch' };
      // Checked after the signature, so an unsigned request learns nothing about the clock.
      if (Math.abs(nowSeconds - parsed.timestamp) > GENERIC_WINDOW_SECONDS) return { ok: false, reason: 'stale' };
      return { ok: true, replayKey: `signature:${expected}` };
    }
  }
}

/** `t=<unix seconds>,v1=<hex>`; undefined when it is not that. */
export function parseGenericSignature(value: string): { timestamp: number; signature: string } | undefined {
  const fields = new Map<string, string>();
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const t = fields.get('t');
  const v1 = fields.get('v1');
  if (t === undefined || v1 === undefined || !/^\d{1,12}$/.test(t) || !/^[0-9a-fA-F]{64}$/.test(v1)) return undefined;
  return { timestamp: Number(t), signature: v1 };
}

/** The value of the generic form's signature header for `body` at `timestamp`: for senders and tests. */
export function genericSignature(token: string, timestamp: number, body: Buffer | string): string {
  return `t=${timestamp},v1=${hmacHex(token, Buffer.concat([Buffer.from(`${timestamp}.`), Buffer.from(body)]))}`;
}

/** What a verified push says: the URLs its repository goes by, and the branches it changed. */
export interface Push {
  repositoryUrls: string[];
  /** Branch names (not refs) created, updated or deleted by the push; tags are left out. */
  branches: string[];
  /** True when the push changed tags only. */
  tagsOnly: boolean;
}

const BRANCH_REF = 'refs/heads/';
const TAG_REF = 'refs/tags/';

function strings(...values: unknown[]): string[] {
  return values.filter((value): value is string => typeof value === 'string' && value !== '');
}

/** The push a payload describes, or a message saying what is missing. */
export function parsePush(forge: Forge, payload: unknown): Push | { error: string } {
  if (!isRecord(payload)) return { error: 'the payload is not a JSON object' };
  if (forge === 'bitbucket') return bitbucketPush(payload);
  let urls: string[];
  let ref: unknown;
  if (forge === 'gitlab') {
    const project = isRecord(payload.project) ? payload.project : {};
    const repository = isRecord(payload.repository) ? payload.repository : {};
    urls = strings(project.git_http_url, project.web_url, project.http_url, repository.git_http_url, repository.homepage);
    ref = payload.ref;
  } else if (forge === 'generic') {
    urls = strings(payload.repository);
    ref = typeof payload.ref === 'string' ? payload.ref : typeof payload.branch === 'string' ? `${BRANCH_REF}${payload.branch}` : undefined;
  } else {
    // GitHub, Gitea and Forgejo share the shape: repository.{clone_url, html_url}.
    const repository = isRecord(payload.repository) ? payload.repository : {};
    urls = strings(repository.clone_url, repository.html_url, repository.url);
    ref = payload.ref;
  }
  if (urls.length === 0) return { error: 'the payload names no repository URL' };
  if (typeof ref !== 'string' || ref === '') return { error: 'the payload has no ref' };
  if (ref.startsWith(BRANCH_REF) && ref.length > BRANCH_REF.length) return { repositoryUrls: urls, branches: [ref.slice(BRANCH_REF.length)], tagsOnly: false };
  if (ref.startsWith(TAG_REF)) return { repositoryUrls: urls, branches: [], tagsOnly: true };
  return { error: `ref "${ref.slice(0, 100)}" is neither a branch nor a tag` };
}

/** Bitbucket Cloud: one push lists its changes; a deleted branch has `new: null` and an `old` one. */
function bitbucketPush(payload: Record<string, unknown>): Push | { error: string } {
  const repository = isRecord(payload.repository) ? payload.repository : {};
  const links = isRecord(repository.links) ? repository.links : {};
  const html = isRecord(links.html) ? links.html : {};
  const urls = strings(html.href);
  if (urls.length === 0) return { error: 'the payload names no repository URL (repository.links.html.href)' };
  const push = isRecord(payload.push) ? payload.push : {};
  if (!Array.isArray(push.changes)) return { error: 'the payload has no push.changes' };
  const branches = new Set<string>();
  let tags = 0;
  for (const change of push.changes) {
    if (!isRecord(change)) continue;
    for (const side of [change.new, change.old]) {
      if (!isRecord(side) || typeof side.name !== 'string' || side.name === '') continue;
      if (side.type === 'branch' || side.type === 'named_branch') branches.add(side.name);
      else if (side.type === 'tag' || side.type === 'annotated_tag') tags += 1;
    }
  }
  if (branches.size === 0 && tags === 0) return { error: 'push.changes names no branch or tag' };
  return { repositoryUrls: urls, branches: [...branches].sort(), tagsOnly: branches.size === 0 };
}

import { createHash } from 'node:crypto';

/** Kubernetes' limit for DNS labels, and so for most object names and every hostname label. */
export const DNS_LABEL_MAX = 63;
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS_LABEL = new RegExp(DNS_LABEL_PATTERN);

const HASH_LENGTH = 6;

export function isDnsLabel(value: string): boolean {
  return value.length <= DNS_LABEL_MAX && DNS_LABEL.test(value);
}

/** A short, stable, lowercase hex digest: enough to tell apart names that slug the same. */
export function shortHash(value: string, length = HASH_LENGTH): string {
  return createHash('sha256').update(value).digest('hex').slice(0, length);
}

/**
 * Turns any string (a branch name, usually) into a DNS label of at most `max` characters.
 * When the slug is not the input itself (characters were replaced or dropped, or it was cut),
 * a hash of the input is appended, so `feature/a_b` and `feature/a-b` never share a name, and a
 * name that slugs to nothing still gets one.
 */
export function slugify(input: string, max = DNS_LABEL_MAX): string {
  const key = `${max}:${input}`;
  const known = slugs.get(key);
  if (known !== undefined) return known;
  const slug = computeSlug(input, max);
  // A sync slugs the same branches many times; the memo is bounded so it cannot grow without end.
  if (slugs.size >= SLUG_MEMO_LIMIT) slugs.clear();
  slugs.set(key, slug);
  return slug;
}

const SLUG_MEMO_LIMIT = 10_000;
const slugs = new Map<string, string>();

function computeSlug(input: string, max: number): string {
  const cleaned = input
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
  if (cleaned === input && cleaned.length <= max && cleaned.length > 0) return cleaned;
  const hash = shortHash(input);
  const room = max - hash.length - 1;
  const head = cleaned.slice(0, room).replace(/-+$/, '');
  return head.length > 0 ? `${head}-${hash}` : `x-${hash}`;
}

/**
 * Joins parts into one name of at most `max` characters. Parts are DNS labels already; when the
 * join is too long, the head is cut and a hash of the whole join keeps it unique.
 */
export function joinName(parts: readonly string[], max = DNS_LABEL_MAX): string {
  const joined = parts.filter((part) => part.length > 0).join('-');
  if (joined.length <= max) return joined;
  const hash = shortHash(joined);
  return `${joined.slice(0, max - hash.length - 1).replace(/-+$/, '')}-${hash}`;
}

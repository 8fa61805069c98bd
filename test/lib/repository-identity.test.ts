import { describe, expect, it } from 'vitest';
import { normalizeRepositoryUrl, projectWebhookToken, repositoryHash } from '../../hooks/lib/repository-identity.ts';

describe('normalizeRepositoryUrl', () => {
  it.each([
    'https://github.com/org/shop',
    'https://github.com/org/shop.git',
    'https://github.com/org/shop/',
    'https://github.com/org/shop.git/',
    'HTTPS://GitHub.com/Org/Shop.git',
    'https://github.com:443/org/shop',
    'https://user:secret@github.com/org/shop.git',
    'https://github.com/org/shop?ref=main#readme',
    '  https://github.com/org/shop  ',
  ])('spells %s as the one repository', (url) => {
    expect(normalizeRepositoryUrl(url)).toBe('https://github.com/org/shop');
  });

  it.each([
    ['another port of the same host', 'https://github.com:8443/org/shop'],
    ['plain http', 'http://github.com/org/shop'],
    ['another repository', 'https://github.com/org/shop2'],
    ['a nested group', 'https://github.com/org/sub/shop'],
  ])('keeps %s apart', (_name, url) => {
    expect(normalizeRepositoryUrl(url)).not.toBe('https://github.com/org/shop');
    expect(repositoryHash(url)).not.toBe(repositoryHash('https://github.com/org/shop'));
  });

  it.each(['git@github.com:org/shop.git', 'ssh://git@github.com/org/shop', 'file:///srv/shop', 'not a url', ''])(
    'has no spelling for %j',
    (url) => {
      expect(normalizeRepositoryUrl(url)).toBeUndefined();
      expect(repositoryHash(url)).toBeUndefined();
    },
  );

  it('hashes to a valid label value', () => {
    expect(repositoryHash('https://github.com/org/shop')).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('projectWebhookToken', () => {
  it('differs per Project and per key, and is stable for the same pair', () => {
    const a = projectWebhookToken('key-1', 'uid-a');
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(projectWebhookToken('key-1', 'uid-a')).toBe(a);
    expect(projectWebhookToken('key-1', 'uid-b')).not.toBe(a);
    expect(projectWebhookToken('key-2', 'uid-a')).not.toBe(a);
  });
});

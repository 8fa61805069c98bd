// The push-webhook receiver over HTTP (app.inject): each forge's documented payload, signed here
// with that forge's documented algorithm, and every way a request can be wrong. The Projects come
// from an in-memory stand-in (test/support/project-store.ts); the real API server's side is in
// test/k8s/receiver.test.ts and the whole chain in test/e2e/push-webhook.test.ts.

import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, expect, it } from 'vitest';
import { ANNOTATION_RECONCILE_REQUESTED, projectWebhookToken } from '../../hooks/lib/repository-identity.ts';
import { CachedProjectLookup } from '../../hooks/receiver/projects.ts';
import { tracksBranch } from '../../hooks/receiver/routes.ts';
import { MemoryProjectStore } from '../support/project-store.ts';
import { testApp, type TestApp } from '../support/app.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'receivers');
const KEY = randomBytes(32).toString('hex');
const NOW = new Date('2026-11-26T12:00:00Z');
const NOW_SECONDS = NOW.getTime() / 1000;

const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');
const hmac = (secret: string, data: string) => createHmac('sha256', secret).update(data).digest('hex');

function previewSpec(url: string, previews: Record<string, unknown> = { enabled: true, branches: { include: ['feature/*'] } }) {
  return {
    repository: { url, branch: 'main', pollInterval: '10m' },
    environments: [{ name: 'prod', branch: 'main' }],
    previewEnvironments: previews,
  };
}

type Forge = 'github' | 'gitlab' | 'gitea' | 'forgejo' | 'bitbucket' | 'generic';

/** Headers a forge sends with `body`, signed as its documentation says. */
function signed(forge: Forge, event: string, body: string, token: string, delivery = randomBytes(8).toString('hex')): Record<string, string> {
  const json = { 'content-type': 'application/json' };
  switch (forge) {
    case 'github':
      return { ...json, 'x-github-event': event, 'x-github-delivery': delivery, 'x-hub-signature-256': `sha256=${hmac(token, body)}` };
    case 'gitlab':
      return { ...json, 'x-gitlab-event': event, 'x-gitlab-event-uuid': delivery, 'x-gitlab-token': token };
    case 'gitea':
      // Gitea also sends GitHub's and Gogs' names for the same things.
      return { ...json, 'x-gitea-event': event, 'x-gitea-delivery': delivery, 'x-github-event': event, 'x-gogs-event': event, 'x-gitea-signature': hmac(token, body), 'x-hub-signature-256': `sha256=${hmac(token, body)}` };
    case 'forgejo':
      return { ...json, 'x-forgejo-event': event, 'x-forgejo-delivery': delivery, 'x-gitea-event': event, 'x-forgejo-signature': hmac(token, body), 'x-gitea-signature': hmac(token, body) };
    case 'bitbucket':
      return { ...json, 'x-event-key': event, 'x-request-uuid': delivery, 'x-hub-signature': `sha256=${hmac(token, body)}` };
    case 'generic':
      return { ...json, 'x-kapsa-event': event, 'x-kapsa-signature': `t=${NOW_SECONDS},v1=${hmac(token, `${NOW_SECONDS}.${body}`)}` };
  }
}

let store: MemoryProjectStore;
let current: TestApp;
let tokens: Record<string, string>;

function setUp() {
  store = new MemoryProjectStore();
  const add = (name: string, spec: Record<string, unknown>, options?: { label?: boolean }) => store.add(name, spec, options).uid;
  const uids = {
    'gh-shop': add('gh-shop', previewSpec('https://github.com/acme/shop')),
    // The same repository spelled differently, and without its label yet: still found.
    'gh-shop-staging': add('gh-shop-staging', previewSpec('https://GitHub.com/acme/shop.git/')),
    'gh-shop-main-only': add('gh-shop-main-only', previewSpec('https://github.com/acme/shop', { enabled: false })),
    'gh-other': add('gh-other', previewSpec('https://github.com/acme/other')),
    'gl-shop': add('gl-shop', previewSpec('https://gitlab.com/acme/shop.git')),
    'gitea-shop': add('gitea-shop', previewSpec('https://gitea.acme.test/acme/shop')),
    'fj-shop': add('fj-shop', previewSpec('https://codeberg.org/acme/shop')),
    'bb-shop': add('bb-shop', previewSpec('https://bitbucket.org/acme/shop')),
    'generic-shop': add('generic-shop', previewSpec('https://git.acme.test/acme/shop')),
  };
  tokens = Object.fromEntries(Object.entries(uids).map(([name, uid]) => [name, projectWebhookToken(KEY, uid)]));
  current = testApp({
    config: { receiverKey: KEY },
    projectStore: store,
    clock: () => NOW,
    token: 'hook-bearer-token',
  });
}

async function post(project: string, headers: Record<string, string>, payload: string | Buffer) {
  const reply = await current.app.inject({ method: 'POST', url: `/receivers/projects/${project}`, headers, payload });
  return { status: reply.statusCode, body: reply.json() as { message?: string; status?: string; projects?: number } };
}

async function requests(outcome: string, forge?: string): Promise<number> {
  const values = (await current.metrics.registry.getSingleMetric('kapsa_receiver_requests_total')?.get())?.values ?? [];
  return values.filter((value) => value.labels.outcome === outcome && (forge === undefined || value.labels.forge === forge)).reduce((sum, value) => sum + value.value, 0);
}

beforeEach(() => setUp());

describe('a verified push from each forge', () => {
  it.each([
    ['github', 'push', 'github-push.json', 'gh-shop', ['gh-shop', 'gh-shop-staging']],
    ['gitlab', 'Push Hook', 'gitlab-push.json', 'gl-shop', ['gl-shop']],
    ['gitea', 'push', 'gitea-push.json', 'gitea-shop', ['gitea-shop']],
    ['forgejo', 'push', 'forgejo-push.json', 'fj-shop', ['fj-shop']],
    ['bitbucket', 'repo:push', 'bitbucket-push.json', 'bb-shop', ['bb-shop']],
    ['generic', 'push', 'generic-push.json', 'generic-shop', ['generic-shop']],
  ] as const)('%s: annotates every Project of the repository that tracks the branch', async (forge, event, file, project, expected) => {
    const body = fixture(file);
    const reply = await post(project, signed(forge, event, body, tokens[project] as string), body);
    expect(reply, JSON.stringify(reply.body)).toMatchObject({ status: 202, body: { status: 'accepted', projects: expected.length } });
    expect(store.patched()).toEqual([...expected]);
    for (const name of expected) {
      // RFC 3339 time, then the delivery, so two pushes in one second still differ.
      expect(store.projects.get(name)?.annotations[ANNOTATION_RECONCILE_REQUESTED]).toMatch(/^2026-11-26T12:00:00\.000Z \S+$/);
    }
    expect(await requests('accepted', forge)).toBe(1);
    // Never all Projects: one label-selected list.
    expect(store.calls.filter((call) => call.startsWith('list '))).toHaveLength(1);
  });

  it('two pushes in the same second write different values', async () => {
    const body = fixture('github-push.json');
    await post('gh-shop', signed('github', 'push', body, tokens['gh-shop'] as string, 'delivery-1'), body);
    const first = store.projects.get('gh-shop')?.annotations[ANNOTATION_RECONCILE_REQUESTED];
    await post('gh-shop', signed('github', 'push', body, tokens['gh-shop'] as string, 'delivery-2'), body);
    const second = store.projects.get('gh-shop')?.annotations[ANNOTATION_RECONCILE_REQUESTED];
    expect(first).toBe('2026-11-26T12:00:00.000Z delivery-1');
    expect(second).toBe('2026-11-26T12:00:00.000Z delivery-2');
  });

  it.each([
    ['github', 'push', 'github-push-delete.json', 'gh-shop'],
    ['bitbucket', 'repo:push', 'bitbucket-push-delete.json', 'bb-shop'],
  ] as const)('%s: a deleted branch counts too (the poll removes its preview)', async (forge, event, file, project) => {
    const body = fixture(file);
    const reply = await post(project, signed(forge, event, body, tokens[project] as string), body);
    expect(reply.status).toBe(202);
    expect(store.patched()).toContain(project);
  });

  it.each([
    ['github', 'push', 'github-push-tag.json', 'gh-shop'],
    ['gitlab', 'Tag Push Hook', 'gitlab-tag-push.json', 'gl-shop'],
  ] as const)('%s: a tag push is accepted and changes nothing', async (forge, event, file, project) => {
    const body = fixture(file);
    const reply = await post(project, signed(forge, event, body, tokens[project] as string), body);
    expect(reply).toMatchObject({ status: 200, body: { status: 'ignored', projects: 0 } });
    expect(store.patched()).toEqual([]);
  });

  it('a push of a branch nobody tracks patches nothing', async () => {
    const body = fixture('github-push.json').replace('refs/heads/feature/login', 'refs/heads/experiment');
    const reply = await post('gh-shop', signed('github', 'push', body, tokens['gh-shop'] as string), body);
    expect(reply).toMatchObject({ status: 202, body: { status: 'ignored', projects: 0 } });
    expect(store.patched()).toEqual([]);
  });

  it('a push to main reaches the Project that tracks main only', async () => {
    const body = fixture('github-push.json').replace('refs/heads/feature/login', 'refs/heads/main');
    await post('gh-shop', signed('github', 'push', body, tokens['gh-shop'] as string), body);
    expect(store.patched()).toEqual(['gh-shop', 'gh-shop-main-only', 'gh-shop-staging']);
  });

  it("GitHub's form-encoded content type: the signature covers the raw form body", async () => {
    const body = `payload=${encodeURIComponent(fixture('github-push.json'))}`;
    const headers = { ...signed('github', 'push', body, tokens['gh-shop'] as string), 'content-type': 'application/x-www-form-urlencoded' };
    expect((await post('gh-shop', headers, body)).status).toBe(202);
    expect(store.patched()).toEqual(['gh-shop', 'gh-shop-staging']);
  });
});

describe('pings', () => {
  it('a signed GitHub ping answers 200 and patches nothing', async () => {
    const body = fixture('github-ping.json');
    const reply = await post('gh-shop', signed('github', 'ping', body, tokens['gh-shop'] as string), body);
    expect(reply).toMatchObject({ status: 200, body: { status: 'ping' } });
    expect(store.calls.filter((call) => !call.startsWith('get '))).toEqual([]);
  });

  it('a Bitbucket diagnostics:ping and a generic ping answer 200', async () => {
    const bitbucket = fixture('bitbucket-ping.json');
    expect((await post('bb-shop', signed('bitbucket', 'diagnostics:ping', bitbucket, tokens['bb-shop'] as string), bitbucket)).status).toBe(200);
    const generic = fixture('generic-ping.json');
    expect((await post('generic-shop', signed('generic', 'ping', generic, tokens['generic-shop'] as string), generic)).status).toBe(200);
    expect(store.patched()).toEqual([]);
  });

  it('a ping with a wrong signature is refused', async () => {
    const body = fixture('github-ping.json');
    expect((await post('gh-shop', signed('github', 'ping', body, 'not-the-token'), body)).status).toBe(401);
  });
});

describe('requests that change nothing', () => {
  const body = fixture('github-push.json');

  async function refused(project: string, headers: Record<string, string>, payload: string | Buffer = body) {
    const reply = await post(project, headers, payload);
    expect(store.patched()).toEqual([]);
    expect(reply.status).toBeGreaterThanOrEqual(400);
    expect(reply.status).toBeLessThan(500);
    expect(reply.body.message).toMatch(/^[^\n]+$/);
    return reply;
  }

  it.each(['github', 'gitlab', 'gitea', 'forgejo', 'bitbucket', 'generic'] as const)('%s: a wrong signature', async (forge) => {
    const event = forge === 'gitlab' ? 'Push Hook' : forge === 'bitbucket' ? 'repo:push' : 'push';
    const reply = await refused('gh-shop', signed(forge, event, body, randomBytes(32).toString('hex')));
    expect(reply).toMatchObject({ status: 401, body: { message: "the signature does not match this Project's webhook token" } });
    expect(await requests('unauthorized', forge)).toBe(1);
  });

  it("the signature of another Project's token", async () => {
    const reply = await refused('gh-shop', signed('github', 'push', body, tokens['gh-other'] as string));
    expect(reply.status).toBe(401);
  });

  it('an unknown Project answers exactly like a wrong signature', async () => {
    const unknown = await refused('no-such-project', signed('github', 'push', body, tokens['gh-shop'] as string));
    const wrong = await refused('gh-shop', signed('github', 'push', body, 'wrong'));
    expect(unknown).toEqual(wrong);
    // A name no Project can have costs no lookup at all.
    const calls = store.calls.length;
    expect((await refused('Not_A_Name', signed('github', 'push', body, 'x'))).status).toBe(401);
    expect(store.calls.length).toBe(calls);
  });

  it('a signature over a different body', async () => {
    const headers = signed('github', 'push', body, tokens['gh-shop'] as string);
    expect((await refused('gh-shop', headers, body.replace('feature/login', 'feature/logout'))).status).toBe(401);
  });

  it.each([
    ['github', { 'x-github-event': 'push', 'content-type': 'application/json' }, 'x-hub-signature-256'],
    ['gitlab', { 'x-gitlab-event': 'Push Hook', 'content-type': 'application/json' }, 'x-gitlab-token'],
    ['gitea', { 'x-gitea-event': 'push', 'x-hub-signature-256': 'sha256=00', 'content-type': 'application/json' }, 'x-gitea-signature'],
    ['bitbucket', { 'x-event-key': 'repo:push', 'content-type': 'application/json' }, 'x-hub-signature'],
  ])('%s: no signature at all is refused before any lookup', async (_forge, headers, header) => {
    const reply = await refused('gh-shop', headers);
    expect(reply.status).toBe(401);
    expect(reply.body.message).toContain(header);
    expect(store.calls).toEqual([]);
  });

  it('a replayed delivery', async () => {
    const headers = signed('github', 'push', body, tokens['gh-shop'] as string, 'a1b2c3');
    expect((await post('gh-shop', headers, body)).status).toBe(202);
    const before = store.calls.length;
    const reply = await post('gh-shop', headers, body);
    expect(reply).toMatchObject({ status: 409, body: { message: 'this delivery was already received' } });
    expect(store.calls.slice(before).filter((call) => call.startsWith('patch '))).toEqual([]);
    expect(await requests('replayed', 'github')).toBe(1);
  });

  it('generic form: a timestamp outside the 5-minute window, and the same signature twice', async () => {
    const generic = fixture('generic-push.json');
    const token = tokens['generic-shop'] as string;
    const old = NOW_SECONDS - 301;
    const stale = { 'content-type': 'application/json', 'x-kapsa-signature': `t=${old},v1=${hmac(token, `${old}.${generic}`)}` };
    expect((await refused('generic-shop', stale, generic)).status).toBe(401);
    const fresh = signed('generic', 'push', generic, token);
    expect((await post('generic-shop', fresh, generic)).status).toBe(202);
    // Without a delivery id the annotation tells pushes apart by a digest, never the signature.
    const value = store.projects.get('generic-shop')?.annotations[ANNOTATION_RECONCILE_REQUESTED] ?? '';
    expect(value).toMatch(/^2026-11-26T12:00:00\.000Z [0-9a-f]{16}$/);
    expect(value).not.toContain((fresh['x-kapsa-signature'] as string).split('v1=')[1]?.slice(0, 16));
    expect((await post('generic-shop', fresh, generic)).status).toBe(409);
    const malformed = { 'content-type': 'application/json', 'x-kapsa-signature': 'v1=abc' };
    expect((await post('generic-shop', malformed, generic)).status).toBe(401);
  });

  it('an unknown event', async () => {
    const reply = await refused('gh-shop', signed('github', 'issues', body, tokens['gh-shop'] as string));
    expect(reply).toMatchObject({ status: 400, body: { message: 'event "issues" is not handled; send push events' } });
  });

  it('headers of two forges at once', async () => {
    const headers = { ...signed('github', 'push', body, tokens['gh-shop'] as string), 'x-gitlab-event': 'Push Hook' };
    const reply = await refused('gh-shop', headers);
    expect(reply.status).toBe(400);
    expect(reply.body.message).toContain('more than one forge');
  });

  it('no forge header', async () => {
    expect((await refused('gh-shop', { 'content-type': 'application/json' })).status).toBe(400);
  });

  it("a push for another repository than the Project's", async () => {
    const other = body.replaceAll('acme/shop', 'acme/other');
    const reply = await refused('gh-shop', signed('github', 'push', other, tokens['gh-shop'] as string), other);
    expect(reply).toMatchObject({ status: 422 });
    // Not even the Projects of the repository pushed to.
    expect(store.calls.some((call) => call.startsWith('list '))).toBe(false);
  });

  it('malformed JSON, correctly signed', async () => {
    const broken = '{"ref": "refs/heads/main", ';
    const reply = await refused('gh-shop', signed('github', 'push', broken, tokens['gh-shop'] as string), broken);
    expect(reply).toMatchObject({ status: 400, body: { message: 'the body is not valid JSON' } });
  });

  it('deep JSON, correctly signed, is refused after the signature check', async () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const reply = await refused('gh-shop', signed('github', 'push', deep, tokens['gh-shop'] as string), deep);
    expect(reply.status).toBe(400);
    expect(reply.body.message).toContain('nested deeper than');
    // Unsigned, the same body never gets that far.
    expect((await refused('gh-shop', signed('github', 'push', deep, 'wrong'), deep)).status).toBe(401);
  });

  it('a push payload without a repository or ref', async () => {
    const empty = '{"zen": "Keep it logically awesome."}';
    expect((await refused('gh-shop', signed('github', 'push', empty, tokens['gh-shop'] as string), empty)).status).toBe(400);
  });

  it('a wrong content type', async () => {
    const headers = { ...signed('github', 'push', body, tokens['gh-shop'] as string), 'content-type': 'text/plain' };
    const reply = await refused('gh-shop', headers);
    expect(reply.status).toBe(415);
    expect(store.calls).toEqual([]);
  });

  it('no content type at all', async () => {
    const headers = signed('github', 'push', body, tokens['gh-shop'] as string);
    delete headers['content-type'];
    const reply = await refused('gh-shop', headers);
    expect(reply.status).toBe(415);
  });

  it('a form body without a payload field', async () => {
    const form = 'data=1';
    const headers = { ...signed('github', 'push', form, tokens['gh-shop'] as string), 'content-type': 'application/x-www-form-urlencoded' };
    expect((await refused('gh-shop', headers, form)).status).toBe(400);
  });

  it('a body over the receiver limit gets 413 before anything is looked up', async () => {
    const huge = Buffer.alloc(1024 * 1024 + 1, 'a');
    const reply = await refused('gh-shop', signed('github', 'push', 'x', tokens['gh-shop'] as string), huge);
    expect(reply.status).toBe(413);
    expect(store.calls).toEqual([]);
    expect(await requests('too_large')).toBe(1);
  });

  it('a GitLab token of the right length but wrong content', async () => {
    const token = tokens['gl-shop'] as string;
    const near = `${token.slice(0, -1)}${token.endsWith('0') ? '1' : '0'}`;
    const gitlab = fixture('gitlab-push.json');
    expect((await refused('gl-shop', signed('gitlab', 'Push Hook', gitlab, near), gitlab)).status).toBe(401);
  });
});

describe('the receiver beside the hooks', () => {
  it('needs no hook bearer token, and the hooks still do', async () => {
    const body = fixture('github-push.json');
    expect((await post('gh-shop', signed('github', 'push', body, tokens['gh-shop'] as string), body)).status).toBe(202);
    expect((await current.app.inject({ method: 'POST', url: '/hooks/environment/sync', payload: {} })).statusCode).toBe(401);
  });

  it('is 404 when no receiver key is configured', async () => {
    const off = testApp({ projectStore: store, token: 'hook-bearer-token' });
    const body = fixture('github-push.json');
    const reply = await off.app.inject({ method: 'POST', url: '/receivers/projects/gh-shop', headers: signed('github', 'push', body, tokens['gh-shop'] as string), payload: body });
    expect(reply.statusCode).toBe(404);
    expect(store.calls).toEqual([]);
  });

  it('never logs the token or a signature', async () => {
    const body = fixture('gitlab-push.json');
    const token = tokens['gl-shop'] as string;
    await post('gl-shop', signed('gitlab', 'Push Hook', body, token), body);
    await post('gl-shop', signed('gitlab', 'Push Hook', body, `${token}x`), body);
    const github = fixture('github-push.json');
    const headers = signed('github', 'push', github, tokens['gh-shop'] as string);
    await post('gh-shop', headers, github);
    const logs = current.logs.join('\n');
    expect(logs).toContain('push webhook');
    expect(logs).not.toContain(token);
    expect(logs).not.toContain((headers['x-hub-signature-256'] as string).slice('sha256='.length));
    expect(logs).not.toContain(KEY);
  });

  it('a flood of made-up names costs a bounded number of lookups at a time', async () => {
    let inFlight = 0;
    let most = 0;
    const slow = {
      get: async () => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight -= 1;
        return undefined;
      },
      listByRepository: async () => [],
      annotate: async () => {},
    };
    const lookup = new CachedProjectLookup(slow, { maxInFlight: 3, maxQueued: 5 });
    const answers = await Promise.all(Array.from({ length: 30 }, (_, index) => lookup.get(`made-up-${index}`)));
    expect(most).toBe(3);
    expect(answers.filter((answer) => answer === 'busy').length).toBe(30 - 3 - 5);
    // The same name again within the cache's lifetime costs nothing.
    const again = await lookup.get('made-up-0');
    expect(again).toBeUndefined();
  });
});

describe('tracksBranch, the poller rule the receiver asks', () => {
  it.each([
    ['an environment branch', previewSpec('https://x.test/a'), 'main', true],
    ['a preview branch that matches', previewSpec('https://x.test/a'), 'feature/login', true],
    ['a branch no rule matches', previewSpec('https://x.test/a'), 'experiment', false],
    ['an excluded branch', previewSpec('https://x.test/a', { enabled: true, branches: { include: ['**'], exclude: ['feature/*'] } }), 'feature/login', false],
    ['previews off', previewSpec('https://x.test/a', { enabled: false }), 'feature/login', false],
    ['the default branch without environments', { repository: { url: 'https://x.test/a', branch: 'trunk' } }, 'trunk', true],
  ])('%s', (_name, spec, branch, expected) => {
    expect(tracksBranch(spec, branch)).toBe(expected);
  });
});

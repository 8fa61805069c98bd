/**
 * The kapsa-webhook Secret of the Project hook: made only with a receiver key, only for a Project
 * with a uid, only in a namespace the Project holds; rotated with the key; its token never in
 * status, logs or errors. The golden cases webhook-secret* show the replies in full.
 */
import { describe, expect, it } from 'vitest';
import { render } from '../../hooks/cli/render.ts';
import type { CompositeSyncRequest, CompositeSyncResponse } from '../../hooks/lib/hook.ts';
import type { KubeObject } from '../../hooks/lib/objects.ts';
import { projectWebhookToken, WEBHOOK_SECRET_NAME } from '../../hooks/lib/repository-identity.ts';
import { projectSettings, type ProjectSettings } from '../../hooks/project/settings.ts';
import { syncProject } from '../../hooks/project/sync.ts';
import { defaultConfig } from '../../hooks/server/config.ts';
import type { HookRoute } from '../../hooks/server/routes.ts';
import { testApp } from '../support/app.ts';
import { loadCases } from '../support/golden.ts';

const KEY_A = 'receiver-key-a-0123456789abcdef0123456789';
const KEY_B = 'receiver-key-b-0123456789abcdef0123456789';
const NOW = new Date('2026-11-26T12:00:00Z');
const base = projectSettings(defaultConfig());

function golden(name: string): CompositeSyncRequest {
  const found = loadCases('project').find((item) => item.name === name);
  if (!found) throw new Error(`golden case ${name} is missing`);
  return structuredClone(found.request) as unknown as CompositeSyncRequest;
}

function sync(request: CompositeSyncRequest, settings: Partial<ProjectSettings>): CompositeSyncResponse {
  return syncProject(request, { now: NOW, settings: { ...base, receiverUrl: 'https://kapsa.example.com', ...settings } });
}

const webhookSecret = (reply: CompositeSyncResponse) => reply.children.find((child) => child.kind === 'Secret' && child.metadata.name === WEBHOOK_SECRET_NAME);
const decoded = (child: KubeObject | undefined, key: string) => Buffer.from(String((child as { data?: Record<string, string> } | undefined)?.data?.[key] ?? ''), 'base64').toString('utf8');

describe('the kapsa-webhook Secret', () => {
  it('carries the token derived from the key and the Project uid, and the receiver URL; a new key gives a new token at the next sync', () => {
    const request = golden('minimal');
    const first = sync(request, { receiverKey: KEY_A });
    const secret = webhookSecret(first);
    expect(decoded(secret, 'token')).toBe(projectWebhookToken(KEY_A, 'p-uid-shop'));
    expect(decoded(secret, 'url')).toBe('https://kapsa.example.com/receivers/projects/shop');
    expect(secret?.metadata.namespace).toBe('shop');
    expect(first.status.webhook).toEqual({ url: 'https://kapsa.example.com/receivers/projects/shop', secretName: 'kapsa-webhook' });

    const rotated = sync(request, { receiverKey: KEY_B });
    expect(decoded(webhookSecret(rotated), 'token')).toBe(projectWebhookToken(KEY_B, 'p-uid-shop'));
    expect(decoded(webhookSecret(rotated), 'token')).not.toBe(decoded(secret, 'token'));
    expect(rotated.status.webhook).toEqual(first.status.webhook);

    // A recreated Project (new uid) gets a new token from the same key.
    const recreated = structuredClone(request);
    recreated.parent.metadata.uid = 'p-uid-shop-2';
    expect(decoded(webhookSecret(sync(recreated, { receiverKey: KEY_A })), 'token')).toBe(projectWebhookToken(KEY_A, 'p-uid-shop-2'));
  });

  it('without a receiver URL it holds only the token, and status only the Secret name', () => {
    const reply = sync(golden('minimal'), { receiverKey: KEY_A, receiverUrl: '' });
    expect(Object.keys((webhookSecret(reply) as unknown as { data: object }).data)).toEqual(['token']);
    expect(reply.status.webhook).toEqual({ secretName: 'kapsa-webhook' });
  });

  it('the token is never in status, in any form', () => {
    for (const name of ['minimal', 'invalid-spec-keeps-children', 'missing-registry-keeps-children', 'domain-conflict-newer']) {
      const reply = sync(golden(name), { receiverKey: KEY_A });
      const token = projectWebhookToken(KEY_A, 'p-uid-shop');
      const status = JSON.stringify(reply.status);
      expect(status, name).not.toContain(token);
      expect(status, name).not.toContain(Buffer.from(token).toString('base64'));
      expect(status, name).not.toContain(KEY_A);
    }
  });

  it('a Project without a uid (kapsa render) gets no Secret and no status.webhook', () => {
    const request = golden('minimal');
    delete request.parent.metadata.uid;
    const reply = sync(request, { receiverKey: KEY_A });
    expect(webhookSecret(reply)).toBeUndefined();
    expect(reply.status.webhook).toBeUndefined();

    const inputs = [request.parent, ...Object.values(request.related ?? {}).flatMap((group) => Object.values(group))] as KubeObject[];
    const rendered = render(inputs, { now: NOW, settings: { ...base, receiverKey: KEY_A }, assumeBuildsSucceeded: false });
    expect(rendered.length).toBeGreaterThan(3);
    expect(rendered.filter((object) => object.metadata.name === WEBHOOK_SECRET_NAME)).toEqual([]);
  });

  it('never goes into a namespace the Project does not hold', () => {
    const refused = sync(golden('foreign-namespace'), { receiverKey: KEY_A });
    expect(webhookSecret(refused)).toBeUndefined();
    // An invalid spec before the namespace exists: nothing to put it in yet.
    const invalid = golden('invalid-spec-keeps-children');
    invalid.children = {};
    const early = sync(invalid, { receiverKey: KEY_A });
    expect(webhookSecret(early)).toBeUndefined();
    expect(early.children).toEqual([]);
  });

  it('is kept when the Registry, the DomainPool or the spec is broken', () => {
    for (const name of ['missing-registry-keeps-children', 'missing-domainpool-keeps-children', 'invalid-spec-keeps-children', 'poll-error-keeps-building']) {
      const reply = sync(golden(name), { receiverKey: KEY_A });
      expect(decoded(webhookSecret(reply), 'token'), name).toBe(projectWebhookToken(KEY_A, 'p-uid-shop'));
    }
  });
});

describe('the token and the key never reach a log line or an error', () => {
  const TOKEN = projectWebhookToken(KEY_A, 'p-uid-shop');
  const forms = [TOKEN, Buffer.from(TOKEN).toString('base64'), KEY_A];
  const clean = (text: string) => forms.every((form) => !text.includes(form));

  it('project sync at trace level, valid and invalid: the Secret is in the reply, nowhere in the log', async () => {
    const test = testApp({ level: 'trace', config: { receiverKey: KEY_A, receiverUrl: 'https://kapsa.example.com' } });
    try {
      for (const name of ['minimal', 'invalid-spec-keeps-children']) {
        const response = await test.app.inject({ method: 'POST', url: '/hooks/project/sync', payload: golden(name) });
        expect(response.statusCode).toBe(200);
        expect(response.body).toContain(Buffer.from(TOKEN).toString('base64'));
      }
      expect(test.logs.join('')).toMatch(/"level":"debug"/);
      expect(clean(test.logs.join(''))).toBe(true);
    } finally {
      await test.app.close();
    }
  });

  it('a hook that fails with the token or the key in its error: both are scrubbed before the error is logged or answered', async () => {
    // A bug that quotes the token: it is in no Secret of the request (the first sync has no observed copy).
    const crashing: HookRoute = {
      controller: 'crash',
      hook: 'sync',
      envelope: 'composite',
      handle: () => {
        throw new Error(`cannot sign with ${KEY_A}: token ${TOKEN} / ${Buffer.from(TOKEN).toString('base64')}`);
      },
    };
    const refusing: HookRoute = {
      ...crashing,
      controller: 'refuse',
      handle: () => {
        throw Object.assign(new Error(`bad token ${TOKEN} from key ${KEY_A}`), { statusCode: 400 });
      },
    };
    const test = testApp({ level: 'trace', routes: [crashing, refusing], config: { receiverKey: KEY_A } });
    try {
      const crashed = await test.app.inject({ method: 'POST', url: '/hooks/crash/sync', payload: golden('minimal') });
      expect(crashed.statusCode).toBe(500);
      const refused = await test.app.inject({ method: 'POST', url: '/hooks/refuse/sync', payload: golden('minimal') });
      expect(refused.statusCode).toBe(400);
      expect(refused.body).toContain('[REDACTED]');
      expect(clean(crashed.body + refused.body)).toBe(true);
      const logs = test.logs.join('');
      expect(logs).toContain('hook failed');
      expect(logs).toContain('[REDACTED]');
      expect(clean(logs)).toBe(true);
    } finally {
      await test.app.close();
    }
  });
});

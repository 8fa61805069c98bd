import { describe, expect, it } from 'vitest';
import { controllerDefinitions } from '../../hooks/metacontroller/definitions.ts';
import { REQUEST_SCHEMAS } from '../../hooks/server/envelopes.ts';
import { hookRoutes } from '../../hooks/server/routes.ts';
import { defaultConfig } from '../../hooks/server/config.ts';
import { createMetrics } from '../../hooks/server/metrics.ts';

// What Metacontroller v4.17.2 checks at run time and its CRD does not: the e2e suite proves these on
// the real engine; this guards them in the fast tests too.
describe('controller definitions as Metacontroller accepts them at run time', () => {
  const definitions = controllerDefinitions();

  it('every CompositeController generates its selector (else every parent is refused: ".spec.selector must have either matchLabels, matchExpressions, or both")', () => {
    const composites = definitions.filter(({ object }) => object.kind === 'CompositeController');
    expect(composites.length).toBeGreaterThan(0);
    for (const { object } of composites) expect((object.spec as { generateSelector?: boolean }).generateSelector, String((object.metadata as { name: string }).name)).toBe(true);
  });

  it('each hook URL is served by a route whose envelope matches the controller kind', () => {
    const routes = hookRoutes({ config: defaultConfig(), metrics: createMetrics(false) });
    for (const { object } of definitions) {
      const hooks = (object.spec as { hooks: Record<string, { webhook: { url: string } }> }).hooks;
      for (const [name, hook] of Object.entries(hooks)) {
        const [, controller] = /\/hooks\/([^/]+)\/[^/]+$/.exec(hook.webhook.url) ?? [];
        const route = routes.find((candidate) => candidate.controller === controller && candidate.hook === name);
        expect(route, hook.webhook.url).toBeDefined();
        const expected = name === 'customize' ? 'customize' : object.kind === 'DecoratorController' ? 'decorator' : 'composite';
        expect(route?.envelope, hook.webhook.url).toBe(expected);
        expect(REQUEST_SCHEMAS[expected]).toBeDefined();
      }
    }
  });
});

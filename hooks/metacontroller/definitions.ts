import { stringify } from 'yaml';
import { API_VERSION } from '../lib/labels.ts';

/**
 * The Metacontroller controllers that drive Kapsa's hooks. `metacontroller/` holds them with the
 * default in-cluster URL; the Helm chart renders the same definitions with its own values.
 */
export interface ControllerOptions {
  /** Base URL of the hook service, without a trailing slash. */
  baseUrl: string;
  timeout: string;
  etag: boolean;
  /** How often Metacontroller re-runs each sync without a change (the pollers' clock). */
  resyncSeconds: { project: number; environment: number; gitPoller: number; registry: number; domainPool: number; claims: number };
  /** metadata.labels of every controller; the defaults below when absent. */
  labels?: Record<string, string>;
  /** More fields of each hook's `webhook` (authorization, caBundle, …), by controller and hook. */
  webhookFields?: (controller: string, hook: string) => Record<string, unknown>;
}

export const DEFAULT_CONTROLLER_OPTIONS: ControllerOptions = {
  baseUrl: 'http://kapsa.kapsa-system.svc:8080',
  timeout: '30s',
  etag: true,
  resyncSeconds: { project: 300, environment: 300, gitPoller: 30, registry: 60, domainPool: 300, claims: 600 },
};

type Hook = Record<string, unknown>;

function hook(options: ControllerOptions, controller: string, name: string): Hook {
  const webhook: Record<string, unknown> = {
    url: `${options.baseUrl}/hooks/${controller}/${name}`,
    timeout: options.timeout,
    // Strict decoding turns a stray reply field into an error instead of silently ignoring it.
    responseUnMarshallMode: 'strict',
  };
  if (options.etag && name === 'sync') webhook.etag = { enabled: true, cacheTimeoutSeconds: 600, cacheCleanupSeconds: 900 };
  Object.assign(webhook, options.webhookFields?.(controller, name));
  return { version: 'v2', webhook };
}

const inPlace = (apiVersion: string, resource: string) => ({ apiVersion, resource, updateStrategy: { method: 'InPlace' } });

const DEFAULT_LABELS = { 'app.kubernetes.io/name': 'kapsa', 'app.kubernetes.io/part-of': 'kapsa' };

type Kind = 'CompositeController' | 'DecoratorController';

function controller(kind: Kind, name: string, labels: Record<string, string>, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'metacontroller.k8s.io/v1alpha1', kind, metadata: { name, labels }, spec };
}

/** The webhooks of one controller, in the order given (customize before sync). */
function hooks(options: ControllerOptions, name: string, ...names: Array<'customize' | 'sync'>): Record<string, Hook> {
  return Object.fromEntries(names.map((hookName) => [hookName, hook(options, name, hookName)]));
}

const parentResource = (resource: string) => ({ apiVersion: API_VERSION, resource });

export function controllerDefinitions(options: ControllerOptions = DEFAULT_CONTROLLER_OPTIONS): Array<{ file: string; object: Record<string, unknown> }> {
  const labels = options.labels ?? DEFAULT_LABELS;
  const resync = options.resyncSeconds;
  return [
    {
      file: 'project-controller.yaml',
      object: controller('CompositeController', 'kapsa-project', labels, {
        generateSelector: true,
        resyncPeriodSeconds: resync.project,
        parentResource: parentResource('projects'),
        childResources: [
          inPlace('v1', 'namespaces'),
          inPlace('v1', 'serviceaccounts'),
          inPlace('v1', 'secrets'),
          inPlace('kpack.io/v1alpha2', 'images'),
          // A build Job is immutable once started: a new commit gets a new Job, never an update.
          { apiVersion: 'batch/v1', resource: 'jobs', updateStrategy: { method: 'OnDelete' } },
          inPlace(API_VERSION, 'environments'),
          // spec.access: one RoleBinding per role in the project namespace, and the Role on
          // the Secrets its environments reference.
          inPlace('rbac.authorization.k8s.io/v1', 'roles'),
          inPlace('rbac.authorization.k8s.io/v1', 'rolebindings'),
        ],
        hooks: hooks(options, 'project', 'customize', 'sync'),
      }),
    },
    {
      file: 'environment-controller.yaml',
      object: controller('CompositeController', 'kapsa-environment', labels, {
        generateSelector: true,
        resyncPeriodSeconds: resync.environment,
        parentResource: parentResource('environments'),
        childResources: [
          inPlace('apps/v1', 'deployments'),
          inPlace('v1', 'services'),
          inPlace('networking.k8s.io/v1', 'ingresses'),
          inPlace('cert-manager.io/v1', 'certificates'),
          inPlace('autoscaling/v2', 'horizontalpodautoscalers'),
        ],
        hooks: hooks(options, 'environment', 'sync'),
      }),
    },
    {
      file: 'git-poller.yaml',
      object: controller('DecoratorController', 'kapsa-git-poller', labels, {
        // The poller asks for its next call per Project (resyncAfterSeconds); this is the floor.
        resyncPeriodSeconds: resync.gitPoller,
        resources: [parentResource('projects')],
        hooks: hooks(options, 'git-poller', 'customize', 'sync'),
      }),
    },
    {
      file: 'domainpool-controller.yaml',
      object: controller('CompositeController', 'kapsa-domainpool', labels, {
        generateSelector: true,
        resyncPeriodSeconds: resync.domainPool,
        parentResource: parentResource('domainpools'),
        // Wildcard certificates for previews, in Kapsa's namespace.
        childResources: [inPlace('cert-manager.io/v1', 'certificates')],
        hooks: hooks(options, 'domainpool', 'customize', 'sync'),
      }),
    },
    {
      file: 'registry-controller.yaml',
      object: controller('CompositeController', 'kapsa-registry', labels, {
        // Metacontroller refuses every parent of a CompositeController without a selector
        // (".spec.selector must have either matchLabels, matchExpressions, or both"), even one
        // with no children: generateSelector gives each Registry one from its uid.
        generateSelector: true,
        // The probe repeats through resync; each reply also asks for the next call.
        resyncPeriodSeconds: resync.registry,
        parentResource: parentResource('registries'),
        hooks: hooks(options, 'registry', 'customize', 'sync'),
      }),
    },
    {
      file: 'project-claims.yaml',
      object: controller('DecoratorController', 'kapsa-project-claims', labels, {
        resyncPeriodSeconds: resync.claims,
        resources: [parentResource('projects')],
        hooks: hooks(options, 'project-claims', 'sync'),
      }),
    },
  ];
}

/** File name → YAML text of every controller definition. */
export function controllerFiles(options: ControllerOptions = DEFAULT_CONTROLLER_OPTIONS): Map<string, string> {
  const header = '# Generated by `npm run generate` from hooks/metacontroller/definitions.ts. Do not edit.\n';
  return new Map(controllerDefinitions(options).map(({ file, object }) => [file, header + stringify(object, { lineWidth: 0 })]));
}

/**
 * The same controllers as a Helm template (chart/templates/controllers.yaml): every value the
 * chart makes configurable is a placeholder in the definitions, replaced by a Helm expression in the
 * YAML text, so the chart can never drift from metacontroller/.
 */
export function chartControllersTemplate(): string {
  const placeholder = (name: string) => `KAPSA_HELM_${name}`;
  const keys = ['project', 'environment', 'gitPoller', 'registry', 'domainPool', 'claims'] as const;
  const resync = Object.fromEntries(keys.map((key, index) => [key, 987_650 + index])) as ControllerOptions['resyncSeconds'];
  const definitions = controllerDefinitions({
    baseUrl: placeholder('BASE_URL'),
    timeout: placeholder('TIMEOUT'),
    // ETag, authorization and caBundle depend on values: the helper kapsa.webhookOptions adds them.
    etag: false,
    resyncSeconds: resync,
    labels: { [placeholder('LABELS')]: 'x' },
    webhookFields: (_controller, hook) => ({ [placeholder('WEBHOOK_OPTIONS')]: hook }),
  });
  const documents = definitions.map(({ object }) => {
    let text = stringify(object, { lineWidth: 0 });
    text = text.replaceAll(placeholder('BASE_URL'), '{{ include "kapsa.hookBaseUrl" $ }}');
    text = text.replaceAll(placeholder('TIMEOUT'), '{{ $.Values.controllers.timeout | quote }}');
    keys.forEach((key, index) => {
      text = text.replaceAll(`resyncPeriodSeconds: ${987_650 + index}\n`, `resyncPeriodSeconds: {{ int (index $.Values.controllers.resyncPeriodSeconds "${key}") }}\n`);
    });
    text = text.replace(/^( *)KAPSA_HELM_LABELS: x$/gm, (_line, indent: string) => `${indent}{{- include "kapsa.labels" $ | nindent ${indent.length} }}`);
    text = text.replace(
      /^( *)KAPSA_HELM_WEBHOOK_OPTIONS: (\w+)$/gm,
      (_line, indent: string, hook: string) =>
        `${indent}{{- with include "kapsa.webhookOptions" (dict "root" $ "hook" "${hook}") | trim }}{{ . | nindent ${indent.length} }}{{ end }}`,
    );
    if (/KAPSA_HELM_|98765\d/.test(text)) throw new Error(`a chart placeholder was left in the controllers template:\n${text}`);
    return `---\n${text}`;
  });
  return [
    '{{- /* Generated by `npm run generate` from hooks/metacontroller/definitions.ts. Do not edit. */}}',
    '{{- if .Values.controllers.create }}',
    ...documents.map((document) => document.trimEnd()),
    '{{- end }}',
    '',
  ].join('\n');
}

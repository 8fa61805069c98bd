import type { TSchema } from '@sinclair/typebox';
import { Document, visit } from 'yaml';
import { DomainPoolSpec } from '../domainpool/types.ts';
import { EnvironmentSpec } from '../environment/types.ts';
import { REFUSED_INVISIBLE_RANGES } from '../lib/git-refs.ts';
import { GROUP } from '../lib/labels.ts';
import { DNS_LABEL_PATTERN } from '../lib/names.ts';
import { ProjectSpec, ProjectStatus } from '../project/types.ts';
import { RegistrySpec } from '../registry/spec.ts';

/**
 * The CRDs in `crds/` are generated from the TypeBox specs, the one source of truth; a test fails
 * when the committed files differ (`npm run generate:crds` rewrites them).
 */

interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
}

interface KindDefinition {
  kind: string;
  plural: string;
  shortNames: string[];
  scope: 'Cluster' | 'Namespaced';
  description: string;
  spec: TSchema;
  columns: PrinterColumn[];
  statusDescription: string;
  /** Status fields with a schema; every other status field is preserved as written. */
  status?: TSchema;
  rootRules?: Array<{ rule: string; message: string }>;
}

const readyColumn: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Whether the object is ready.',
};
const ageColumn: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' };

export const KINDS: KindDefinition[] = [
  {
    kind: 'Project',
    plural: 'projects',
    shortNames: ['kproj'],
    scope: 'Cluster',
    description:
      'A git repository that Kapsa builds and deploys to environments. Cluster-scoped because it owns its own Namespace, so deleting the Project removes everything it made.',
    spec: ProjectSpec,
    columns: [
      readyColumn,
      { name: 'URL', type: 'string', jsonPath: '.status.urls[0]', description: 'URL of the primary environment.' },
      { name: 'Commit', type: 'string', jsonPath: '.status.latestCommit', description: 'Newest observed commit of the default branch.' },
      { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', description: 'Why it is (not) ready.', priority: 1 },
      ageColumn,
    ],
    statusDescription: 'What Kapsa observed: conditions, environments and their URLs, builds.',
    status: ProjectStatus,
    rootRules: [
      {
        rule: `self.metadata.name.size() <= 63 && self.metadata.name.matches('${DNS_LABEL_PATTERN}')`,
        message: 'a Project name must be a DNS label (lowercase letters, digits and dashes, at most 63 characters): it names the project namespace',
      },
    ],
  },
  {
    kind: 'Environment',
    plural: 'environments',
    shortNames: ['kenv'],
    scope: 'Namespaced',
    description: 'One deployed version of a Project: a Deployment, Service, Ingress, Certificate and, optionally, an autoscaler.',
    spec: EnvironmentSpec,
    columns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Lifecycle phase.' },
      readyColumn,
      { name: 'URL', type: 'string', jsonPath: '.status.urls[0]', description: 'Where the environment answers.' },
      { name: 'Branch', type: 'string', jsonPath: '.spec.branch', description: 'Deployed branch.', priority: 1 },
      { name: 'Image', type: 'string', jsonPath: '.status.image', description: 'Image that runs.', priority: 1 },
      ageColumn,
    ],
    statusDescription: 'What the Environment hook observed of its children.',
  },
  {
    kind: 'DomainPool',
    plural: 'domainpools',
    shortNames: ['kdp'],
    scope: 'Cluster',
    description: 'Base domains and the certificate issuer that Projects draw hostnames from (provided by a platform admin).',
    spec: DomainPoolSpec,
    columns: [
      readyColumn,
      { name: 'Domains', type: 'string', jsonPath: '.spec.baseDomains', description: 'Base domains.' },
      { name: 'Allocations', type: 'integer', jsonPath: '.status.counts.allocations', description: 'Hostnames handed out.' },
      { name: 'Conflicts', type: 'integer', jsonPath: '.status.counts.conflicts', description: 'Hostnames claimed by more than one Project.' },
      ageColumn,
    ],
    statusDescription: 'Allocations, conflicts and issuer readiness.',
  },
  {
    kind: 'Registry',
    plural: 'registries',
    shortNames: ['kreg'],
    scope: 'Cluster',
    description: 'A container registry and its push credentials (provided by a platform admin).',
    spec: RegistrySpec,
    columns: [
      { name: 'Endpoint', type: 'string', jsonPath: '.spec.endpoint', description: 'Registry URL.' },
      { name: 'Verified', type: 'boolean', jsonPath: '.status.verified', description: 'Whether the credentials were accepted.' },
      readyColumn,
      ageColumn,
    ],
    statusDescription: 'Whether the credentials work, as last probed.',
  },
];

/**
 * A TypeBox schema as plain JSON: TypeBox's symbol keys dropped, property order kept. A property
 * with a default is not `required` in the CRD: the API server checks a default (such as `{}` for
 * an object) against the schema before it fills nested defaults, and a defaulted field is never
 * missing from a stored object anyway.
 */
function plainSchema(schema: TSchema): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
  const relax = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(relax);
    if (typeof node !== 'object' || node === null) return;
    const record = node as Record<string, unknown>;
    const properties = record.properties as Record<string, Record<string, unknown>> | undefined;
    if (Array.isArray(record.required) && properties) {
      const required = record.required.filter((name: unknown) => typeof name === 'string' && properties[name]?.default === undefined);
      if (required.length > 0) record.required = required;
      else delete record.required;
    }
    Object.values(record).forEach(relax);
  };
  relax(plain);
  return plain;
}

export function customResourceDefinition(definition: KindDefinition): Record<string, unknown> {
  const singular = definition.kind.toLowerCase();
  const root: Record<string, unknown> = {
    type: 'object',
    description: definition.description,
    properties: {
      apiVersion: { type: 'string', description: 'API version of this object.' },
      kind: { type: 'string', description: 'Kind of this object.' },
      metadata: { type: 'object' },
      spec: plainSchema(definition.spec),
      status: {
        type: 'object',
        description: definition.statusDescription,
        ...(definition.status ? { properties: plainSchema(definition.status).properties } : {}),
        'x-kubernetes-preserve-unknown-fields': true,
      },
    },
    required: ['spec'],
  };
  if (definition.rootRules) root['x-kubernetes-validations'] = definition.rootRules;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${definition.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'kapsa', 'app.kubernetes.io/part-of': 'kapsa' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: definition.kind,
        listKind: `${definition.kind}List`,
        plural: definition.plural,
        singular,
        shortNames: definition.shortNames,
        categories: ['kapsa'],
      },
      scope: definition.scope,
      versions: [
        {
          name: 'v1alpha1',
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: definition.columns,
          schema: { openAPIV3Schema: root },
        },
      ],
    },
  };
}

/** File name → YAML text, for every Kapsa CRD. */
export function crdFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const definition of KINDS) {
    const header = '# Generated from the TypeBox specs in hooks/ by `npm run generate`. Do not edit.\n';
    files.set(`${definition.plural}.${GROUP}.yaml`, header + crdYaml(customResourceDefinition(definition)));
  }
  return files;
}

function isInvisible(char: string): boolean {
  const code = char.codePointAt(0) ?? 0;
  return REFUSED_INVISIBLE_RANGES.some(([from, to]) => code >= from && code <= to);
}

/**
 * YAML of a CRD in which no invisible or bidirectional-control character appears as itself (the
 * branch-name pattern lists them): a string holding one is double-quoted and the character
 * written as a `\uXXXX` escape, which every YAML parser (Go's YAML 1.1 one included) reads back,
 * so a reviewer sees what the file says and no line is reordered or split on screen.
 */
function crdYaml(value: unknown): string {
  const document = new Document(value);
  visit(document, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && [...node.value].some(isInvisible)) node.type = 'QUOTE_DOUBLE';
    },
  });
  return [...document.toString({ lineWidth: 0 })]
    .map((char) => (isInvisible(char) ? `\\u${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}` : char))
    .join('');
}

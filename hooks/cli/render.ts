import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { syncDomainPool } from '../domainpool/sync.ts';
import { syncEnvironment } from '../environment/sync.ts';
import type { CompositeSyncRequest } from '../lib/hook.ts';
import { API_VERSION } from '../lib/labels.ts';
import { formatTime } from '../lib/conditions.ts';
import { groupObjects, isRecord, type KubeObject } from '../lib/objects.ts';
import type { ProjectSettings } from '../project/settings.ts';
import { syncProject } from '../project/sync.ts';

/**
 * `kapsa render`: what Kapsa would create from a set of YAML files, the way `helm template` shows
 * a chart. It runs the same pure sync functions as the service and chains them: Project →
 * Namespace, credentials, builds, Environments → Deployment, Service, Ingress, Certificate.
 */

export class RenderError extends Error {
  override name = 'RenderError';
}

export const INPUT_KINDS = ['Project', 'Environment', 'DomainPool', 'Registry', 'Secret'] as const;

export interface RenderOptions {
  now: Date;
  settings: ProjectSettings;
  /** Show the state once every build has succeeded (true) or before the first build (false). */
  assumeBuildsSucceeded: boolean;
}

function yamlFiles(path: string): string[] {
  let stats;
  try {
    stats = statSync(path);
  } catch {
    throw new RenderError(`${path}: no such file or folder`);
  }
  if (stats.isFile()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((entry) => {
      const full = join(path, entry);
      if (statSync(full).isDirectory()) return yamlFiles(full);
      return ['.yaml', '.yml'].includes(extname(entry)) ? [full] : [];
    });
}

/** Every Kubernetes object in the files and folders given; a clear error for anything else. */
export function loadObjects(paths: readonly string[]): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const file of paths.flatMap(yamlFiles)) {
    const text = readFileSync(file, 'utf8');
    for (const document of parseAllDocuments(text)) {
      if (document.errors.length > 0) {
        const error = document.errors[0];
        throw new RenderError(`${file}: not valid YAML: ${error?.message.split('\n')[0] ?? 'parse error'}`);
      }
      const value: unknown = document.toJS();
      if (value === null || value === undefined) continue;
      if (!isRecord(value) || typeof value.kind !== 'string' || typeof value.apiVersion !== 'string' || !isRecord(value.metadata)) {
        throw new RenderError(`${file}: every document must be a Kubernetes object with apiVersion, kind and metadata`);
      }
      const kind = value.kind;
      if (!(INPUT_KINDS as readonly string[]).includes(kind)) {
        throw new RenderError(`${file}: unknown kind ${kind} (kapsa render reads ${INPUT_KINDS.join(', ')})`);
      }
      if (kind !== 'Secret' && value.apiVersion !== API_VERSION) {
        throw new RenderError(`${file}: ${kind} must have apiVersion ${API_VERSION}, not ${value.apiVersion}`);
      }
      if (typeof value.metadata.name !== 'string' || value.metadata.name === '') throw new RenderError(`${file}: a ${kind} has no metadata.name`);
      objects.push(value as KubeObject);
    }
  }
  return objects;
}

function withServerFields(object: KubeObject, now: Date): KubeObject {
  return { ...object, metadata: { ...object.metadata, creationTimestamp: formatTime(now), generation: 1 } };
}

/** A stand-in for a finished build, so the render can show what runs once images exist. */
function simulatedBuild(child: KubeObject, now: Date): KubeObject {
  const observed = withServerFields(child, now);
  const spec = isRecord(child.spec) ? child.spec : {};
  const commit = child.metadata.annotations?.['kapsa-project.io/commit'] ?? '';
  if (child.kind === 'Image' && typeof spec.tag === 'string') {
    const digest = createHash('sha256').update(`${spec.tag}@${commit}`).digest('hex');
    observed.status = {
      latestBuildImageGeneration: 1,
      latestImage: `${spec.tag.replace(/:[^:/]+$/, '')}@sha256:${digest}`,
      conditions: [{ type: 'Ready', status: 'True' }],
    };
  }
  if (child.kind === 'Job') observed.status = { succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] };
  return observed;
}

function renderProject(project: KubeObject, inputs: readonly KubeObject[], options: RenderOptions): KubeObject[] {
  const now = options.now;
  const parent = project.metadata.creationTimestamp ? project : withServerFields(project, now);
  const related = groupObjects(inputs.filter((object) => ['DomainPool', 'Registry', 'Secret', 'Project'].includes(object.kind) && object !== project));
  const first = syncProject({ parent, children: {}, related }, { now, settings: options.settings });
  if (!options.assumeBuildsSucceeded) return first.children;
  const observed = first.children.map((child) => (child.kind === 'Image' || child.kind === 'Job' ? simulatedBuild(child, now) : withServerFields(child, now)));
  const second = syncProject({ parent: { ...parent, status: first.status }, children: groupObjects(observed), related }, { now, settings: options.settings });
  return second.children;
}

function renderEnvironment(environment: KubeObject, now: Date): KubeObject[] {
  const request: CompositeSyncRequest = { parent: environment.metadata.creationTimestamp ? environment : withServerFields(environment, now), children: {} };
  return syncEnvironment(request, { now }).children;
}

/** Everything Kapsa would create from `inputs`, parents before their children. */
export function render(inputs: readonly KubeObject[], options: RenderOptions): KubeObject[] {
  const output: KubeObject[] = [];
  for (const object of inputs) {
    if (object.kind === 'Project') {
      for (const child of renderProject(object, inputs, options)) {
        output.push(child);
        if (child.kind === 'Environment') output.push(...renderEnvironment(child, options.now));
      }
    } else if (object.kind === 'Environment') {
      output.push(...renderEnvironment(object, options.now));
    } else if (object.kind === 'DomainPool') {
      // A pool in wildcard mode makes one `*.<base>` Certificate per base domain.
      const related = groupObjects(inputs.filter((input) => input.kind === 'Project'));
      output.push(...syncDomainPool({ parent: object, children: {}, related }, { now: options.now, settings: { kapsaNamespace: options.settings.kapsaNamespace } }).children);
    }
  }
  return output;
}

/** Manifests as the YAML stream `kapsa render` prints, one document each. */
export function formatManifests(objects: readonly KubeObject[]): string {
  return objects.map((object) => `---\n${stringify(object, { lineWidth: 0 })}`).join('');
}

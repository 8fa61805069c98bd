import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { groupObjects, isRecord, type KubeObject, type ObjectsByType } from '../../hooks/lib/objects.ts';

/**
 * Golden fixtures: `test/fixtures/<controller>/<case>/request.yaml` holds the hook input,
 * `expected.yaml` the reply. `UPDATE_GOLDEN=1 npm test` rewrites the expected files; review the
 * diff before committing it.
 *
 * request.yaml fields:
 *   description   what the case shows
 *   now           the clock handed to the pure function
 *   settings      overrides of the hook settings (Project hook)
 *   request       the Metacontroller v2 request; `children` and `related` may be given as lists,
 *                 which are grouped into the `{"Kind.apiVersion": {"ns/name": obj}}` form
 *   deletes       `Kind/name` of observed children this case is meant to remove (intent changed);
 *                 every other observed child must be in the reply
 */
export interface GoldenCase {
  name: string;
  dir: string;
  description: string;
  now: Date;
  settings: Record<string, unknown>;
  request: Record<string, unknown>;
  deletes: string[];
}

export const UPDATE = process.env.UPDATE_GOLDEN === '1';

function grouped(value: unknown): ObjectsByType | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? groupObjects(value as KubeObject[]) : (value as ObjectsByType);
}

export function loadCases(controller: string): GoldenCase[] {
  const root = join(import.meta.dirname, '..', 'fixtures', controller);
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const dir = join(root, name);
      const raw = parse(readFileSync(join(dir, 'request.yaml'), 'utf8')) as Record<string, unknown>;
      const request = { ...(raw.request as Record<string, unknown>) };
      for (const field of ['children', 'related', 'attachments'] as const) {
        const value = grouped(request[field]);
        if (value !== undefined) request[field] = value;
      }
      return {
        name,
        dir,
        description: String(raw.description ?? ''),
        now: new Date(String(raw.now ?? '2026-11-26T12:00:00Z')),
        settings: isRecord(raw.settings) ? raw.settings : {},
        request,
        deletes: Array.isArray(raw.deletes) ? raw.deletes.map(String) : [],
      };
    });
}

export function readExpected(testCase: GoldenCase): unknown {
  const path = join(testCase.dir, 'expected.yaml');
  return existsSync(path) ? parse(readFileSync(path, 'utf8')) : undefined;
}

export function writeExpected(testCase: GoldenCase, reply: unknown): void {
  writeFileSync(join(testCase.dir, 'expected.yaml'), stringify(reply, { lineWidth: 0 }));
}

/** `Kind/namespace/name` of every object in a grouped map. */
export function observedKeys(children: unknown): string[] {
  if (!isRecord(children)) return [];
  return Object.values(children).flatMap((group) =>
    Object.values(group as Record<string, KubeObject>).map((object) => `${object.kind}/${object.metadata.name ?? ''}`),
  );
}

export function replyKeys(children: readonly KubeObject[]): Set<string> {
  return new Set(children.map((object) => `${object.kind}/${object.metadata.name ?? ''}`));
}

// A tiny Kubernetes REST client for the tests, over node:https (no dependencies).
//
// Any group/version/kind works: the resource path (plural, namespaced or not) is found through the
// discovery API (/api/v1, /apis/<group>/<version>) and cached per group/version.

import { Agent, request } from 'node:https';

/** What the global setup provides to the tests (`inject('kube')`). */
export interface KubeConnection {
  url: string;
  token: string;
  kubeconfig: string;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name?: string;
    generateName?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    uid?: string;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface KubeList<T = KubeObject> {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** Identifies one object (or, without name, a collection). */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface ApplyOptions {
  fieldManager: string;
  force?: boolean;
  dryRun?: boolean;
}

export interface CreateOptions {
  dryRun?: boolean;
  fieldManager?: string;
}

export interface ListOptions {
  namespace?: string;
  /** List a namespaced kind across every namespace (the default is to require a namespace). */
  allNamespaces?: boolean;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface DeleteOptions {
  dryRun?: boolean;
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  /** Do not throw when the object does not exist. */
  ignoreNotFound?: boolean;
}

export interface ResourceInfo {
  /** Plural resource name, e.g. "configmaps". */
  plural: string;
  namespaced: boolean;
  kind: string;
}

/** A user (and groups) the suite's admin acts as; system:masters may impersonate anyone. */
export interface Impersonation {
  user: string;
  groups?: readonly string[];
}

/** A non-2xx answer. `message`, `reason` and `details` come from the server's Status object. */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string | undefined;
  readonly serverMessage: string;
  readonly body: unknown;
  readonly method: string;
  readonly path: string;

  constructor(method: string, path: string, status: number, body: unknown, rawBody: string) {
    const st = isRecord(body) ? body : undefined;
    const serverMessage = typeof st?.message === 'string' ? st.message : rawBody.slice(0, 2000);
    super(`${method} ${path}: HTTP ${status}: ${serverMessage}`);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = typeof st?.reason === 'string' ? st.reason : undefined;
    this.serverMessage = serverMessage;
    this.body = body;
    this.method = method;
    this.path = path;
  }
}

interface RawResponse {
  status: number;
  body: string;
}

export class KubeClient {
  readonly url: string;
  readonly token: string;
  private readonly agent: Agent;
  private readonly discovery = new Map<string, Promise<Map<string, ResourceInfo>>>();

  /** Who the requests act as (Impersonate-User / Impersonate-Group); the token's own user when absent. */
  readonly impersonate: Impersonation | undefined;

  constructor(conn: { url: string; token: string }, options: { impersonate?: Impersonation } = {}) {
    this.url = conn.url.replace(/\/+$/, '');
    this.token = conn.token;
    this.impersonate = options.impersonate;
    this.agent = new Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.agent.destroy();
  }

  // ---- typed operations -----------------------------------------------------------------------

  /** Server-side apply (PATCH application/apply-patch+yaml; the JSON body is valid YAML). */
  async apply<T extends KubeObject = KubeObject>(obj: KubeObject, opts: ApplyOptions): Promise<T> {
    const name = obj.metadata.name;
    if (!name) throw new Error(`apply: ${obj.kind} has no metadata.name`);
    const path = await this.objectPath({ apiVersion: obj.apiVersion, kind: obj.kind, name, namespace: obj.metadata.namespace });
    const query = new URLSearchParams({ fieldManager: opts.fieldManager });
    if (opts.force) query.set('force', 'true');
    if (opts.dryRun) query.set('dryRun', 'All');
    return (await this.request('PATCH', `${path}?${query}`, obj, 'application/apply-patch+yaml')) as T;
  }

  async create<T extends KubeObject = KubeObject>(obj: KubeObject, opts: CreateOptions = {}): Promise<T> {
    const path = await this.collectionPath(obj.apiVersion, obj.kind, obj.metadata.namespace);
    const query = new URLSearchParams();
    if (opts.dryRun) query.set('dryRun', 'All');
    if (opts.fieldManager) query.set('fieldManager', opts.fieldManager);
    const qs = query.size > 0 ? `?${query}` : '';
    return (await this.request('POST', `${path}${qs}`, obj)) as T;
  }

  async get<T extends KubeObject = KubeObject>(ref: ObjectRef): Promise<T> {
    return (await this.request('GET', await this.objectPath(ref))) as T;
  }

  /** Like get(), but undefined for 404. */
  async tryGet<T extends KubeObject = KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    try {
      return await this.get<T>(ref);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  async list<T extends KubeObject = KubeObject>(apiVersion: string, kind: string, opts: ListOptions = {}): Promise<KubeList<T>> {
    const path = opts.allNamespaces
      ? `${groupVersionPath(apiVersion)}/${(await this.resource(apiVersion, kind)).plural}`
      : await this.collectionPath(apiVersion, kind, opts.namespace);
    const query = new URLSearchParams();
    if (opts.labelSelector) query.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) query.set('fieldSelector', opts.fieldSelector);
    const qs = query.size > 0 ? `?${query}` : '';
    return (await this.request('GET', `${path}${qs}`)) as KubeList<T>;
  }

  /** Deletes; returns the server's answer (the object or a Status), or undefined if it was absent and ignoreNotFound. */
  async delete(ref: ObjectRef, opts: DeleteOptions = {}): Promise<unknown> {
    const query = new URLSearchParams();
    if (opts.dryRun) query.set('dryRun', 'All');
    if (opts.propagationPolicy) query.set('propagationPolicy', opts.propagationPolicy);
    const qs = query.size > 0 ? `?${query}` : '';
    try {
      return await this.request('DELETE', `${await this.objectPath(ref)}${qs}`);
    } catch (err) {
      if (opts.ignoreNotFound && err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  // ---- paths & discovery ----------------------------------------------------------------------

  /** The resource behind apiVersion + kind, from the discovery API (cached; refreshed once on a miss). */
  async resource(apiVersion: string, kind: string): Promise<ResourceInfo> {
    let found = (await this.discover(apiVersion, false)).get(kind);
    if (!found) found = (await this.discover(apiVersion, true)).get(kind);
    if (!found) throw new Error(`the server has no resource of kind ${kind} in ${apiVersion}`);
    return found;
  }

  async collectionPath(apiVersion: string, kind: string, namespace?: string): Promise<string> {
    const res = await this.resource(apiVersion, kind);
    const base = groupVersionPath(apiVersion);
    if (res.namespaced) {
      if (!namespace) throw new Error(`${kind} (${apiVersion}) is namespaced: give a namespace`);
      return `${base}/namespaces/${encodeURIComponent(namespace)}/${res.plural}`;
    }
    return `${base}/${res.plural}`;
  }

  async objectPath(ref: ObjectRef): Promise<string> {
    return `${await this.collectionPath(ref.apiVersion, ref.kind, ref.namespace)}/${encodeURIComponent(ref.name)}`;
  }

  /** Forgets cached discovery (all group/versions, or one). */
  invalidateDiscovery(apiVersion?: string): void {
    if (apiVersion) this.discovery.delete(apiVersion);
    else this.discovery.clear();
  }

  private discover(apiVersion: string, refresh: boolean): Promise<Map<string, ResourceInfo>> {
    let cached = this.discovery.get(apiVersion);
    if (!cached || refresh) {
      cached = this.fetchDiscovery(apiVersion);
      this.discovery.set(apiVersion, cached);
      // Do not cache failures (e.g. a group/version that is not served yet).
      cached.catch(() => {
        if (this.discovery.get(apiVersion) === cached) this.discovery.delete(apiVersion);
      });
    }
    return cached;
  }

  private async fetchDiscovery(apiVersion: string): Promise<Map<string, ResourceInfo>> {
    const list = await this.request('GET', groupVersionPath(apiVersion));
    const byKind = new Map<string, ResourceInfo>();
    const resources = isRecord(list) && Array.isArray(list.resources) ? list.resources : [];
    for (const r of resources) {
      if (!isRecord(r) || typeof r.name !== 'string' || typeof r.kind !== 'string') continue;
      if (r.name.includes('/')) continue; // subresources: pods/status, ...
      byKind.set(r.kind, { plural: r.name, namespaced: r.namespaced === true, kind: r.kind });
    }
    return byKind;
  }

  // ---- raw HTTP -------------------------------------------------------------------------------

  /** One request; JSON in and out. Throws KubeApiError for a non-2xx answer. */
  async request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<unknown> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const res = await this.raw(method, path, payload, contentType);
    let parsed: unknown;
    try {
      parsed = res.body === '' ? undefined : JSON.parse(res.body);
    } catch {
      parsed = undefined;
    }
    if (res.status < 200 || res.status >= 300) throw new KubeApiError(method, path, res.status, parsed, res.body);
    return parsed ?? res.body;
  }

  private raw(method: string, path: string, payload: string | undefined, contentType: string): Promise<RawResponse> {
    return new Promise((resolvePromise, reject) => {
      const headers: Record<string, string | number | string[]> = {
        authorization: `Bearer ${this.token}`,
        accept: 'application/json',
      };
      if (this.impersonate) {
        headers['impersonate-user'] = this.impersonate.user;
        if (this.impersonate.groups && this.impersonate.groups.length > 0) headers['impersonate-group'] = [...this.impersonate.groups];
      }
      if (payload !== undefined) {
        headers['content-type'] = contentType;
        headers['content-length'] = Buffer.byteLength(payload);
      }
      const req = request(`${this.url}${path}`, { method, headers, agent: this.agent, timeout: 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What is awaited, for the timeout error. */
  description?: string;
}

/**
 * Polls `predicate` until it returns a truthy value (which is returned). Errors thrown by the
 * predicate count as "not yet"; the last one is reported on timeout.
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, opts: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await predicate();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.description ?? 'condition'}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** True when the object's status.conditions has `type` with status "True". */
export function hasCondition(obj: unknown, type: string): boolean {
  if (!isRecord(obj) || !isRecord(obj.status) || !Array.isArray(obj.status.conditions)) return false;
  return obj.status.conditions.some((c) => isRecord(c) && c.type === type && c.status === 'True');
}

/** Waits until a CustomResourceDefinition is Established (and NamesAccepted). */
export async function waitForCrdEstablished(client: KubeClient, name: string, timeoutMs = 30_000): Promise<KubeObject> {
  return waitFor(
    async () => {
      const crd = await client.get({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name });
      return hasCondition(crd, 'Established') && hasCondition(crd, 'NamesAccepted') ? crd : undefined;
    },
    { timeoutMs, description: `CRD ${name} to be Established` },
  );
}

/** "/api/v1" for core, "/apis/<group>/<version>" otherwise. */
export function groupVersionPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

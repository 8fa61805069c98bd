// Stand-ins for the three controllers the e2e engine cannot run here. kpack builds need a container
// runtime, cert-manager needs a CA and an ACME server, an ingress controller needs a data plane.
// Each stand-in does to status (and, for cert-manager, to the TLS Secret) exactly what the real
// controller does once its work succeeds, and nothing else. Every other controller in the e2e run
// is the real one.

import { createHash } from 'node:crypto';
import type { KubeClient, KubeObject } from '../k8s/client.ts';

const STAND_IN_MANAGER = 'kapsa-e2e-stand-in';
const POLL_MS = 150;

type Status = Record<string, unknown>;
type Condition = { type: string; status: string; reason?: string; message?: string };

function conditionsOf(object: KubeObject): Condition[] {
  const status = object.status as Status | undefined;
  return Array.isArray(status?.conditions) ? (status.conditions as Condition[]) : [];
}

function isReady(object: KubeObject): boolean {
  return conditionsOf(object).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** `type` is given because items of a built-in list carry no apiVersion and kind. */
async function patchStatus(client: KubeClient, type: { apiVersion: string; kind: string }, object: KubeObject, status: Status): Promise<void> {
  const path = await client.objectPath({
    apiVersion: type.apiVersion,
    kind: type.kind,
    name: object.metadata.name ?? '',
    namespace: object.metadata.namespace,
  });
  await client.request('PATCH', `${path}/status`, { status }, 'application/merge-patch+json');
}

/** A loop that runs `tick` every POLL_MS until stopped; a failed tick is retried on the next one. */
abstract class StandIn {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  /** The last error of a tick, for a test that wonders why nothing happens. */
  lastError: Error | undefined;

  protected readonly client: KubeClient;
  /** Time this tick spent listing: what the back-off is measured by. */
  #listMs = 0;

  constructor(client: KubeClient) {
    this.client = client;
  }

  protected abstract tick(): Promise<void>;

  protected async list(apiVersion: string, kind: string, options: { allNamespaces?: boolean } = {}): Promise<KubeObject[]> {
    const started = performance.now();
    try {
      return (await this.client.list(apiVersion, kind, options)).items;
    } finally {
      this.#listMs += performance.now() - started;
    }
  }

  /**
   * Does `work` for each item, and keeps going past one that fails: an object whose write keeps
   * failing (its namespace is going away, a conflict) must not hold up every object after it.
   */
  protected async each(items: KubeObject[], work: (item: KubeObject) => Promise<void>): Promise<void> {
    for (const item of items) {
      try {
        await work(item);
      } catch (error) {
        this.lastError = error as Error;
      }
    }
  }

  start(): this {
    const loop = () => {
      if (this.#stopped) return;
      this.#listMs = 0;
      this.#running = this.tick()
        .catch((error: unknown) => {
          this.lastError = error as Error;
        })
        .finally(() => {
          // A list of thousands of objects costs the API server real work: with many objects the
          // stand-ins poll less often, so they never become the load they are standing in for.
          // Measured by the lists alone: a tick that wrote the status of many objects did the
          // work a real controller does and must come back soon, not sit out four times its length.
          const wait = Math.max(POLL_MS, 4 * this.#listMs);
          if (!this.#stopped) this.#timer = setTimeout(loop, wait);
        });
    };
    loop();
    return this;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}

/**
 * kpack stand-in: an Image whose current generation has not been built gets, after `buildMs`, what
 * kpack writes when the Build for it finishes: `latestBuildImageGeneration`, `latestImage` as
 * `<tag>@sha256:<digest>` and `Ready=True`, or for a commit in `failingCommits` `Ready=False`
 * with `latestBuildReason: BuildFailed` (and no new latestImage, as kpack keeps the last good one).
 */
export class KpackStandIn extends StandIn {
  readonly failingCommits = new Set<string>();
  /** `<namespace>/<name>@<commit>` of every build it finished, in order. */
  readonly builds: string[] = [];
  readonly #firstSeen = new Map<string, number>();
  readonly #buildMs: number;

  constructor(client: KubeClient, buildMs = 500) {
    super(client);
    this.#buildMs = buildMs;
  }

  protected async tick(): Promise<void> {
    await this.each(await this.list('kpack.io/v1alpha2', 'Image', { allNamespaces: true }), async (image) => {
      const generation = Number(image.metadata.generation ?? 0);
      const status = (image.status ?? {}) as Status;
      if (status.latestBuildImageGeneration === generation) return;
      const key = `${image.metadata.namespace}/${image.metadata.name}#${generation}`;
      const seen = this.#firstSeen.get(key) ?? Date.now();
      this.#firstSeen.set(key, seen);
      if (Date.now() - seen < this.#buildMs) return;
      const spec = image.spec as { tag: string; source?: { git?: { revision?: string } } };
      const commit = spec.source?.git?.revision ?? '';
      const counter = Number(status.buildCounter ?? 0) + 1;
      const buildRef = `${image.metadata.name}-build-${counter}`;
      const failed = this.failingCommits.has(commit);
      const base = { observedGeneration: generation, latestBuildImageGeneration: generation, buildCounter: counter, latestBuildRef: buildRef };
      await patchStatus(
        this.client,
        { apiVersion: 'kpack.io/v1alpha2', kind: 'Image' },
        image,
        failed
          ? {
              ...base,
              latestBuildReason: 'BuildFailed',
              conditions: [
                { type: 'Ready', status: 'False', reason: 'BuildFailed', message: `Build ${buildRef} failed (stand-in: commit marked failing)` },
                { type: 'BuilderReady', status: 'True' },
              ],
            }
          : {
              ...base,
              latestBuildReason: 'COMMIT',
              latestImage: `${spec.tag}@sha256:${createHash('sha256').update(`${spec.tag}@${commit}`).digest('hex')}`,
              conditions: [
                { type: 'Ready', status: 'True', reason: 'Ready' },
                { type: 'BuilderReady', status: 'True' },
              ],
            },
      );
      this.builds.push(`${image.metadata.namespace}/${image.metadata.name}@${commit}`);
      this.#firstSeen.delete(key);
    });
  }
}

/**
 * cert-manager stand-in: ClusterIssuers and Issuers become Ready; a Certificate gets its TLS Secret
 * (`spec.secretName`, type kubernetes.io/tls, with placeholder PEM: nothing here checks it) and
 * `Ready=True`, as cert-manager reports a certificate it has issued.
 */
export class CertManagerStandIn extends StandIn {
  protected async tick(): Promise<void> {
    for (const kind of ['ClusterIssuer', 'Issuer']) {
      await this.each(await this.list('cert-manager.io/v1', kind, kind === 'Issuer' ? { allNamespaces: true } : {}), async (issuer) => {
        if (!isReady(issuer)) {
          await patchStatus(this.client, { apiVersion: 'cert-manager.io/v1', kind }, issuer, { conditions: [{ type: 'Ready', status: 'True', reason: 'KeyPairVerified', message: 'stand-in issuer' }] });
        }
      });
    }
    await this.each(await this.list('cert-manager.io/v1', 'Certificate', { allNamespaces: true }), async (certificate) => {
      if (isReady(certificate)) return;
      const spec = certificate.spec as { secretName: string; dnsNames?: string[] };
      const pem = (label: string) => Buffer.from(`-----BEGIN ${label}-----\nc3RhbmQtaW4=\n-----END ${label}-----\n`).toString('base64');
      await this.client.apply(
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: {
            name: spec.secretName,
            namespace: certificate.metadata.namespace,
            annotations: { 'cert-manager.io/certificate-name': certificate.metadata.name ?? '', 'cert-manager.io/alt-names': (spec.dnsNames ?? []).join(',') },
          },
          type: 'kubernetes.io/tls',
          data: { 'tls.crt': pem('CERTIFICATE'), 'tls.key': pem('PRIVATE KEY') },
        },
        { fieldManager: STAND_IN_MANAGER, force: true },
      );
      const now = new Date();
      await patchStatus(this.client, { apiVersion: 'cert-manager.io/v1', kind: 'Certificate' }, certificate, {
        conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'Certificate is up to date and has not expired' }],
        notBefore: now.toISOString().replace(/\.\d+Z$/, 'Z'),
        notAfter: new Date(now.getTime() + 90 * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z'),
        revision: 1,
      });
    });
  }
}

/** Ingress controller stand-in: publishes a load-balancer address on every Ingress, as ingress-nginx does. */
export class IngressControllerStandIn extends StandIn {
  protected async tick(): Promise<void> {
    await this.each(await this.list('networking.k8s.io/v1', 'Ingress', { allNamespaces: true }), async (ingress) => {
      const published = (ingress.status as { loadBalancer?: { ingress?: unknown[] } } | undefined)?.loadBalancer?.ingress;
      if (Array.isArray(published) && published.length > 0) return;
      await patchStatus(this.client, { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' }, ingress, { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } });
    });
  }
}

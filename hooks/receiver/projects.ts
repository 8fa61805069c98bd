/**
 * The receiver's view of Projects on the API server: read one by name, list those of a repository
 * by label, set the reconcile annotation. Nothing else; the chart's RBAC grants exactly these verbs.
 */
import { LABEL_REPOSITORY } from '../lib/repository-identity.ts';

/** The fields of a Project the receiver reads. */
export interface ProjectView {
  name: string;
  uid: string;
  labels: Record<string, string>;
  spec: unknown;
}

export interface ProjectStore {
  /** The Project of that name; undefined when there is none. */
  get(name: string): Promise<ProjectView | undefined>;
  /** Projects carrying `kapsa-project.io/repository=<hash>`. */
  listByRepository(hash: string): Promise<ProjectView[]>;
  /** Merge-patches one annotation onto the Project. */
  annotate(name: string, key: string, value: string): Promise<void>;
}

export function repositorySelector(hash: string): string {
  return `${LABEL_REPOSITORY}=${hash}`;
}

/** A Project object as the API server returns it, reduced to what the receiver reads. */
export function projectView(object: unknown): ProjectView | undefined {
  if (typeof object !== 'object' || object === null) return undefined;
  const { metadata, spec } = object as { metadata?: { name?: unknown; uid?: unknown; labels?: unknown }; spec?: unknown };
  if (typeof metadata?.name !== 'string' || typeof metadata.uid !== 'string' || metadata.uid === '') return undefined;
  const labels = typeof metadata.labels === 'object' && metadata.labels !== null ? (metadata.labels as Record<string, string>) : {};
  return { name: metadata.name, uid: metadata.uid, labels, spec };
}

/**
 * A short per-process memory of Project lookups by name (found or not), so a burst of requests for
 * one name costs one API GET, and a cap on lookups in flight, so a flood of requests for made-up
 * names costs at most `maxInFlight` GETs at a time; requests past the queue are turned away.
 */
export class CachedProjectLookup {
  readonly #store: ProjectStore;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #maxInFlight: number;
  readonly #maxQueued: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { at: number; value: Promise<ProjectView | undefined> }>();
  #inFlight = 0;
  readonly #queue: Array<() => void> = [];

  constructor(store: ProjectStore, options: { ttlMs?: number; maxEntries?: number; maxInFlight?: number; maxQueued?: number; now?: () => number } = {}) {
    this.#store = store;
    this.#ttlMs = options.ttlMs ?? 5_000;
    this.#maxEntries = options.maxEntries ?? 1_000;
    this.#maxInFlight = options.maxInFlight ?? 4;
    this.#maxQueued = options.maxQueued ?? 64;
    this.#now = options.now ?? Date.now;
  }

  /** The Project, undefined when absent, or 'busy' when too many lookups are already waiting. */
  async get(name: string): Promise<ProjectView | undefined | 'busy'> {
    const now = this.#now();
    const cached = this.#entries.get(name);
    if (cached && now - cached.at < this.#ttlMs) return cached.value;
    if (this.#inFlight >= this.#maxInFlight && this.#queue.length >= this.#maxQueued) return 'busy';
    const value = this.#limited(() => this.#store.get(name));
    this.#entries.delete(name);
    this.#entries.set(name, { at: now, value });
    // A failed lookup is not remembered: the next request asks again.
    value.catch(() => this.#entries.delete(name));
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
    return value;
  }

  async #limited<T>(work: () => Promise<T>): Promise<T> {
    // A finished lookup hands its slot to the next one waiting, so no newcomer slips in between.
    if (this.#inFlight >= this.#maxInFlight) await new Promise<void>((resolve) => this.#queue.push(resolve));
    else this.#inFlight += 1;
    try {
      return await work();
    } finally {
      const next = this.#queue.shift();
      if (next) next();
      else this.#inFlight -= 1;
    }
  }
}

/**
 * Delivery ids seen by this process, oldest forgotten first. Replicas do not share it: a delivery
 * replayed to another replica is accepted there once (and costs one forced poll, nothing more).
 */
export class DeliveryMemory {
  readonly #seen = new Set<string>();
  readonly #capacity: number;

  constructor(capacity = 10_000) {
    this.#capacity = capacity;
  }

  /** Records the key; false when it was already there. */
  remember(key: string): boolean {
    if (this.#seen.has(key)) return false;
    this.#seen.add(key);
    if (this.#seen.size > this.#capacity) this.#seen.delete(this.#seen.values().next().value as string);
    return true;
  }

  /** Forgets a delivery whose handling failed, so the forge's retry is not taken for a replay. */
  forget(key: string): void {
    this.#seen.delete(key);
  }
}

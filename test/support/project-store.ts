// A stand-in for the API server's Projects, for the receiver's HTTP tests: it keeps Projects in
// memory, answers the three calls the receiver makes and records them. What the real API server
// does with those calls (label selectors, merge patches, RBAC) is tested in
// test/k8s/receiver.test.ts.
import { randomUUID } from 'node:crypto';
import { LABEL_REPOSITORY, repositoryHash } from '../../hooks/lib/repository-identity.ts';
import type { ProjectStore, ProjectView } from '../../hooks/receiver/projects.ts';

export class MemoryProjectStore implements ProjectStore {
  readonly projects = new Map<string, ProjectView & { annotations: Record<string, string> }>();
  readonly calls: string[] = [];

  add(name: string, spec: Record<string, unknown>, options: { label?: boolean } = {}): ProjectView {
    const url = (spec.repository as { url: string }).url;
    const labels: Record<string, string> = options.label === false ? {} : { [LABEL_REPOSITORY]: repositoryHash(url) ?? '' };
    const view = { name, uid: randomUUID(), labels, spec, annotations: {} };
    this.projects.set(name, view);
    return view;
  }

  async get(name: string): Promise<ProjectView | undefined> {
    this.calls.push(`get ${name}`);
    return this.projects.get(name);
  }

  async listByRepository(hash: string): Promise<ProjectView[]> {
    this.calls.push(`list ${hash}`);
    return [...this.projects.values()].filter((project) => project.labels[LABEL_REPOSITORY] === hash);
  }

  async annotate(name: string, key: string, value: string): Promise<void> {
    this.calls.push(`patch ${name}`);
    const project = this.projects.get(name);
    if (!project) throw new Error(`no Project ${name}`);
    project.annotations[key] = value;
  }

  /** Names of the Projects patched so far, sorted. */
  patched(): string[] {
    return this.calls.filter((call) => call.startsWith('patch ')).map((call) => call.slice('patch '.length)).sort();
  }
}

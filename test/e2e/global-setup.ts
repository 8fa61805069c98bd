// vitest globalSetup of the e2e project: one engine (test/e2e/engine.ts) for every scenario.
import type { TestProject } from 'vitest/node';
import { startEngine, type EngineInfo } from './engine.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    engine: EngineInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const engine = await startEngine({ pushWebhooks: true, progress: (line) => process.stderr.write(`[e2e] ${line}\n`) });
  const { stop, pids: _pids, ...info } = engine;
  project.provide('engine', info);
  return stop;
}

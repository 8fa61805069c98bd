import { defineConfig } from 'vitest/config';

// One run covers everything: pure functions, HTTP, the real git server, the real registry and
// the real kube-apiserver. The API server is started once for the whole run by the global setup.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/k8s/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
  },
});

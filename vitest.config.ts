import { defineConfig } from 'vitest/config';

// One `npm test` covers everything: pure functions, HTTP, the real git server, the real registry
// and the real kube-apiserver. Tests that need the API server live in test/k8s/ and form their
// own project, so the server is started once per run and only when those tests run.
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/k8s/**', 'test/e2e/**'] },
      },
      {
        extends: true,
        test: {
          name: 'k8s',
          include: ['test/k8s/**/*.test.ts'],
          globalSetup: ['test/k8s/global-setup.ts'],
          // The suite shares one API server; files that race for it would only slow each other down.
          fileParallelism: false,
          testTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // The whole engine: control plane, kwok, Metacontroller and the Kapsa service (test/e2e/engine.ts).
          globalSetup: ['test/e2e/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 240_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});

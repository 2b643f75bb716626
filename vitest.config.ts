import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Test files start their own redis-server processes; two cores run two files at a time.
    fileParallelism: true,
    maxWorkers: 2,
    typecheck: { enabled: true, include: ['tests/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      exclude: ['src/**/*.d.ts'],
      // The per-file table first, so that the summary is the last thing CI prints.
      reporter: ['text', 'text-summary'],
      // Print coverage even when a test fails; CI fails when the suite covers less of src/ than this.
      reportOnFailure: true,
      thresholds: { lines: 90 },
    },
  },
});

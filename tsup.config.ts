import { defineConfig, type Options } from 'tsup';

const shared: Options = {
  entry: {
    index: 'src/index.ts',
    'client/index': 'src/client/index.ts',
    'sql/index': 'src/sql/index.ts',
    'react/index': 'src/react/index.ts',
    'otel/index': 'src/otel/index.ts',
  },
  // Peer dependencies of trpc-idempotency/react: the app's own copies, never bundled.
  external: ['react', '@tanstack/react-query'],
  platform: 'node',
  target: 'node20',
  dts: true,
  splitting: false,
  treeshake: false,
  // The two builds run in parallel into one folder: `npm run build` empties dist/ before tsup starts.
  clean: false,
};

export default defineConfig([
  { ...shared, format: 'esm' },
  {
    ...shared,
    format: 'cjs',
    // The CommonJS build carries its own copy of two dependencies, so that require() works on every
    // Node 20 and with strict installs (pnpm):
    // - superjson 2 (with copy-anything and is-what) is ESM only, and Node 20 before 20.19 cannot
    //   require() ESM;
    // - redlock's CommonJS build exports its class as `exports.default`, which a default import
    //   compiled from our ESM source would not find; bundled, its ESM build is used instead.
    noExternal: ['superjson', 'copy-anything', 'is-what', 'redlock', 'node-abort-controller'],
  },
]);

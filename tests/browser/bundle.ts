import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The test page: tests/browser/page/main.tsx and what it imports (React, React Query, tRPC, src/), in one script. */
export async function bundlePage(): Promise<{ html: string; js: string }> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./page/main.tsx', import.meta.url))],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    // React's development build: the one where StrictMode renders twice.
    define: { 'process.env.NODE_ENV': '"development"' },
    logLevel: 'silent',
  });
  const js = result.outputFiles[0]?.text ?? '';
  const html =
    '<!doctype html><html><body><div id="root"></div><script type="module" src="/app.js"></script></body></html>';
  return { html, js };
}

import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { codeBlocks, docFiles, root, uncheckedCodeFences } from './markdown';

const snippets = join(root, 'examples', 'snippets');
const docs = docFiles().map((doc) => ({ doc, markdown: readFileSync(join(root, doc), 'utf8') }));
const blocks = docs.flatMap(({ doc, markdown }) => codeBlocks(doc, markdown));
const labelled = blocks.filter((b): b is typeof b & { snippet: string } => b.snippet !== undefined);
const unlabelled = blocks.filter((b) => b.snippet === undefined);

describe('examples in README.md and docs/*.md', () => {
  it('shows every example in examples/snippets/ (which the typecheck compiles) somewhere', () => {
    const files = readdirSync(snippets).filter((f) => /\.tsx?$/.test(f));
    expect(new Set(labelled.map((b) => b.snippet))).toEqual(new Set(files));
  });

  it.each(labelled)('$doc:$line shows $snippet exactly as it compiles', ({ snippet, code }) => {
    expect(code).toBe(readFileSync(join(snippets, snippet), 'utf8'));
  });

  it('labels TypeScript blocks ts or tsx, so that none escapes the compile check', () => {
    expect(docs.flatMap(({ doc, markdown }) => uncheckedCodeFences(markdown).map((f) => `${doc}: ${f}`))).toEqual([]);
  });

  it('compiles every other ts and tsx block, each as a module of its own, importing the package by name', async () => {
    expect(unlabelled.length).toBeGreaterThanOrEqual(2);
    const dir = join(root, '.tmp', 'docs-blocks');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    // The snippets sit beside the blocks, so that `import type { AppRouter } from './server'` resolves.
    cpSync(snippets, dir, { recursive: true });
    for (const { doc, line, lang, code } of unlabelled) {
      // Named after where the block is, so that a compile error points at it; `export {}` keeps it a module.
      writeFileSync(join(dir, `${doc.replace(/\W/g, '_')}_line_${line}.${lang}`), `${code}\nexport {};\n`);
    }
    // Extending the root tsconfig brings its `paths`: every `trpc-idempotency/...` entry it maps to src/.
    const tsconfig = {
      extends: '../../tsconfig.json',
      compilerOptions: { jsx: 'react-jsx' },
      include: ['*.ts', '*.tsx'],
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
    const tsc = join(root, 'node_modules', '.bin', 'tsc');
    const result = await promisify(execFile)(tsc, ['--noEmit', '-p', join(dir, 'tsconfig.json')]).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    expect(result).toBe('');
  }, 60_000);
});

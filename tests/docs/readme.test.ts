import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const snippets = join(root, 'examples', 'snippets');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** Every ```ts block, with the snippet file it is labelled as (`<!-- examples/snippets/x.ts -->`), if any. */
const blocks = [...readme.matchAll(/(?:<!-- examples\/snippets\/([\w-]+\.ts) -->\n)?```ts\n([\s\S]*?)```/g)].map(
  ([, file, code]) => ({ file, code: code ?? '' }),
);
const labelled = blocks.filter((b): b is { file: string; code: string } => b.file !== undefined);
const unlabelled = blocks.filter((b) => b.file === undefined);

describe('README examples', () => {
  it('shows every example in examples/snippets/ (which the typecheck compiles)', () => {
    const files = readdirSync(snippets).filter((f) => f.endsWith('.ts'));
    expect(new Set(labelled.map((b) => b.file))).toEqual(new Set(files));
  });

  it.each(labelled)('shows $file exactly as it compiles', ({ file, code }) => {
    expect(code).toBe(readFileSync(join(snippets, file), 'utf8'));
  });

  it('compiles every other ts block, each as a module of its own, importing the package by name', async () => {
    expect(unlabelled.length).toBeGreaterThanOrEqual(2);
    const dir = join(root, '.tmp', 'readme');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    // The snippets sit beside the blocks, so that `import type { AppRouter } from './server'` resolves.
    cpSync(snippets, dir, { recursive: true });
    unlabelled.forEach(({ code }, i) => {
      // `export {}` keeps each block a module even if it exports nothing.
      writeFileSync(join(dir, `readme-block-${i + 1}.ts`), `${code}\nexport {};\n`);
    });
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: '../../tsconfig.json', include: ['*.ts'] }));
    const tsc = join(root, 'node_modules', '.bin', 'tsc');
    const result = await promisify(execFile)(tsc, ['--noEmit', '-p', join(dir, 'tsconfig.json')]).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    expect(result).toBe('');
  }, 60_000);
});

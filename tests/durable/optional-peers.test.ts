import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const DRIVERS = ['pg', 'drizzle-orm', 'kysely'];

/** The packages an entry imports, as esbuild (which tsup builds with) resolves them. */
async function importsOf(entry: string) {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    metafile: true,
    logLevel: 'silent',
  });
  return Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external));
}

/** Which of the drivers a fresh Node process has loaded after importing `specifier`. */
async function driversLoadedBy(specifier: string): Promise<string[]> {
  const script = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(specifier)});
    const cache = Object.keys(createRequire(import.meta.url).cache);
    const loaded = ${JSON.stringify(DRIVERS)}.filter((d) => cache.some((p) => p.includes('/node_modules/' + d + '/')));
    console.log(JSON.stringify(loaded));`;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: process.cwd(),
  });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '[]') as string[];
}

describe('optional peer dependencies', () => {
  it('keeps pg, Drizzle and Kysely out of the main entry, and loads Drizzle and Kysely only on use from the sql entry', async () => {
    const main = await importsOf('src/index.ts');
    expect(main.filter((i) => DRIVERS.some((d) => i.path === d || i.path.startsWith(`${d}/`)))).toEqual([]);
    const sql = await importsOf('src/sql/index.ts');
    const drivers = sql.filter((i) => DRIVERS.includes(i.path));
    expect(drivers.map((i) => `${i.path} ${i.kind}`).sort()).toEqual([
      'drizzle-orm dynamic-import',
      'kysely dynamic-import',
    ]);
  });

  it('does not load pg in a process that imports trpc-idempotency (or its sql entry) alone', async () => {
    expect(await driversLoadedBy('./src/index.ts')).toEqual([]);
    expect(await driversLoadedBy('./src/sql/index.ts')).toEqual([]);
    // The probe sees a driver that is loaded.
    expect(await driversLoadedBy('pg')).toEqual(['pg']);
  }, 30_000);
});

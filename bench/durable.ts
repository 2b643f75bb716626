/**
 * Durable mutations in `npm run bench`: what `ctx.idempotency.transaction` adds to a mutation that
 * inserts one row on a real Postgres, and what `ctx.idempotency.step` adds to a call on Redis. Each
 * pair runs in alternating blocks in one run, and is reported as a ratio of medians.
 */
import { initTRPC } from '@trpc/server';
import { Redis } from 'ioredis';
import { createTestDatabase } from '../tests/helpers/postgres';
import { startRedis } from '../tests/helpers/redis-server';
import { median } from './stats';

const load = async <T>(path: string) =>
  (await import(new URL(path, import.meta.url).href).catch((error: unknown) => {
    throw new Error(`bench: cannot load ${path}; run \`npm run build\` first (npm run bench does)`, { cause: error });
  })) as T;
// The built package, as the other contenders use it (see contenders.ts).
const { createIdempotency, redisStore } = await load<typeof import('../src')>('../dist/index.js');
const { pgAdapter } = await load<typeof import('../src/sql')>('../dist/sql/index.js');

const BLOCKS = 6;
const scale = Number(process.env.BENCH_SCALE ?? 1);
const PER_BLOCK = Math.max(10, Math.round(50 * scale));

export interface DurablePair {
  label: string;
  baseline: string;
  baselineMs: number;
  durableMs: number;
  ratio: number;
}

/** Median latency of `call(i)` for each of two variants, in alternating blocks. */
async function pair(base: (i: number) => Promise<unknown>, durable: (i: number) => Promise<unknown>) {
  const samples = { base: [] as number[], durable: [] as number[] };
  let i = 0;
  for (let block = 0; block < BLOCKS; block++) {
    for (const kind of block % 2 ? (['durable', 'base'] as const) : (['base', 'durable'] as const)) {
      for (let n = 0; n < PER_BLOCK; n++) {
        const t0 = performance.now();
        await (kind === 'base' ? base : durable)(i++);
        samples[kind].push(performance.now() - t0);
      }
    }
  }
  return { baselineMs: median(samples.base), durableMs: median(samples.durable) };
}

export async function measureDurable(): Promise<DurablePair[]> {
  const [db, server] = await Promise.all([createTestDatabase('bench'), startRedis()]);
  const pool = db.pool();
  const redis = new Redis(server.url);
  try {
    await pool.query('CREATE TABLE orders (id serial PRIMARY KEY, sku text NOT NULL)');
    const t = initTRPC.context<{ headers: Record<string, string> }>().create();
    const procedure = t.procedure.use(createIdempotency({ store: redisStore({ redis }) }).middleware);
    const orders = pgAdapter(pool);
    const insert = (client: { query(text: string, values: unknown[]): Promise<unknown> }) =>
      client.query('INSERT INTO orders (sku) VALUES ($1) RETURNING id', ['sku']);
    const router = t.router({
      bareInsert: procedure.mutation(async () => {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          await insert(client);
          await client.query('COMMIT');
        } finally {
          client.release();
        }
      }),
      durableInsert: procedure.mutation(({ ctx }) => ctx.idempotency.transaction(orders, async (c) => insert(c))),
      plain: procedure.mutation(() => 1),
      step: procedure.mutation(({ ctx }) => ctx.idempotency.step('one', () => 1)),
    });
    const caller = (key: string) => t.createCallerFactory(router)({ headers: { 'idempotency-key': key } });
    await caller('warm').durableInsert(); // creates the step table
    await caller('warm-step').step(); // loads the script
    const run = `${Date.now()}`;
    const sql = await pair(
      (i) => caller(`b-${run}-${i}`).bareInsert(),
      (i) => caller(`d-${run}-${i}`).durableInsert(),
    );
    const step = await pair(
      (i) => caller(`p-${run}-${i}`).plain(),
      (i) => caller(`s-${run}-${i}`).step(),
    );
    return [
      {
        label: 'insert 1 row in ctx.idempotency.transaction',
        baseline: 'the same insert in BEGIN…COMMIT',
        ...sql,
        ratio: sql.durableMs / sql.baselineMs,
      },
      {
        label: 'a call with one ctx.idempotency.step',
        baseline: 'the same call without it',
        ...step,
        ratio: step.durableMs / step.baselineMs,
      },
    ];
  } finally {
    redis.disconnect();
    await Promise.all([db.drop(), server.stop()]);
  }
}

export function printDurable(rows: DurablePair[]): void {
  console.log('\ndurable mutations (keyed calls on redisStore, median latency, one run)');
  for (const r of rows) {
    console.log(
      `  ${r.label.padEnd(46)} ${r.durableMs.toFixed(2)} ms vs ${r.baselineMs.toFixed(2)} ms (${r.baseline}): ×${r.ratio.toFixed(2)}`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) printDurable(await measureDurable());

import { initTRPC, TRPCError } from '@trpc/server';
import { drizzle } from 'drizzle-orm/node-postgres';
import { type Generated, Kysely, PostgresDialect } from 'kysely';
import type pg from 'pg';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createIdempotency, IdempotencyConfigError, type IdempotencyEvent, memoryStore } from '../../src';
import {
  drizzleAdapter,
  kyselyAdapter,
  pgAdapter,
  type SqlAdapter,
  type SqlDriver,
  sqlAdapter,
  stepTableDDL,
} from '../../src/sql';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres';

let db: TestDatabase;
let pool: pg.Pool;
let seq = 0;
const fresh = (label: string) => `${label}-${Date.now()}-${++seq}`;

beforeAll(async () => {
  db = await createTestDatabase('sql');
  pool = db.pool();
  await pool.query('CREATE TABLE orders (id serial PRIMARY KEY, sku text NOT NULL, k text NOT NULL)');
});
afterAll(async () => {
  await db?.drop();
});

const countOrders = async (k: string) =>
  Number((await pool.query('SELECT count(*)::int AS n FROM orders WHERE k = $1', [k])).rows[0].n);

/** An order service whose `insert` writes one row through whichever client the adapter gives. */
function makeOrderApp<Tx>(adapter: SqlAdapter<Tx>, insert: (tx: Tx, sku: string, k: string) => Promise<number>) {
  const runs = { fn: 0, failNext: false };
  const events: IdempotencyEvent[] = [];
  const t = initTRPC.context<{ headers: Record<string, string> }>().create({ transformer: superjson });
  const idempotency = createIdempotency({
    anonymous: 'shared',
    store: memoryStore(),
    lockTtlMs: 2_000,
    onEvent: (e) => events.push(e),
  });
  const procedure = t.procedure.use(idempotency.middleware);
  const router = t.router({
    order: procedure.input(z.object({ sku: z.string(), k: z.string() })).mutation(async ({ ctx, input }) => {
      const order = await ctx.idempotency.transaction(adapter, async (tx) => {
        runs.fn += 1;
        return { orderId: await insert(tx, input.sku, input.k), at: new Date(), n: 10n ** 20n };
      });
      if (runs.failNext) {
        runs.failNext = false;
        throw new TRPCError({ code: 'BAD_REQUEST', message: 'failed after the commit' });
      }
      return order;
    }),
  });
  const caller = (key?: string) =>
    t.createCallerFactory(router)({ headers: key === undefined ? {} : { 'idempotency-key': key } });
  return { caller, runs, idempotency, events };
}

const pgInsert = async (client: pg.PoolClient, sku: string, k: string) =>
  (await client.query('INSERT INTO orders (sku, k) VALUES ($1, $2) RETURNING id', [sku, k])).rows[0].id as number;

describe.each([
  {
    name: 'pgAdapter',
    make: () => makeOrderApp(pgAdapter(pool), pgInsert),
  },
  {
    name: 'drizzleAdapter',
    make: () => {
      const orm = drizzle(pool);
      return makeOrderApp(drizzleAdapter(orm), async (tx, sku, k) => {
        const { sql } = await import('drizzle-orm');
        const result = await tx.execute(sql`INSERT INTO orders (sku, k) VALUES (${sku}, ${k}) RETURNING id`);
        return Number(result.rows[0]?.id);
      });
    },
  },
  {
    name: 'kyselyAdapter',
    make: () => {
      const kdb = new Kysely<{ orders: { id: Generated<number>; sku: string; k: string } }>({
        dialect: new PostgresDialect({ pool }),
      });
      return makeOrderApp(kyselyAdapter(kdb), async (tx, sku, k) => {
        const row = await tx.insertInto('orders').values({ sku, k }).returning('id').executeTakeFirstOrThrow();
        return row.id;
      });
    },
  },
])('$name', ({ make }) => {
  it('commits the writes and the step record together: a retry after a later failure returns the stored result', async () => {
    const app = make();
    const key = fresh('retry');
    app.runs.failNext = true;
    await expect(app.caller(key).order({ sku: 'a', k: key })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    const retried = await app.caller(key).order({ sku: 'a', k: key });
    expect(app.runs.fn).toBe(1);
    expect(await countOrders(key)).toBe(1);
    expect(retried.n).toBe(10n ** 20n);
    expect(retried.at).toBeInstanceOf(Date);
    // The same key with another input: 422, and fn does not run.
    await expect(app.caller(key).order({ sku: 'b', k: key })).rejects.toMatchObject({ code: 'UNPROCESSABLE_CONTENT' });
    expect(app.runs.fn).toBe(1);
    // The idempotency store lost its record (another store, say after a flush): the SQL record still
    // answers, and still tells a different input apart.
    const amnesiac = make();
    await expect(amnesiac.caller(key).order({ sku: 'b', k: key })).rejects.toMatchObject({
      code: 'UNPROCESSABLE_CONTENT',
    });
    expect(await amnesiac.caller(key).order({ sku: 'a', k: key })).toEqual(retried);
    expect(amnesiac.runs.fn).toBe(0);
    expect(await countOrders(key)).toBe(1);
  });

  it('rolls the writes back with the record when fn throws, and runs again on the retry', async () => {
    const app = make();
    const key = fresh('rollback');
    const failing = makeOrderApp(pgAdapter(pool), async (client, sku, k) => {
      await pgInsert(client, sku, k);
      throw new Error('constraint violated after the insert');
    });
    await expect(failing.caller(key).order({ sku: 'a', k: key })).rejects.toThrow('constraint violated');
    expect(await countOrders(key)).toBe(0);
    await app.caller(key).order({ sku: 'a', k: key });
    expect(await countOrders(key)).toBe(1);
  });

  it('just runs fn in a transaction without a key', async () => {
    const app = make();
    const k = fresh('keyless');
    await app.caller().order({ sku: 'a', k });
    await app.caller().order({ sku: 'a', k });
    expect(await countOrders(k)).toBe(2);
  });
});

describe('the step table', () => {
  it('outlives forget, which clears the store only: the call runs again, its committed transaction does not', async () => {
    const app = makeOrderApp(pgAdapter(pool), pgInsert);
    const key = fresh('forgotten');
    const first = await app.caller(key).order({ sku: 'a', k: key });
    const id = app.events.at(-1)!.key!;
    expect(await app.idempotency.forget({ id })).toEqual({ forgotten: true });
    // The resolver runs again; the transaction finds its row and answers from it: no second order.
    expect(await app.caller(key).order({ sku: 'a', k: key })).toEqual(first);
    expect(app.events.at(-1)?.type).toBe('miss');
    expect(app.runs.fn).toBe(1);
    expect(await countOrders(key)).toBe(1);
    // To redo the writes as well, delete the record id's rows, as docs/operations.md says.
    await pool.query('DELETE FROM trpc_idempotency_steps WHERE record_id = $1', [id]);
    expect(await app.idempotency.forget({ id })).toEqual({ forgotten: true });
    await app.caller(key).order({ sku: 'a', k: key });
    expect(app.runs.fn).toBe(2);
    expect(await countOrders(key)).toBe(2);
  });

  it('lets one of two holders racing on the same step commit; the other rolls back and returns its result', async () => {
    const adapter = pgAdapter(pool);
    const k = fresh('race');
    const step = { recordId: k, name: 'transaction', fingerprint: 'f', ttlSeconds: 60 };
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Both have looked for the record and found none before either inserts it.
    let looked = 0;
    const run = (label: string) =>
      adapter.runOnce(step, async (client) => {
        await pgInsert(client, label, k);
        if (++looked === 2) release();
        await gate;
        return JSON.stringify(label);
      });
    const [a, b] = await Promise.all([run('a'), run('b')]);
    expect([a.ran, b.ran].sort()).toEqual([false, true]);
    expect(a.result).toBe(b.result);
    expect(await countOrders(k)).toBe(1);
  });

  it('replaces an expired record instead of replaying it', async () => {
    const adapter = pgAdapter(pool, { cleanupIntervalMs: false });
    const k = fresh('expired');
    const step = { recordId: k, name: 'tx', fingerprint: 'f', ttlSeconds: 60 };
    await adapter.runOnce(step, async () => '"old"');
    await pool.query(
      "UPDATE trpc_idempotency_steps SET expires_at = now() - interval '1 second' WHERE record_id = $1",
      [k],
    );
    const again = await adapter.runOnce(step, async () => '"new"');
    expect(again).toEqual({ ran: true, fingerprint: 'f', result: '"new"' });
  });

  it('creates its own table on an empty database, in another schema or name, and can leave that to a migration', async () => {
    await pool.query('CREATE SCHEMA IF NOT EXISTS app');
    const own = pgAdapter(pool, { table: 'app.steps' });
    const step = { recordId: fresh('own'), name: 'tx', fingerprint: 'f', ttlSeconds: 60 };
    expect((await own.runOnce(step, async () => '1')).ran).toBe(true);
    expect((await own.runOnce(step, async () => '2')).result).toBe('1');
    const migrated = pgAdapter(pool, { table: 'migrated_steps', createTable: false });
    await expect(migrated.runOnce(step, async () => '1')).rejects.toThrow(/migrated_steps/);
    await pool.query(stepTableDDL('migrated_steps'));
    expect((await migrated.runOnce(step, async () => '3')).result).toBe('3');
  });

  it('tries to create its table again after a failure, and lets concurrent first uses create it once', async () => {
    const adapter = pgAdapter(pool, { table: 'later.steps' });
    const step = { recordId: fresh('schema'), name: 'tx', fingerprint: 'f', ttlSeconds: 60 };
    await expect(adapter.runOnce(step, async () => '1')).rejects.toThrow(/schema "later" does not exist/);
    await pool.query('CREATE SCHEMA later');
    expect((await adapter.runOnce(step, async () => '1')).ran).toBe(true);
    // Two processes' first calls at once, on an empty database: both go on.
    const racing = [pgAdapter(pool, { table: 'racing' }), pgAdapter(pool, { table: 'racing' })];
    const results = await Promise.all(
      racing.map((a, i) => a.runOnce({ ...step, recordId: fresh(`racing-${i}`) }, async () => `${i}`)),
    );
    expect(results.map((r) => r.ran)).toEqual([true, true]);
  });

  it('deletes expired rows on its own, a bounded batch at a time, after a commit', async () => {
    const errors: unknown[] = [];
    const adapter = pgAdapter(pool, {
      table: 'cleaned',
      cleanupIntervalMs: 1,
      cleanupBatch: 2,
      onCleanupError: (e) => errors.push(e),
    });
    const step = (name: string) => ({ recordId: 'r', name, fingerprint: 'f', ttlSeconds: 60 });
    // The table is made by an adapter that never cleans: a cleanup of the one under test, started
    // after this commit, could otherwise land after the inserts below and take a batch of its own.
    await pgAdapter(pool, { table: 'cleaned', cleanupIntervalMs: false }).runOnce(step('first'), async () => '1');
    for (const name of ['x1', 'x2', 'x3']) {
      await pool.query("INSERT INTO cleaned VALUES ('old', $1, 'f', '1', now() - interval '1 minute')", [name]);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
    await adapter.runOnce(step('second'), async () => '1');
    const remaining = async () =>
      Number((await pool.query("SELECT count(*)::int AS n FROM cleaned WHERE record_id = 'old'")).rows[0].n);
    for (let i = 0; i < 50 && (await remaining()) > 1; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await remaining()).toBe(1); // a batch of 2 went; the next interval takes the rest
    expect(errors).toEqual([]);
  });

  it('rejects a table name that is not a plain identifier, and bad cleanup settings, at creation', () => {
    expect(() => pgAdapter(pool, { table: 'steps; DROP TABLE orders' })).toThrow(IdempotencyConfigError);
    expect(() => pgAdapter(pool, { cleanupIntervalMs: 0 })).toThrow(IdempotencyConfigError);
    expect(() => pgAdapter(pool, { cleanupBatch: 1.5 })).toThrow(IdempotencyConfigError);
  });

  it('adds two statements to the transaction, and no round trip outside it once the table exists', async () => {
    const statements: string[] = [];
    const base = pool;
    // A driver that logs what it runs, over node-postgres.
    const logged: SqlDriver<pg.PoolClient> = {
      async transaction(work) {
        const client = await base.connect();
        statements.push('BEGIN');
        await client.query('BEGIN');
        try {
          const result = await work(client);
          statements.push('COMMIT');
          await client.query('COMMIT');
          return result;
        } catch (error) {
          statements.push('ROLLBACK');
          await client.query('ROLLBACK');
          throw error;
        } finally {
          client.release();
        }
      },
      async execute(client, text, params) {
        statements.push(text.split(/\s/)[0] ?? '');
        return (await client.query(text, params as unknown[])).rows;
      },
    };
    const adapter = sqlAdapter(logged, { cleanupIntervalMs: false });
    const step = (name: string) => ({ recordId: fresh('cost'), name, fingerprint: 'f', ttlSeconds: 60 });
    await adapter.runOnce(step('warm'), async () => '1');
    statements.length = 0;
    await adapter.runOnce(step('tx'), async () => '1');
    expect(statements).toEqual(['BEGIN', 'SELECT', 'INSERT', 'COMMIT']);
  });
});

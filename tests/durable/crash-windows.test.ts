import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DurableChildConfig } from '../helpers/child-durable-server';
import { DURABLE_TABLES } from '../helpers/durable-app';
import { type DurableChild, startDurableChild } from '../helpers/durable-children';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres';
import { type RedisServer, startRedis } from '../helpers/redis-server';
import { settle } from '../helpers/server-pool';

const lockTtlMs = 1_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The crash windows of issue 12, each closed: the holder process is SIGKILLed (or SIGSTOPped) at a
 * point between a side effect and the stored result, and a retry with the same key on another
 * process finishes the work without repeating it. Real Postgres, Redis, processes and HTTP.
 */
describe('durable mutations across crashes', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let redis: RedisServer;
  let base: DurableChildConfig;
  /** A process with no hold point: the one that retries. */
  let retrier: DurableChild;
  const started: DurableChild[] = [];
  const start = async (extra: Partial<DurableChildConfig> = {}) => {
    const child = await startDurableChild({ ...base, ...extra });
    started.push(child);
    return child;
  };

  beforeAll(async () => {
    [db, redis] = await Promise.all([createTestDatabase('crash'), startRedis()]);
    pool = db.pool();
    await pool.query(DURABLE_TABLES);
    base = { redisUrl: redis.url, databaseUrl: db.url, lockTtlMs, waitTimeoutMs: 8_000 };
    retrier = await start();
  }, 60_000);
  afterEach(async () => {
    // Holders are per test; the retrier stays.
    await Promise.all(started.filter((c) => c !== retrier).map((c) => c.close()));
  });
  afterAll(async () => {
    await Promise.all(started.map((c) => c.close()));
    await db?.drop();
    await redis?.stop();
  });

  const count = async (table: 'orders' | 'charges', k: string) =>
    Number((await pool.query(`SELECT count(*)::int AS n FROM ${table} WHERE k = $1`, [k])).rows[0].n);

  it('1. killed after the SQL COMMIT, before Redis stores the result: the retry returns the same order, 1 row', async () => {
    const holder = await start({ holdAt: 'after-commit' });
    const k = `commit-${Date.now()}`;
    const first = settle(holder.call(k).createOrder.mutate({ k, sku: 'book' }));
    await holder.reached('after-commit', k);
    const committed = await pool.query('SELECT id, pid FROM orders WHERE k = $1', [k]);
    holder.signal('SIGKILL');
    await holder.exited;
    expect((await first).ok).toBe(false);

    const retry = await retrier.call(k).createOrder.mutate({ k, sku: 'book' });
    expect(retry.orderId).toBe(committed.rows[0].id);
    expect(retry.orderPid).toBe(holder.pid); // the dead holder's transaction, returned from its record
    expect(retry.answeredBy).toBe(retrier.pid);
    expect(await count('orders', k)).toBe(1);
    expect(await count('charges', k)).toBe(1);
  }, 30_000);

  it('2. killed after a step completed, mid-resolver: the step ran once, and the retry carries its value', async () => {
    const holder = await start({ holdAt: 'after-step' });
    const k = `step-${Date.now()}`;
    const first = settle(holder.call(k).createOrder.mutate({ k, sku: 'lamp' }));
    await holder.reached('after-step', k);
    const charged = await pool.query('SELECT id FROM charges WHERE k = $1', [k]);
    holder.signal('SIGKILL');
    await holder.exited;
    expect((await first).ok).toBe(false);

    const retry = await retrier.call(k).createOrder.mutate({ k, sku: 'lamp' });
    expect(retry.charge.id).toBe(charged.rows[0].id);
    expect(retry.charge.pid).toBe(holder.pid);
    expect(retry.orderPid).toBe(retrier.pid);
    expect(await count('charges', k)).toBe(1);
    expect(await count('orders', k)).toBe(1);
  }, 30_000);

  it('3. an attempt that threw after a step: the retry succeeds, and the step ran once', async () => {
    const holder = await start({ failAfterStep: true });
    const k = `threw-${Date.now()}`;
    const failed = await settle(holder.call(k).createOrder.mutate({ k, sku: 'pen' }));
    expect(!failed.ok && failed.code).toBe('BAD_REQUEST');
    const retry = await retrier.call(k).createOrder.mutate({ k, sku: 'pen' });
    expect(retry.charge.pid).toBe(holder.pid);
    expect(await count('charges', k)).toBe(1);
    expect(await count('orders', k)).toBe(1);
    // And the next retry is a plain replay.
    expect(await holder.call(k).createOrder.mutate({ k, sku: 'pen' })).toEqual(retry);
  }, 30_000);

  it('4. 20 concurrent duplicates over 2 processes: 1 row, one result for all', async () => {
    const other = await start();
    const k = `dupes-${Date.now()}`;
    const calls = Array.from({ length: 20 }, (_, i) =>
      settle((i % 2 ? other : retrier).call(k).createOrder.mutate({ k, sku: 'mug' })),
    );
    const results = await Promise.all(calls);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(new Set(results.map((r) => (r.ok ? r.value.orderId : 0))).size).toBe(1);
    expect(await count('orders', k)).toBe(1);
    expect(await count('charges', k)).toBe(1);
  }, 30_000);

  it('5. a holder stalled inside the transaction past the lock TTL races a new holder: 1 row, one result', async () => {
    const stalled = await start({ holdAt: 'in-tx', holdMs: 1_500 });
    const k = `stall-${Date.now()}`;
    const first = settle(stalled.call(k).createOrder.mutate({ k, sku: 'desk' }));
    await stalled.reached('in-tx', k);
    stalled.signal('SIGSTOP');
    await sleep(lockTtlMs + 300); // its lock expires; it cannot extend while stopped
    const retry = await retrier.call(k).createOrder.mutate({ k, sku: 'desk' });
    expect(retry.orderPid).toBe(retrier.pid);
    stalled.signal('SIGCONT');
    const late = await first;
    // The stalled holder's insert meets the committed step record: it rolls back and returns the winner's.
    if (late.ok) expect(late.value.orderId).toBe(retry.orderId);
    else expect(late.code).toBe('CONFLICT');
    expect(await count('orders', k)).toBe(1);
    expect(await count('charges', k)).toBe(1);
    const stored = await pool.query('SELECT id, pid FROM orders WHERE k = $1', [k]);
    expect(stored.rows[0]).toEqual({ id: retry.orderId, pid: retrier.pid });
  }, 30_000);
});

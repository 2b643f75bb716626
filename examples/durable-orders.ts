/**
 * Durable mutations: an order service whose `createOrder` writes its row inside
 * `ctx.idempotency.transaction`, so a retry after a crash finds the committed order instead of
 * inserting another. `npm run demo` runs it as a child process that dies right after its COMMIT.
 * Alone: `DATABASE_URL=postgres://... npx tsx examples/durable-orders.ts` (add HOLD_AFTER_COMMIT=1
 * to make it stop after the COMMIT and wait to be killed). It prints JSON lines: ready, committed.
 */
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { initTRPC } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { Redis } from 'ioredis';
import pg from 'pg';
import superjson from 'superjson';
import { z } from 'zod';
import { createIdempotency, type IdempotencyStore, memoryStore, redisStore } from '../src';
import { pgAdapter } from '../src/sql';

export const ORDERS_TABLE =
  'CREATE TABLE IF NOT EXISTS demo_orders (id serial PRIMARY KEY, k text NOT NULL, sku text NOT NULL)';

interface DurableOrderOptions {
  pool: pg.Pool;
  store: IdempotencyStore;
  /** Called after the COMMIT, before the result is stored; the call then waits to be killed. */
  afterCommit?: (k: string) => void;
}

export function createDurableOrderRouter({ pool, store, afterCommit }: DurableOrderOptions) {
  const t = initTRPC.context<{ headers: Record<string, string | string[] | undefined> }>().create({
    transformer: superjson,
  });
  // A short lock, so that a retry after a crash takes over within a second.
  const idempotentProcedure = t.procedure.use(createIdempotency({ store, lockTtlMs: 1_000 }).middleware);
  const orders = pgAdapter(pool);
  return t.router({
    createOrder: idempotentProcedure
      .input(z.object({ k: z.string(), sku: z.string() }))
      .mutation(async ({ ctx, input }) => {
        const order = await ctx.idempotency.transaction(orders, async (client) => {
          const { rows } = await client.query<{ id: number }>(
            'INSERT INTO demo_orders (k, sku) VALUES ($1, $2) RETURNING id',
            [input.k, input.sku],
          );
          return { orderId: rows[0]?.id ?? 0, insertedBy: process.pid };
        });
        if (afterCommit) {
          afterCommit(input.k);
          await new Promise(() => {}); // the crash window: committed in SQL, nothing in the store yet
        }
        return order;
      }),
  });
}

export type DurableOrderRouter = ReturnType<typeof createDurableOrderRouter>;

export function storeFor(redisUrl: string | undefined) {
  if (!redisUrl) {
    const store = memoryStore();
    return { store, close: () => store.close() };
  }
  const redis = new Redis(redisUrl);
  const store = redisStore({ redis });
  return {
    store,
    close: async () => {
      await store.close();
      redis.disconnect();
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
  await pool.query(ORDERS_TABLE);
  const { store } = storeFor(process.env.REDIS_URL);
  const say = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);
  const router = createDurableOrderRouter({
    pool,
    store,
    ...(process.env.HOLD_AFTER_COMMIT ? { afterCommit: (k: string) => say({ committed: k }) } : {}),
  });
  const server = createHTTPServer({ router, createContext: ({ req }) => ({ headers: req.headers }) });
  server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    say({ ready: (server.address() as AddressInfo).port });
  });
}

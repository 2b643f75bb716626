/**
 * A small order service with idempotent mutations, on the standalone adapter.
 * Run it: `npx tsx examples/server.ts` (memoryStore), or `REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/server.ts`.
 */
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { initTRPC } from '@trpc/server';
import { type CreateHTTPContextOptions, createHTTPServer } from '@trpc/server/adapters/standalone';
import { Redis } from 'ioredis';
import superjson from 'superjson';
import { z } from 'zod';
import { createIdempotency, type IdempotencyEvent, type IdempotencyStore, memoryStore, redisStore } from '../src';

/** The store the server uses: `redisStore` when REDIS_URL is set, else `memoryStore` (one process only). */
function storeFromEnv(redisUrl = process.env.REDIS_URL): {
  store: IdempotencyStore;
  name: string;
  close: () => Promise<void>;
} {
  if (!redisUrl) {
    const store = memoryStore();
    return { store, name: 'memoryStore (in this process; set REDIS_URL to use Redis)', close: () => store.close() };
  }
  const redis = new Redis(redisUrl);
  const store = redisStore({ redis });
  return {
    store,
    name: `redisStore at ${redisUrl}`,
    close: async () => {
      await store.close();
      await redis.quit();
    },
  };
}

// The headers for the key, `res` for the Idempotent-Replayed header, and the user that scopes keys.
function createContext({ req, res }: CreateHTTPContextOptions) {
  const token = req.headers.authorization?.replace(/^Bearer /, '');
  return { headers: req.headers, res, user: token ? { id: token } : null };
}

/** What the service counts, for the demo's summary. */
interface OrderStats {
  /** Times the createOrder resolver really ran. */
  executions: number;
  /** Middleware events by type: miss, hit, wait, mismatch, conflict, ... */
  events: Partial<Record<IdempotencyEvent['type'], number>>;
}

/** Builds the router around a store. `workMs` is how long creating an order takes (default 150). */
function createOrderRouter(store: IdempotencyStore, { workMs = 150 } = {}) {
  const stats: OrderStats = { executions: 0, events: {} };
  const t = initTRPC.context<typeof createContext>().create({ transformer: superjson });
  const idempotency = createIdempotency({
    store,
    onEvent: (event) => {
      stats.events[event.type] = (stats.events[event.type] ?? 0) + 1;
    },
  });
  const idempotentProcedure = t.procedure.use(idempotency.middleware);

  const router = t.router({
    createOrder: idempotentProcedure
      .input(z.object({ sku: z.string(), qty: z.number().int().positive() }))
      .mutation(async ({ input, ctx }) => {
        stats.executions += 1;
        await new Promise((resolve) => setTimeout(resolve, workMs)); // charging a card, say
        return { id: crypto.randomUUID(), ...input, owner: ctx.user?.id ?? null, createdAt: new Date() };
      }),
  });
  return { router, stats };
}

export type AppRouter = ReturnType<typeof createOrderRouter>['router'];

/** Starts the service on `port` (0: a free one), with `store` (default: {@link storeFromEnv}). */
export async function startOrderServer({ port = 3000, store = storeFromEnv(), workMs = 150 } = {}) {
  const { router, stats } = createOrderRouter(store.store, { workMs });
  const server = createHTTPServer({ router, createContext });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${actual}`,
    storeName: store.name,
    stats,
    async close() {
      // Clients keep connections alive; end them so that close() returns at once.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = await startOrderServer({ port: Number(process.env.PORT ?? 3000) });
  console.log(`order service on ${server.url}, idempotency store: ${server.storeName}`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

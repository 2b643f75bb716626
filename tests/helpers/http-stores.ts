import { Redis } from 'ioredis';
import { type IdempotencyStore, memoryStore, redisStore } from '../../src';
import { startRedis } from './redis-server';

/** The stores every HTTP suite runs against. */
export const storeKinds = ['memoryStore', 'redisStore'] as const;
export type StoreKind = (typeof storeKinds)[number];

/** A fresh store; a redisStore gets its own redis-server on a free port, stopped by `close`. */
export async function openStore(kind: StoreKind): Promise<{ store: IdempotencyStore; close: () => Promise<void> }> {
  if (kind === 'memoryStore') {
    const store = memoryStore();
    return { store, close: () => store.close() };
  }
  const server = await startRedis();
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  const store = redisStore({ redis });
  return {
    store,
    close: async () => {
      await store.close();
      redis.disconnect();
      await server.stop();
    },
  };
}

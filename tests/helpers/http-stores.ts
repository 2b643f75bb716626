import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { type IdempotencyStore, memoryStore, redisStore } from '../../src';
import { type HttpApp, makeHttpApp } from './http-app';
import { type RunningServer, serveStandalone } from './http-servers';
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

/**
 * The app on a fresh store of `kind`, served by `serve`, for one suite: opened before its tests and
 * closed after them. Read `app` and `server` from the returned object inside the tests.
 */
export function serveForSuite(
  kind: StoreKind,
  serve: (app: HttpApp) => Promise<RunningServer> = serveStandalone,
  options: Parameters<typeof makeHttpApp>[1] = {},
): { readonly app: HttpApp; readonly server: RunningServer } {
  const suite = {} as { app: HttpApp; server: RunningServer; close?: () => Promise<void> };
  beforeAll(async () => {
    const opened = await openStore(kind);
    suite.close = opened.close;
    suite.app = makeHttpApp(opened.store, options);
    suite.server = await serve(suite.app);
  });
  afterAll(async () => {
    await suite.server?.close();
    await suite.close?.();
  });
  return suite;
}

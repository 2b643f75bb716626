/**
 * A tRPC HTTP server running the durable router (see durable-app.ts) on redisStore and Postgres,
 * as a child process: `node --import tsx tests/helpers/child-durable-server.ts`. Config comes as
 * JSON in IDEM_DURABLE_CONFIG; it reports on the IPC channel:
 *   -> { type: 'ready', port }   -> { type: 'reached', point, k }   -> { type: 'event', event }
 */
import type { AddressInfo } from 'node:net';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createIdempotency, redisStore } from '../../src';
import { type DurableContext, type HoldPoint, makeDurableRouter } from './durable-app';

export interface DurableChildConfig {
  redisUrl: string;
  databaseUrl: string;
  lockTtlMs: number;
  waitTimeoutMs: number;
  holdAt?: HoldPoint;
  holdMs?: number;
  failAfterStep?: boolean;
}

const config = JSON.parse(process.env.IDEM_DURABLE_CONFIG ?? '{}') as DurableChildConfig;
const send = (message: unknown) => {
  if (process.connected) process.send?.(message);
};

const redis = new Redis(config.redisUrl);
redis.on('error', () => {});
const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 20 });
pool.on('error', () => {});
const store = redisStore({ redis });
const idempotency = createIdempotency<DurableContext>({
  store,
  lockTtlMs: config.lockTtlMs,
  waitTimeoutMs: config.waitTimeoutMs,
  onEvent: (event) => send({ type: 'event', event: { type: event.type, error: String(event.error ?? '') } }),
});

const server = createHTTPServer({
  router: makeDurableRouter(idempotency, pool, {
    holdAt: config.holdAt,
    holdMs: config.holdMs ?? 60_000,
    failAfterStep: config.failAfterStep,
    reached: (point, k) => send({ type: 'reached', point, k }),
  }),
  createContext: ({ req }): DurableContext => ({ headers: req.headers }),
});

process.on('message', (message: { type: string }) => {
  if (message.type !== 'close') return;
  server.closeAllConnections();
  server.close();
  void Promise.allSettled([store.close(), pool.end()]).finally(() => {
    redis.disconnect();
    process.exit(0);
  });
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => send({ type: 'ready', port: (server.address() as AddressInfo).port }));

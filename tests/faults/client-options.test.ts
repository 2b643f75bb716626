import { TRPCError } from '@trpc/server';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../../src';
import { makeApp, sleep } from '../helpers/app';
import { type RedisServer, startRedis } from '../helpers/redis-server';

/**
 * "A TRPCError within about 1 s, whatever the user's ioredis options": the options that wait the
 * longest by themselves, with Redis killed and with Redis frozen (accepts nothing, answers nothing).
 */
const optionSets: [string, RedisOptions][] = [
  ['defaults', {}],
  ['maxRetriesPerRequest: null (queue forever)', { maxRetriesPerRequest: null }],
  ['enableOfflineQueue: false', { enableOfflineQueue: false }],
  ['lazyConnect, slow reconnects', { lazyConnect: true, retryStrategy: () => 2_000 }],
];

async function codeAndTime(promise: Promise<unknown>) {
  const startedAt = performance.now();
  try {
    await promise;
    return { code: 'no error', ms: performance.now() - startedAt };
  } catch (error) {
    expect(error).toBeInstanceOf(TRPCError);
    return { code: (error as TRPCError).code, ms: performance.now() - startedAt };
  }
}

describe.each(optionSets)('fail closed within the bound, ioredis %s', (_label, options) => {
  let server: RedisServer;
  let redis: Redis;
  let seq = 0;
  const key = () => `opt-${Date.now()}-${++seq}`;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.port, '127.0.0.1', options);
    redis.on('error', () => {});
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });

  it('answers SERVICE_UNAVAILABLE in about 1 s when Redis is killed or frozen, runs nothing, then recovers', async () => {
    const store = redisStore({ redis, commandTimeoutMs: 1_000 });
    const app = makeApp({ store });
    expect((await codeAndTime(app.caller(key()).createOrder({ sku: 'a' }))).code).toBe('no error');

    server.pause();
    const frozen = await codeAndTime(app.caller(key()).createOrder({ sku: 'a' }));
    server.resume();
    await server.kill();
    const killed = await codeAndTime(app.caller(key()).createOrder({ sku: 'a' }));
    for (const r of [frozen, killed]) {
      expect(r.code).toBe('SERVICE_UNAVAILABLE');
      expect(r.ms).toBeLessThan(2_500);
    }
    expect(app.runs.createOrder).toBe(1);

    await server.restart();
    const deadline = Date.now() + 15_000;
    let after = await codeAndTime(app.caller(key()).createOrder({ sku: 'a' }));
    while (after.code !== 'no error' && Date.now() < deadline) {
      await sleep(200);
      after = await codeAndTime(app.caller(key()).createOrder({ sku: 'a' }));
    }
    expect(after.code).toBe('no error');
    await store.close();
  }, 30_000);
});

describe('a burst of first calls on a client that has not connected yet', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(() => server.stop());

  it('waits for the connection with one listener, not one per call, and serves every call once', async () => {
    const redis = new Redis(server.port, '127.0.0.1', { lazyConnect: true });
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const store = redisStore({ redis });
      const app = makeApp({ store });
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => app.caller(`burst-${i % 10}`).createOrder({ sku: 'a' })),
      );
      expect(new Set(results.map((r) => r.id)).size).toBe(10);
      expect(app.runs.createOrder).toBe(10);
      expect(redis.listenerCount('ready')).toBe(0);
      await sleep(10); // warnings are emitted on a later tick
      expect(warnings).not.toContain('MaxListenersExceededWarning');
      await store.close();
    } finally {
      process.off('warning', onWarning);
      redis.disconnect();
    }
  });
});

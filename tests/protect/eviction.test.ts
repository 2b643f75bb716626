import { TRPCError } from '@trpc/server';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { EvictionPolicyWarning, type IdempotencyStore, redisStore } from '../../src';
import { makeApp, until } from '../helpers/app';
import { type RedisServer, startRedis } from '../helpers/redis-server';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function redisWith(args: string[]): Promise<{ server: RedisServer; redis: Redis }> {
  const server = await startRedis(args);
  const redis = new Redis(server.url);
  cleanup.push(
    () => server.stop(),
    () => redis.disconnect(),
  );
  return { server, redis };
}

function storeOn(redis: Redis, warnings: Error[]): IdempotencyStore {
  const store = redisStore({ redis, onWarning: (w) => warnings.push(w) });
  cleanup.push(() => store.close());
  return store;
}

/** The store's CONFIG GET went first on this connection: once this answers, it has been handled. */
async function checked(redis: Redis): Promise<void> {
  await until(async () => redis.status === 'ready', 5_000, 'the connection');
  await redis.ping();
  await new Promise((resolve) => setImmediate(resolve));
}

/** Writes `mb` MiB of 10 KiB cache entries, as a cache sharing the Redis would. */
async function fill(redis: Redis, mb: number, tag: string): Promise<void> {
  const value = 'x'.repeat(10 * 1024);
  for (let batch = 0; batch < mb * 100; batch += 50) {
    const pipeline = redis.pipeline();
    for (let i = batch; i < batch + 50; i++) pipeline.set(`cache:${tag}:${i}`, value);
    const failed = (await pipeline.exec())?.find(([error]) => error);
    if (failed) throw failed[0];
  }
}

describe('maxmemory-policy check', () => {
  it('warns once, naming the fix, when Redis may evict keys', async () => {
    const { redis } = await redisWith(['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru']);
    const warnings: Error[] = [];
    storeOn(redis, warnings);
    await checked(redis);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toBeInstanceOf(EvictionPolicyWarning);
    expect(warnings[0]?.message).toMatch(/maxmemory-policy allkeys-lru \(maxmemory 67108864 bytes\)/);
    expect(warnings[0]?.message).toMatch(/Set maxmemory-policy noeviction/);
    expect(warnings[0]?.message).toMatch(/a Redis of its own/);
  });

  it('warns through process.emitWarning by default', async () => {
    const { redis } = await redisWith(['--maxmemory-policy', 'volatile-lru']);
    const seen: Error[] = [];
    const listener = (w: Error) => seen.push(w);
    process.on('warning', listener);
    cleanup.push(() => void process.off('warning', listener));
    const store = redisStore({ redis });
    cleanup.push(() => store.close());
    await checked(redis);
    await until(async () => seen.length > 0, 2_000, 'the process warning');
    expect(seen.filter((w) => w.name === 'EvictionPolicyWarning')).toHaveLength(1);
  });

  it('says nothing under noeviction, nor when the server refuses CONFIG (as managed Redis may)', async () => {
    const { redis } = await redisWith(['--maxmemory-policy', 'noeviction']);
    const warnings: Error[] = [];
    storeOn(redis, warnings);
    await checked(redis);

    const { server: locked, redis: admin } = await redisWith(['--maxmemory-policy', 'allkeys-lru']);
    await admin.acl('SETUSER', 'app', 'on', '>pw', '~*', '&*', '+@all', '-config');
    const app = new Redis(`redis://app:pw@127.0.0.1:${locked.port}`);
    cleanup.push(() => app.disconnect());
    const store = storeOn(app, warnings);
    await checked(app);
    await expect(app.config('GET', 'maxmemory-policy')).rejects.toThrow(/NOPERM/);
    expect(warnings).toEqual([]);
    // The store works all the same.
    const calls = makeApp({ store });
    await calls.caller('k').createOrder({ sku: 'a' });
    await calls.caller('k').createOrder({ sku: 'a' });
    expect(calls.runs.createOrder).toBe(1);
  });
});

describe('eviction under maxmemory', () => {
  it('with allkeys-lru, a cache filling Redis evicts running locks, and their duplicates run the mutation again', async () => {
    const { redis } = await redisWith(['--maxmemory', '4mb', '--maxmemory-policy', 'allkeys-lru']);
    const warnings: Error[] = [];
    const app = makeApp({ store: storeOn(redis, warnings), lockTtlMs: 30_000, waitTimeoutMs: 30_000 });
    const LOCKS = 20;
    const firsts = Array.from({ length: LOCKS }, (_, i) => app.caller(`evict-${i}`).slow({ ms: 2_500 }));
    await until(async () => (await redis.keys('idem:*:l')).length === LOCKS, 5_000, 'every lock taken');
    await fill(redis, 12, 'a'); // three times maxmemory, while the mutations run
    const locksLeft = (await redis.keys('idem:*:l')).length;
    // The retries reach another server (its own store and process state), as behind a load balancer.
    const other = makeApp({ store: storeOn(redis, []), lockTtlMs: 30_000, waitTimeoutMs: 30_000 });
    await Promise.all(Array.from({ length: LOCKS }, (_, i) => other.caller(`evict-${i}`).slow({ ms: 2_500 })));
    await Promise.all(firsts);
    const ranTwice = other.runs.slow;
    console.log(
      `eviction (allkeys-lru, maxmemory 4mb, 12 MiB of cache writes): ${LOCKS - locksLeft} of ${LOCKS} locks evicted, ${ranTwice} mutations ran twice`,
    );
    expect(app.runs.slow).toBe(LOCKS);
    expect(locksLeft).toBeLessThan(LOCKS);
    // Every duplicate whose lock was evicted ran the mutation again instead of waiting for the first.
    expect(ranTwice).toBe(LOCKS - locksLeft);
    // The store said so at startup.
    expect(warnings.map((w) => w.name)).toEqual(['EvictionPolicyWarning']);
  });

  it('with noeviction and Redis full, a new call fails closed: SERVICE_UNAVAILABLE, resolver not run', async () => {
    const { redis } = await redisWith(['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction']);
    const app = makeApp({ store: storeOn(redis, []) });
    await app.caller('stored-before').createOrder({ sku: 'a' });
    await expect(fill(redis, 4, 'b')).rejects.toThrow(/OOM/);
    // The refused write freed its buffer, so Redis sits just under the limit, where a write as small as
    // a lock still fits. A lower limit keeps it over, as more traffic would (noeviction evicts nothing).
    await redis.config('SET', 'maxmemory', '1mb');
    const error = await app
      .caller('new-key')
      .createOrder({ sku: 'a' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCError);
    expect((error as TRPCError).code).toBe('SERVICE_UNAVAILABLE');
    expect(String((error as TRPCError).cause)).toMatch(/OOM/);
    expect(app.runs.createOrder).toBe(1);
    // A stored result still replays from a full Redis: reads are not refused.
    const other = makeApp({ store: redisStore({ redis, cache: false, onWarning: () => {} }) });
    await other.caller('stored-before').createOrder({ sku: 'a' });
    expect(other.runs.createOrder).toBe(0);
  });
});

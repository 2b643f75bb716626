import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../../src';
import { makeApp, sleep } from '../helpers/app';
import { type RedisServer, startRedis } from '../helpers/redis-server';

/**
 * Regression: a lock extension that answered late (a loaded machine, a slow Redis) was taken for a
 * lost lock. The holder stopped extending, the lock expired under a running mutation, and a
 * duplicate ran it a second time. A late answer is not a lost lock: the holder must keep extending.
 */
describe('a slow lock extension is not a lost lock', () => {
  let server: RedisServer;
  let redis: Redis;
  let admin: Redis;
  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    redis.disconnect();
    admin.disconnect();
    await server.stop();
  });

  it('keeps extending after an extension times out, so a later duplicate waits instead of running', async () => {
    // Extensions every 500 ms, each bounded at 200 ms; the resolver runs 2.5 s, beyond the 1.5 s lock.
    const store = redisStore({ redis, commandTimeoutMs: 200, cache: false });
    const holder = makeApp({ store, lockTtlMs: 1_500, waitTimeoutMs: 10_000 });
    const duplicate = makeApp({ store, lockTtlMs: 1_500, waitTimeoutMs: 10_000 });
    const first = holder.caller('slow-extend').slow({ ms: 2_500 });
    // Hold every write (scripts included) from 400 to 850 ms: the 500 ms extension times out,
    // while reads still answer.
    await sleep(400);
    await admin.call('CLIENT', 'PAUSE', '450', 'WRITE');
    // After the lock's first 1.5 s, a duplicate arrives.
    await sleep(1_300);
    const second = duplicate.caller('slow-extend').slow({ ms: 2_500 });
    const [a, b] = await Promise.all([first, second]);
    expect(holder.runs.slow + duplicate.runs.slow).toBe(1);
    expect(b).toEqual(a);
    expect(holder.events.map((e) => e.type)).not.toContain('lock-lost');
    expect(holder.events.map((e) => e.type)).toContain('store-error');
    await store.close();
  }, 20_000);
});

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../../src';
import { makeApp, until } from '../helpers/app';
import { type RedisServer, startRedis } from '../helpers/redis-server';

/**
 * replyBeforeStored: the first caller is answered before its COMPLETE is applied. Duplicates that
 * arrive in between, in this process or another, must still wait for the stored result and get it.
 * CLIENT PAUSE WRITE holds every script back (and leaves KEYS alone), so "in between" lasts as long
 * as the test needs.
 */
describe('replyBeforeStored: duplicates between the reply and the store', () => {
  let server: RedisServer;
  let redis: Redis;
  let other: Redis;
  let probe: Redis;
  beforeAll(async () => {
    server = await startRedis();
    [redis, other, probe] = [new Redis(server.url), new Redis(server.url), new Redis(server.url)];
    for (const client of [redis, other, probe]) client.on('error', () => {}); // the last test kills Redis
    await Promise.all([redis.ping(), other.ping(), probe.ping()]);
  });
  afterAll(async () => {
    for (const client of [redis, other, probe]) client.disconnect();
    await server.stop();
  });

  const locks = async () => (await probe.keys('idem:*:l')).length;

  /** Starts `slow` as the first call, and holds its COMPLETE back once its claim took the lock. */
  async function answeredButNotStored(app: ReturnType<typeof makeApp>, key: string) {
    await app.caller(`${key}-warm`).slow({ ms: 1 }); // scripts loaded, and this app's first run
    await until(async () => app.idempotency.inFlight === 0, 2_000, 'the warm-up to be stored');
    const before = await locks();
    const first = app.caller(key).slow({ ms: 2_000 });
    await until(async () => (await locks()) === before + 1, 1_800, 'the claim to take the lock');
    await probe.call('CLIENT', 'PAUSE', '20000', 'WRITE');
    return first;
  }

  it('a duplicate in the same process waits for the store, then gets the stored result', async () => {
    const app = makeApp({ store: redisStore({ redis }), replyBeforeStored: true });
    try {
      const first = await answeredButNotStored(app, 'same');
      expect(await first).toEqual({ n: 2 });
      let settled = false;
      const duplicate = app
        .caller('same')
        .slow({ ms: 2_000 })
        .finally(() => {
          settled = true;
        });
      await probe.ping();
      expect(settled).toBe(false); // it joined the flight, which lasts until the store
      expect(app.idempotency.inFlight).toBe(1);
      await probe.call('CLIENT', 'UNPAUSE');
      expect(await duplicate).toEqual({ n: 2 });
      expect(app.runs.slow).toBe(2);
    } finally {
      await probe.call('CLIENT', 'UNPAUSE');
    }
  });

  it('a duplicate in another process finds the lock still held, and is woken by the notice', async () => {
    const app = makeApp({ store: redisStore({ redis }), replyBeforeStored: true });
    const elsewhere = makeApp({ store: redisStore({ redis: other }) });
    try {
      const first = await answeredButNotStored(app, 'cross');
      expect(await first).toEqual({ n: 2 });
      const duplicate = elsewhere.caller('cross').slow({ ms: 2_000 });
      // Its claim is a script too, held back behind the COMPLETE: let both through, in order.
      await probe.call('CLIENT', 'UNPAUSE');
      expect(await duplicate).toEqual({ n: 2 });
      expect(elsewhere.runs.slow).toBe(0);
      expect(elsewhere.events.map((e) => e.type)).not.toContain('miss');
    } finally {
      await probe.call('CLIENT', 'UNPAUSE');
    }
  });

  it('emits miss once the result is stored, after the reply', async () => {
    const app = makeApp({ store: redisStore({ redis }), replyBeforeStored: true });
    try {
      const first = await answeredButNotStored(app, 'events');
      await first;
      const misses = () => app.events.filter((e) => e.type === 'miss').length;
      const before = misses();
      await probe.call('CLIENT', 'UNPAUSE');
      await until(async () => app.idempotency.inFlight === 0, 2_000, 'the record to be stored');
      expect(misses()).toBe(before + 1);
      expect(app.events.filter((e) => e.type === 'store-error' || e.type === 'lock-lost')).toEqual([]);
    } finally {
      await probe.call('CLIENT', 'UNPAUSE');
    }
  });

  it('when Redis dies before the store lands: the caller already has its result, store-error is emitted, nothing stays in flight', async () => {
    const own = new Redis(server.url, { maxRetriesPerRequest: 1 });
    own.on('error', () => {}); // the outage below is the point
    const app = makeApp({ store: redisStore({ redis: own, commandTimeoutMs: 500 }), replyBeforeStored: true });
    try {
      const first = await answeredButNotStored(app, 'outage');
      const seen = app.events.length; // the warm-up's
      expect(await first).toEqual({ n: 2 });
      await server.kill(); // the held-back COMPLETE dies with it
      await until(async () => app.idempotency.inFlight === 0, 5_000, 'the failed store to let go of the flight');
      expect(app.events.slice(seen).map((e) => e.type)).toEqual(['store-error', 'miss']);
    } finally {
      own.disconnect();
      await server.restart();
      await Promise.all([redis.ping(), other.ping(), probe.ping()]);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { redisStore } from '../../src';
import { makeApp, until } from '../helpers/app';
import { redisForSuite } from '../helpers/redis-server';

describe('Redis round trips on the request path', () => {
  const suite = redisForSuite();

  const count = suite.roundTrips;

  it('costs two round trips for a first call (claim, complete) and one for a replay without the cache', async () => {
    const app = makeApp({ store: redisStore({ redis: suite.redis, cache: false }) });
    await app.caller('warm').createOrder({ sku: 'a' }); // loads the scripts
    expect(await count(() => app.caller('first').createOrder({ sku: 'a' }))).toBe(2);
    expect(await count(() => app.caller('first').createOrder({ sku: 'a' }))).toBe(1);
  });

  it('serves repeated replays in one process from the record cache, at no round trip', async () => {
    const app = makeApp({ store: redisStore({ redis: suite.redis }) });
    await app.caller('cached').createOrder({ sku: 'a' });
    // Cached on a replay, not on its store: most keys are never retried. The first replay a store
    // makes also opens its forget channel; it caches once that is live, a few ms later.
    expect(await count(() => app.caller('cached').createOrder({ sku: 'a' }))).toBe(1);
    await until(
      async () => (await count(() => app.caller('cached').createOrder({ sku: 'a' }))) === 0,
      2_000,
      'a replay served from the cache',
    );
    expect(await count(() => app.caller('cached').createOrder({ sku: 'a' }))).toBe(0);
    // Another process (another store), once listening, pays one round trip on its first replay of a key.
    const other = makeApp({ store: redisStore({ redis: suite.redis }) });
    await other.caller('warm-other').createOrder({ sku: 'a' });
    await until(
      async () => (await count(() => other.caller('warm-other').createOrder({ sku: 'a' }))) === 0,
      2_000,
      'the other store to cache its replays',
    );
    expect(await count(() => other.caller('cached').createOrder({ sku: 'a' }))).toBe(1);
    expect(await count(() => other.caller('cached').createOrder({ sku: 'a' }))).toBe(0);
    expect(app.runs.createOrder + other.runs.createOrder).toBe(2);
  });

  /** Records and locks of ours on the server. */
  const keys = async (kind: 'r' | 'l') => (await suite.probe.keys(`idem:*:${kind}`)).length;

  it('with replyBeforeStored, answers a first call after its claim alone: the store goes out behind the reply', async () => {
    const app = makeApp({ store: redisStore({ redis: suite.redis }), replyBeforeStored: true });
    await app.caller('warm-behind').slow({ ms: 1 }); // loads the scripts
    await until(async () => app.idempotency.inFlight === 0, 2_000, 'the warm-up to be stored');
    const [records, locks] = [await keys('r'), await keys('l')];
    const answered = app.caller('behind').slow({ ms: 3_000 });
    await until(async () => (await keys('l')) === locks + 1, 2_500, 'the claim to take the lock');
    // Hold the COMPLETE back: CLIENT PAUSE WRITE blocks every EVALSHA, and leaves KEYS and INFO alone.
    await suite.probe.call('CLIENT', 'PAUSE', '20000', 'WRITE');
    try {
      expect(await answered).toEqual({ n: 2 });
      // The caller has its result, and nothing is stored yet: its path held the claim alone.
      expect(await keys('r')).toBe(records);
      expect(await keys('l')).toBe(locks + 1);
      expect(app.idempotency.inFlight).toBe(1);
    } finally {
      await suite.probe.call('CLIENT', 'UNPAUSE');
    }
    await until(async () => app.idempotency.inFlight === 0, 2_000, 'the record to be stored');
    expect([await keys('r'), await keys('l')]).toEqual([records + 1, locks]);
    // Two round trips in all, one on the caller's path; the replay reads the stored record.
    expect(
      await count(async () => {
        await app.caller('behind-count').createOrder({ sku: 'a' });
        await until(async () => app.idempotency.inFlight === 0, 2_000, 'the record to be stored');
      }),
    ).toBe(2);
    expect(await count(() => app.caller('behind-count').createOrder({ sku: 'a' }))).toBe(1);
    expect(app.runs.createOrder).toBe(1);
  });

  it('by default answers a first call only once its result is stored', async () => {
    const app = makeApp({ store: redisStore({ redis: suite.redis }) });
    const records = await keys('r');
    await app.caller('stored-first').createOrder({ sku: 'a' });
    expect(app.idempotency.inFlight).toBe(0);
    expect(await keys('r')).toBe(records + 1);
  });

  it('sends the scripts of concurrent calls in one pipeline: far fewer reads than two per call', async () => {
    const app = makeApp({ store: redisStore({ redis: suite.redis, cache: false }) });
    const reads = await count(() =>
      Promise.all(Array.from({ length: 50 }, (_, i) => app.caller(`batch-${i}`).other({ sku: 'a' }))),
    );
    expect(app.runs.other).toBe(50);
    expect(reads).toBeLessThan(50);
  });

  it('costs O(1) round trips for N concurrent duplicates in one process', async () => {
    const app = makeApp({ store: redisStore({ redis: suite.redis, cache: false }) });
    const one = await count(() => app.caller('dup-1').slow({ ms: 50 }));
    const fifty = await count(() =>
      Promise.all(Array.from({ length: 50 }, () => app.caller('dup-50').slow({ ms: 50 }))),
    );
    expect(fifty).toBe(one);
    expect(app.runs.slow).toBe(2);
  });
});

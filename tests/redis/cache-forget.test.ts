import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { redisStore } from '../../src';
import { scopeKey } from '../../src/key';
import { makeApp, until } from '../helpers/app';
import { redisForSuite } from '../helpers/redis-server';

/** The record cache of one process, while its forget channel comes and goes. */
describe('the record cache and the forget channel', () => {
  const suite = redisForSuite();

  it('does not cache a record read before its forget channel was last confirmed: a forget may have gone unheard', async () => {
    const { redis, server } = suite;
    const peerClient = new Redis(server.url);
    // Patient: its replay waits out a pause of the server below.
    const app = makeApp({ store: redisStore({ redis: peerClient, commandTimeoutMs: 5_000 }) });
    const subscribers = async () => Number(((await redis.pubsub('NUMSUB', 'idem:forgotten')) as [string, number])[1]);
    try {
      await app.caller('warm').createOrder({ sku: 'a' });
      await app.caller('warm').createOrder({ sku: 'a' }); // a replay: starts listening
      await until(async () => (await subscribers()) === 1, 5_000, 'the forget channel');
      await app.caller('in-flight').createOrder({ sku: 'a' });

      // The channel drops; a replay's read goes out, and waits behind a pause while the channel
      // comes back. Its answer arrives once the channel is live again, but it was asked before.
      await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await redis.call('CLIENT', 'PAUSE', '10000', 'WRITE'); // holds the claim script, not SUBSCRIBE
      const replay = app.caller('in-flight').createOrder({ sku: 'a' });
      try {
        await until(async () => (await subscribers()) === 1, 5_000, 'the forget channel back');
      } finally {
        await redis.call('CLIENT', 'UNPAUSE');
      }
      expect((await replay).id).toBe('order-2');

      // Not cached: with the record gone behind its back, the call runs again.
      await redis.del(`idem:{${scopeKey('alice', 'createOrder', 'in-flight')}}:r`);
      await app.caller('in-flight').createOrder({ sku: 'a' });
      expect(app.runs.createOrder).toBe(3);
    } finally {
      peerClient.disconnect();
    }
  });
});

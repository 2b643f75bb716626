import { describe, expect, it } from 'vitest';
import { IDEMPOTENCY_ERROR_CODES, redisStore } from '../../src';
import { scopeKey } from '../../src/key';
import { makeApp, trpcFailure } from '../helpers/app';
import { redisForSuite } from '../helpers/redis-server';

/** A value under a record key that this library did not write, or that was damaged in the store. */
describe('a record damaged in Redis', () => {
  const suite = redisForSuite();

  it('is neither replayed nor run again, says so, and forget clears it for the next call', async () => {
    const app = makeApp({ store: redisStore({ redis: suite.redis, cache: false }) });
    const ref = { userId: 'alice', path: 'createOrder', key: 'damaged' };
    await suite.redis.set(`idem:{${scopeKey('alice', 'createOrder', 'damaged')}}:r`, 'r1\nok\n', 'EX', 60);

    const error = await trpcFailure(app.caller('damaged').createOrder({ sku: 'a' }));
    // Not SERVICE_UNAVAILABLE, which would invite retries that can never succeed.
    expect(error.code).toBe(IDEMPOTENCY_ERROR_CODES.recordUnreadable);
    expect(error.message).toMatch(/neither replayed nor run again/);
    expect(app.runs.createOrder).toBe(0);
    expect(app.events.at(-1)).toMatchObject({ type: 'integrity-error', path: 'createOrder' });
    expect(String(app.events.at(-1)?.error)).toMatch(/unrecognised idempotency record/);

    const inspected = await trpcFailure(app.idempotency.inspect(ref));
    expect(inspected.code).toBe(IDEMPOTENCY_ERROR_CODES.recordUnreadable);
    expect(inspected.message).toMatch(/`forget` deletes it/);

    expect(await app.idempotency.forget(ref)).toEqual({ forgotten: true });
    await app.caller('damaged').createOrder({ sku: 'a' });
    expect(app.runs.createOrder).toBe(1);
  });

  it('a kept error whose body was damaged is not replayed either, and inspect shows it undecoded', async () => {
    const app = makeApp({ store: redisStore({ redis: suite.redis, cache: false }), cacheErrors: () => true });
    const ref = { userId: 'alice', path: 'fail', key: 'damaged-error' };
    await trpcFailure(app.caller('damaged-error').fail({ sku: 'a' }));
    const key = `idem:{${scopeKey('alice', 'fail', 'damaged-error')}}:r`;
    const stored = (await suite.redis.get(key))!;
    const header = stored.split('\n').slice(0, 4).join('\n');
    await suite.redis.set(key, `${header}\n{"code":`, 'KEEPTTL'); // the body cut short

    const error = await trpcFailure(app.caller('damaged-error').fail({ sku: 'a' }));
    expect(error.code).toBe(IDEMPOTENCY_ERROR_CODES.recordUnreadable);
    expect(app.runs.fail).toBe(1);
    expect(app.events.at(-1)).toMatchObject({ type: 'integrity-error', path: 'fail' });
    expect(await app.idempotency.inspect(ref)).toMatchObject({
      state: 'done',
      status: 'error',
      result: '{"code":',
      decoded: false,
    });
  });
});

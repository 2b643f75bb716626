import { randomBytes } from 'node:crypto';
import { initTRPC, TRPCError } from '@trpc/server';
import { Redis } from 'ioredis';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createIdempotency, type EncryptionOptions, type IdempotencyEvent, redisStore } from '../../src';
import type { TestContext } from '../helpers/app';
import { type RedisServer, startRedis } from '../helpers/redis-server';

const CARD = 'card-4242-4242-4242-4242';
const key = randomBytes(32);

/** A checkout whose charge step returns a secret, then fails once, so that only the step is stored. */
function stepApp(redis: Redis, encryption?: EncryptionOptions) {
  const runs = { charge: 0 };
  let failing = false; // not in the input: a retry sends the same input, or it would get 422
  const events: IdempotencyEvent[] = [];
  const store = redisStore({ redis, cache: false, onWarning: () => {} });
  const t = initTRPC.context<TestContext>().create({ transformer: superjson });
  const idempotency = createIdempotency<TestContext>({
    store,
    ...(encryption ? { encryption } : {}),
    onEvent: (e) => events.push(e),
  });
  const router = t.router({
    checkout: t.procedure
      .use(idempotency.middleware)
      .input(z.object({ sku: z.string() }))
      .mutation(async ({ ctx }) => {
        const charge = await ctx.idempotency.step('charge', () => {
          runs.charge += 1;
          return { card: CARD, n: runs.charge };
        });
        if (failing) throw new TRPCError({ code: 'BAD_REQUEST', message: 'declined after the charge' });
        return charge;
      }),
  });
  const call = (fail: boolean) => {
    failing = fail;
    return t
      .createCallerFactory(router)({ headers: { 'idempotency-key': 'k-step' }, user: { id: 'alice' } })
      .checkout({ sku: 'book' });
  };
  return { call, runs, events, close: () => store.close() };
}

describe('step results encrypted at rest', () => {
  let server: RedisServer;
  let redis: Redis;
  const stepHash = async () => {
    const [hash] = await redis.keys('idem:*:s');
    return hash as string;
  };

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });

  it('stores no byte of a step result in clear, and the retry reuses it without running the step again', async () => {
    await redis.flushall();
    const first = stepApp(redis, { keys: [key] });
    await expect(first.call(true)).rejects.toThrow(/declined/);
    const fields = await redis.hgetall(await stepHash());
    expect(Object.keys(fields).length).toBeGreaterThan(0);
    for (const value of Object.values(fields)) {
      expect(value.includes(CARD)).toBe(false);
      // The input's fingerprint (a hash) in clear, then the sealed result.
      expect(value.split('\n')[1]?.startsWith('e1.')).toBe(true);
    }
    const retry = stepApp(redis, { keys: [key] });
    expect(await retry.call(false)).toEqual({ card: CARD, n: 1 });
    expect(first.runs.charge + retry.runs.charge).toBe(1);
    await Promise.all([first.close(), retry.close()]);
  });

  it('never uses nor re-runs a tampered step: INTERNAL_SERVER_ERROR and an integrity-error event', async () => {
    await redis.flushall();
    const first = stepApp(redis, { keys: [key] });
    await expect(first.call(true)).rejects.toThrow(/declined/);
    const hash = await stepHash();
    const [[field, value]] = Object.entries(await redis.hgetall(hash)) as [[string, string]];
    await redis.hset(hash, field, `${value.slice(0, -3)}${value.at(-3) === 'A' ? 'B' : 'A'}${value.slice(-2)}`);

    const retry = stepApp(redis, { keys: [key] });
    const error = await retry.call(false).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCError);
    expect((error as TRPCError).code).toBe('INTERNAL_SERVER_ERROR');
    expect(retry.runs.charge).toBe(0);
    expect(retry.events.map((e) => e.type)).toContain('integrity-error');

    // A server without the keys refuses the sealed value too, rather than parse it as superjson.
    const unkeyed = stepApp(redis);
    await redis.flushall();
    await expect(first.call(true)).rejects.toThrow(/declined/);
    expect(((await unkeyed.call(false).catch((e: unknown) => e)) as TRPCError).code).toBe('INTERNAL_SERVER_ERROR');
    expect(unkeyed.runs.charge).toBe(0);
    await Promise.all([first.close(), retry.close(), unkeyed.close()]);
  });
});

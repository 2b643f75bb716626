import { initTRPC } from '@trpc/server';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createIdempotency, redisStore } from '../../src';
import { type RedisServer, startRedis } from '../helpers/redis-server';

/** Client reads the server processed: one per round trip (see tests/redis/round-trips.test.ts). */
async function readsProcessed(redis: Redis): Promise<number> {
  return Number(/total_reads_processed:(\d+)/.exec(await redis.info('stats'))?.[1]);
}

describe('Redis round trips of steps', () => {
  let server: RedisServer;
  let redis: Redis;
  let probe: Redis;
  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    probe = new Redis(server.url);
    await redis.ping();
  });
  afterAll(async () => {
    redis.disconnect();
    probe.disconnect();
    await server.stop();
  });

  async function count(run: () => Promise<unknown>): Promise<number> {
    const before = await readsProcessed(probe);
    await run();
    return (await readsProcessed(probe)) - before - 1;
  }

  function app() {
    const t = initTRPC.context<{ headers: Record<string, string> }>().create();
    const procedure = t.procedure.use(createIdempotency({ store: redisStore({ redis, cache: false }) }).middleware);
    const router = t.router({
      steps: procedure.input(z.number()).mutation(async ({ ctx, input }) => {
        let sum = 0;
        for (let i = 0; i < input; i++) sum += await ctx.idempotency.step(`s${i}`, () => i);
        return sum;
      }),
    });
    return (key: string) => t.createCallerFactory(router)({ headers: { 'idempotency-key': key } });
  }

  it('adds nothing to a call without steps, one read per execution and one write per step to one with steps', async () => {
    const caller = app();
    await caller('warm').steps(2); // loads the scripts
    expect(await count(() => caller('none').steps(0))).toBe(2); // claim, complete
    expect(await count(() => caller('one').steps(1))).toBe(2 + 2); // + read the steps, save s0
    expect(await count(() => caller('three').steps(3))).toBe(2 + 1 + 3);
    // A replay comes from the record: no step is read.
    expect(await count(() => caller('three').steps(3))).toBe(1);
  });
});

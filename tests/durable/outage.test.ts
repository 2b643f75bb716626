import { initTRPC } from '@trpc/server';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdempotency, type IdempotencyEvent, redisStore } from '../../src';
import { type RedisServer, startRedis } from '../helpers/redis-server';

/** Steps when Redis stops answering mid-resolver (a real redis-server, frozen with SIGSTOP). */
describe('steps during a Redis outage', () => {
  let server: RedisServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    await redis.ping();
  });
  afterAll(async () => {
    server.resume();
    redis.disconnect();
    await server.stop();
  });

  function app() {
    const events: IdempotencyEvent[] = [];
    const runs = { charge: 0, late: 0 };
    const t = initTRPC.context<{ headers: Record<string, string> }>().create();
    const store = redisStore({ redis, commandTimeoutMs: 200, cache: false });
    const procedure = t.procedure.use(
      createIdempotency({ anonymous: 'shared', store, onEvent: (e) => events.push(e) }).middleware,
    );
    const router = t.router({
      charge: procedure.mutation(async ({ ctx }) => {
        return ctx.idempotency.step('charge', () => {
          runs.charge += 1;
          server.pause(); // the step's own save then meets a frozen Redis
          return { id: `ch_${runs.charge}` };
        });
      }),
      late: procedure.mutation(async ({ ctx }) => {
        const attempt = ++runs.late;
        // The retry's first step reads the first attempt's steps: Redis cannot answer that read.
        if (attempt === 2) server.pause();
        const charged = await ctx.idempotency.step('charge', () => {
          runs.charge += 1;
          return 'charged';
        });
        if (attempt === 1) throw new Error('failed after the step');
        return charged;
      }),
    });
    const caller = (key: string) => t.createCallerFactory(router)({ headers: { 'idempotency-key': key } });
    return { caller, runs, events };
  }

  it('fails closed when the steps of an earlier attempt cannot be read: SERVICE_UNAVAILABLE, and no step runs', async () => {
    const { caller, runs, events } = app();
    const key = `late-${Date.now()}`;
    await expect(caller(key).late()).rejects.toThrow('failed after the step');
    try {
      await expect(caller(key).late()).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    } finally {
      server.resume();
    }
    expect(runs).toEqual({ charge: 1, late: 2 });
    expect(events.map((e) => e.type)).toContain('store-error');
  });

  it('goes on with the value of a step whose save failed (it ran), and reports store-error', async () => {
    const { caller, runs, events } = app();
    try {
      expect(await caller(`save-${Date.now()}`).charge()).toEqual({ id: 'ch_1' });
    } finally {
      server.resume();
    }
    expect(runs.charge).toBe(1);
    expect(events.filter((e) => e.type === 'store-error').length).toBeGreaterThanOrEqual(1);
  });
});

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
    const runs = { charge: 0 };
    const t = initTRPC.context<{ headers: Record<string, string> }>().create();
    const store = redisStore({ redis, commandTimeoutMs: 200, cache: false });
    const procedure = t.procedure.use(createIdempotency({ store, onEvent: (e) => events.push(e) }).middleware);
    const router = t.router({
      charge: procedure.mutation(async ({ ctx }) => {
        return ctx.idempotency.step('charge', () => {
          runs.charge += 1;
          server.pause(); // the step's own save then meets a frozen Redis
          return { id: `ch_${runs.charge}` };
        });
      }),
      late: procedure.mutation(async ({ ctx }) => {
        server.pause(); // before the first step: its read of earlier attempts cannot answer
        return ctx.idempotency.step('charge', () => {
          runs.charge += 1;
          return 'charged';
        });
      }),
    });
    const caller = (key: string) => t.createCallerFactory(router)({ headers: { 'idempotency-key': key } });
    return { caller, runs, events };
  }

  it('fails closed when the earlier steps cannot be read: SERVICE_UNAVAILABLE, and fn does not run', async () => {
    const { caller, runs, events } = app();
    try {
      await expect(caller(`late-${Date.now()}`).late()).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    } finally {
      server.resume();
    }
    expect(runs.charge).toBe(0);
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

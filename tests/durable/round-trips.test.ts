import { initTRPC } from '@trpc/server';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createIdempotency, type IdempotencyStore, redisStore } from '../../src';
import { redisForSuite, startRedis } from '../helpers/redis-server';

describe('Redis round trips of steps', () => {
  const suite = redisForSuite();

  const count = suite.roundTrips;

  function app(store: IdempotencyStore = redisStore({ redis: suite.redis, cache: false })) {
    const t = initTRPC.context<{ headers: Record<string, string> }>().create();
    const procedure = t.procedure.use(createIdempotency({ anonymous: 'shared', store }).middleware);
    const attempts = new Map<string, number>();
    const router = t.router({
      steps: procedure.input(z.number()).mutation(async ({ ctx, input }) => {
        let sum = 0;
        for (let i = 0; i < input; i++) sum += await ctx.idempotency.step(`s${i}`, () => i);
        return sum;
      }),
      /** Throws after its step on the first attempt of each key; the retry resumes after it. */
      flaky: procedure.mutation(async ({ ctx }) => {
        const charged = await ctx.idempotency.step('charge', () => 'charged');
        const attempt = (attempts.get(ctx.idempotency.key!) ?? 0) + 1;
        attempts.set(ctx.idempotency.key!, attempt);
        if (attempt === 1) throw new Error('failed after the step');
        return charged;
      }),
    });
    return (key: string) => t.createCallerFactory(router)({ headers: { 'idempotency-key': key } });
  }

  it('adds nothing to a call without steps, and one write per step to one with steps', async () => {
    const caller = app();
    await caller('warm').steps(2); // loads the scripts
    expect(await count(() => caller('none').steps(0))).toBe(2); // claim, complete
    // The claim told it no earlier attempt left steps: nothing to read.
    expect(await count(() => caller('one').steps(1))).toBe(2 + 1); // + save s0
    expect(await count(() => caller('three').steps(3))).toBe(2 + 3);
    // A replay comes from the record: no step is read.
    expect(await count(() => caller('three').steps(3))).toBe(1);
  });

  it('reads the steps once in an execution that follows an attempt that left some', async () => {
    const caller = app();
    await caller('warm-flaky').steps(1);
    // claim, save the step, release (the error is not cached)
    await expect(count(() => caller('flaky').flaky())).rejects.toThrow('failed after the step');
    // claim, read the earlier steps (the step does not run again), complete
    expect(await count(() => caller('flaky').flaky())).toBe(3);
    expect(await count(() => caller('flaky').flaky())).toBe(1);
  });

  it('on a Redlock quorum, learns from the claim whether to read steps too', async () => {
    // Locks on three other masters: the record server sees only the record and step traffic.
    const masters = await Promise.all([startRedis(), startRedis(), startRedis()]);
    const lockClients = masters.map((m) => new Redis(m.url));
    try {
      const caller = app(redisStore({ redis: suite.redis, lockClients, cache: false }));
      await caller('q-warm')
        .flaky()
        .catch(() => {}); // loads the scripts
      // look for the record, look again once locked (and for earlier steps), complete
      expect(await count(() => caller('q-none').steps(0))).toBe(3);
      expect(await count(() => caller('q-one').steps(1))).toBe(3 + 1); // + save s0
      // look, look again, save the step, wake the waiters (the error is not cached)
      await expect(count(() => caller('q-flaky').flaky())).rejects.toThrow('failed after the step');
      // look, look again (steps there), read them, complete
      expect(await count(() => caller('q-flaky').flaky())).toBe(4);
    } finally {
      for (const c of lockClients) c.disconnect();
      await Promise.all(masters.map((m) => m.stop()));
    }
  });
});

import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createIdempotency, type IdempotencyStore } from '../../src';
import type { TestContext } from '../helpers/app';

let seq = 0;
const fresh = (label = 'k') => `${label}-${process.pid}-${Date.now()}-${++seq}`;

async function errorOf(promise: Promise<unknown>): Promise<TRPCError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TRPCError);
    return error as TRPCError;
  }
  throw new Error('expected the call to fail');
}

/** A checkout whose steps count their own runs; after `failNext()`, its next run throws once the steps are done. */
function makeStepApp(store: IdempotencyStore) {
  const runs = { charge: 0, email: 0, resolver: 0 };
  let failing = false;
  const keys: string[] = [];
  const t = initTRPC.context<TestContext>().create({ transformer: superjson });
  const procedure = t.procedure.use(
    createIdempotency<TestContext>({ anonymous: 'shared', store, lockTtlMs: 2_000 }).middleware,
  );
  const input = z.object({ amount: z.number(), twice: z.boolean().optional() });
  const router = t.router({
    checkout: procedure.input(input).mutation(async ({ ctx, input }) => {
      runs.resolver += 1;
      keys.push(ctx.idempotency.stepKey('charge'));
      const charge = await ctx.idempotency.step('charge', async () => {
        runs.charge += 1;
        return { id: `ch_${runs.charge}`, amount: BigInt(input.amount), at: new Date(1_700_000_000_000 + runs.charge) };
      });
      if (input.twice) await ctx.idempotency.step('charge', () => 'again');
      const email = await ctx.idempotency.step('email', () => {
        runs.email += 1;
        return runs.email;
      });
      if (failing) {
        failing = false;
        throw new TRPCError({ code: 'BAD_REQUEST', message: 'card declined after charge' });
      }
      return { charge, email, key: ctx.idempotency.key };
    }),
    peek: procedure.query(({ ctx }) => ({ key: ctx.idempotency.key, stepKey: ctx.idempotency.stepKey('x') })),
  });
  const createCaller = t.createCallerFactory(router);
  const caller = (key?: string, user = 'alice') =>
    createCaller({ headers: key === undefined ? {} : { 'idempotency-key': key }, user: { id: user } });
  const failNext = () => {
    failing = true;
  };
  return { caller, runs, keys, failNext };
}

/** What `ctx.idempotency.step` and `stepKey` promise, against one store. */
export function describeStepContract(
  name: string,
  setup: () => Promise<{ store: IdempotencyStore; teardown: () => Promise<void> }>,
) {
  describe(`steps: ${name}`, () => {
    let store: IdempotencyStore;
    let teardown: () => Promise<void>;
    beforeAll(async () => {
      ({ store, teardown } = await setup());
    }, 60_000);
    afterAll(async () => {
      await teardown?.();
    });

    it('keeps completed steps past an attempt that threw: the retry finishes the work without repeating it', async () => {
      const app = makeStepApp(store);
      const key = fresh('threw');
      app.failNext();
      const failed = await errorOf(app.caller(key).checkout({ amount: 5 }));
      expect(failed.code).toBe('BAD_REQUEST');
      expect(app.runs).toEqual({ charge: 1, email: 1, resolver: 1 });
      // A retry (the error was not cached) runs the resolver again, but not its steps.
      const result = await app.caller(key).checkout({ amount: 5 });
      expect(app.runs).toEqual({ charge: 1, email: 1, resolver: 2 });
      expect(result).toEqual({
        charge: { id: 'ch_1', amount: 5n, at: new Date(1_700_000_000_001) },
        email: 1,
        key,
      });
      expect(result.charge.amount).toBeTypeOf('bigint');
      // Replays come from the record; the steps are not even read.
      expect(await app.caller(key).checkout({ amount: 5 })).toEqual(result);
      expect(app.runs.resolver).toBe(2);
    });

    it('gives stepKey the same value in every attempt, and a different one per key, user and name', async () => {
      const app = makeStepApp(store);
      const key = fresh('stable');
      app.failNext();
      await errorOf(app.caller(key).checkout({ amount: 1 }));
      await app.caller(key).checkout({ amount: 1 });
      await app.caller(fresh('other')).checkout({ amount: 1 });
      await app.caller(key, 'bob').checkout({ amount: 1 });
      const [first, retry, otherKey, otherUser] = app.keys;
      expect(retry).toBe(first);
      expect(new Set([first, otherKey, otherUser]).size).toBe(3);
      for (const k of app.keys) expect(k).toMatch(/^[\x21-\x7e]{1,255}$/);
    });

    it('fails a second step of the same name in one run with a stable code, and keeps nothing of it', async () => {
      const app = makeStepApp(store);
      const key = fresh('twice');
      const error = await errorOf(app.caller(key).checkout({ amount: 1, twice: true }));
      expect(error.code).toBe('PRECONDITION_FAILED');
      expect(error.message).toContain('"charge" ran twice');
      expect(app.runs.charge).toBe(1);
    });

    it('runs steps every time without a key, with a fresh stepKey per execution', async () => {
      const app = makeStepApp(store);
      const a = await app.caller().checkout({ amount: 1 });
      const b = await app.caller().checkout({ amount: 1 });
      expect(app.runs).toEqual({ charge: 2, email: 2, resolver: 2 });
      expect([a.key, b.key]).toEqual([undefined, undefined]);
      expect(app.keys[0]).not.toBe(app.keys[1]);
      // Queries that pass through uncached get ctx.idempotency too.
      expect((await app.caller(fresh('q')).peek()).key).toBeUndefined();
    });

    it('answers a different input with the same key with 422, without running or touching steps', async () => {
      const app = makeStepApp(store);
      const key = fresh('mismatch');
      app.failNext();
      await errorOf(app.caller(key).checkout({ amount: 1 }));
      const ok = await app.caller(key).checkout({ amount: 1 });
      expect((await errorOf(app.caller(key).checkout({ amount: 2 }))).code).toBe('UNPROCESSABLE_CONTENT');
      expect(app.runs.charge).toBe(1);
      expect(await app.caller(key).checkout({ amount: 1 })).toEqual(ok);
    });

    it('answers a retry with another input after an attempt that threw with 422: no record, but its steps', async () => {
      const app = makeStepApp(store);
      const key = fresh('other-input');
      app.failNext();
      await errorOf(app.caller(key).checkout({ amount: 1 }));
      // No record was stored, so only the steps can tell: they must not hand amount 1's charge to amount 2.
      expect((await errorOf(app.caller(key).checkout({ amount: 2 }))).code).toBe('UNPROCESSABLE_CONTENT');
      expect(app.runs.charge).toBe(1);
      const done = await app.caller(key).checkout({ amount: 1 });
      expect(done.charge).toMatchObject({ id: 'ch_1', amount: 1n });
      expect(app.runs.charge).toBe(1);
    });

    it('fences step writes by the lock: a lost lease writes nothing, the first value for a name wins', async () => {
      const id = fresh('fence');
      const claim = await store.claim(id, 300);
      if (claim.status !== 'claimed') throw new Error('expected to claim');
      const mine = claim.lease;
      expect(await store.saveStep?.(mine, 'a', '"first"', 60)).toEqual({ status: 'saved' });
      expect(await store.saveStep?.(mine, 'a', '"second"', 60)).toEqual({ status: 'exists', value: '"first"' });
      // The lock expires and another holder takes it: the stale lease may no longer write.
      await new Promise((resolve) => setTimeout(resolve, 400));
      const next = await store.claim(id, 5_000);
      if (next.status !== 'claimed') throw new Error('expected the takeover to claim');
      expect(await store.saveStep?.(mine, 'b', '"stale"', 60)).toEqual({ status: 'lost' });
      expect(Object.fromEntries((await store.readSteps?.(next.lease)) ?? [])).toEqual({ a: '"first"' });
      // Once the record is stored, nobody adds steps to it.
      const record = { status: 'ok' as const, fingerprint: 'f', createdAt: Date.now(), body: '{"json":1}' };
      expect(await store.complete(next.lease, record, 60)).toBe(true);
      expect(await store.saveStep?.(next.lease, 'c', '"late"', 60)).toEqual({ status: 'lost' });
    });
  });
}

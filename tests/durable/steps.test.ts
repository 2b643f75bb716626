import { initTRPC } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import { createIdempotency, type IdempotencyStore, memoryStore } from '../../src';
import { clusterSetup, quorumSetup, singleNodeSetup } from '../helpers/store-setups';
import { describeStepContract } from './step-contract';

describeStepContract('memoryStore', async () => {
  const store = memoryStore();
  return { store, teardown: () => store.close() };
});

describeStepContract('redisStore (single node)', singleNodeSetup);

describeStepContract('redisStore (Redlock quorum of 3 masters)', quorumSetup);

describeStepContract('redisStore (Redis Cluster)', clusterSetup);

describe('a custom store without step methods', () => {
  it('fails a call that uses step with NOT_IMPLEMENTED and a message that says what to do', async () => {
    const { readSteps, saveStep, ...rest } = memoryStore();
    const store: IdempotencyStore = rest;
    const t = initTRPC.context<{ headers: Record<string, string> }>().create();
    const router = t.router({
      pay: t.procedure
        .use(createIdempotency({ anonymous: 'shared', store }).middleware)
        .mutation(({ ctx }) => ctx.idempotency.step('charge', () => 1)),
    });
    const caller = t.createCallerFactory(router)({ headers: { 'idempotency-key': 'k1' } });
    await expect(caller.pay()).rejects.toMatchObject({ code: 'NOT_IMPLEMENTED', message: /readSteps\/saveStep/ });
    // Without a key there is nothing to store: the step just runs.
    const keyless = t.createCallerFactory(router)({ headers: {} });
    expect(await keyless.pay()).toBe(1);
    expect(typeof readSteps === 'function' && typeof saveStep === 'function').toBe(true);
  });
});

describe('step names', () => {
  it('rejects an empty or over-long name, or one that is not a string, with PRECONDITION_FAILED', async () => {
    const t = initTRPC.context<{ headers: Record<string, string> }>().create();
    const procedure = t.procedure.use(createIdempotency({ anonymous: 'shared', store: memoryStore() }).middleware);
    const router = t.router({
      named: procedure
        .input((v) => v as unknown)
        .mutation(({ ctx, input }) => ctx.idempotency.step(input as string, () => 1)),
      keyed: procedure.input((v) => v as string).mutation(({ ctx, input }) => ctx.idempotency.stepKey(input)),
    });
    const withAndWithoutKey: Record<string, string>[] = [{ 'idempotency-key': `names-${Date.now()}` }, {}];
    for (const headers of withAndWithoutKey) {
      const caller = t.createCallerFactory(router)({ headers });
      for (const bad of ['', 'x'.repeat(101), 7]) {
        await expect(caller.named(bad)).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' });
      }
      await expect(caller.keyed('')).rejects.toMatchObject({
        code: 'PRECONDITION_FAILED',
        message: /1-100 characters/,
      });
    }
  });
});

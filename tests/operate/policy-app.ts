import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { z } from 'zod';
import { createIdempotency, type IdempotencyMeta, type IdempotencyOptions, type IdempotencyStore } from '../../src';
import type { TestContext } from '../helpers/app';

/** A promise the test opens when it is ready, to hold a resolver mid-call without timing. */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Procedures that differ only by their `meta.idempotency`; each resolver counts its runs. */
export function makePolicyApp(store: IdempotencyStore, options: Partial<IdempotencyOptions<TestContext>> = {}) {
  const runs = {
    pay: 0,
    invite: 0,
    free: 0,
    keyed: 0,
    failing: 0,
    held: 0,
    impatient: 0,
    stripe: 0,
    selected: 0,
    charge: 0,
  };
  let held = gate();
  let failCharge = false;
  const t = initTRPC.context<TestContext>().meta<IdempotencyMeta>().create({ transformer: superjson });
  const idempotency = createIdempotency<TestContext>({ ...options, store });
  const procedure = t.procedure.use(idempotency.middleware);
  const payment = z.object({ amount: z.number(), requestId: z.string().optional(), at: z.number().optional() });

  const router = t.router({
    pay: procedure
      .meta({ idempotency: { ttlSeconds: 7 * 86_400, required: true } })
      .input(payment)
      .mutation(({ input }) => ({ paid: input.amount, run: ++runs.pay })),
    invite: procedure
      .meta({ idempotency: { ttlSeconds: 3600 } })
      .input(z.object({ email: z.string() }))
      .mutation(() => ({ run: ++runs.invite })),
    free: procedure
      .meta({ idempotency: false })
      .input(z.object({ n: z.number() }))
      .mutation(() => ({ run: ++runs.free })),
    keyed: procedure.input(payment).mutation(() => ({ run: ++runs.keyed })),
    failing: procedure
      .meta({ idempotency: { cacheErrors: (error) => error.code === 'NOT_FOUND' } })
      .input(z.object({ sku: z.string() }))
      .mutation(() => {
        runs.failing += 1;
        throw new TRPCError({ code: 'NOT_FOUND', message: `no such sku (${runs.failing})` });
      }),
    held: procedure
      .meta({ idempotency: { lockTtlMs: 700 } })
      .input(z.object({ n: z.number() }))
      .mutation(async () => {
        runs.held += 1;
        await held.opened;
        return { run: runs.held };
      }),
    impatient: procedure
      .meta({ idempotency: { waitTimeoutMs: 50 } })
      .input(z.object({ n: z.number() }))
      .mutation(async () => {
        runs.impatient += 1;
        await held.opened;
        return { run: runs.impatient };
      }),
    stripe: procedure
      .meta({ idempotency: { concurrent: 'conflict' } })
      .input(z.object({ n: z.number() }))
      .mutation(async () => {
        runs.stripe += 1;
        await held.opened;
        return { run: runs.stripe };
      }),
    charge: procedure.input(z.object({ cents: z.number() })).mutation(async ({ ctx, input }) => {
      const charged = await ctx.idempotency.step('charge', () => ({
        at: new Date(0),
        cents: BigInt(input.cents),
        run: ++runs.charge,
      }));
      if (failCharge) {
        failCharge = false;
        throw new TRPCError({ code: 'BAD_REQUEST', message: 'card declined after the charge' });
      }
      return { charged: charged.run };
    }),
    selected: procedure
      .meta({ idempotency: { fingerprint: (input) => ({ amount: (input as { amount: number }).amount }) } })
      .input(payment)
      .mutation(({ input }) => ({ paid: input.amount, run: ++runs.selected })),
  });

  const createCaller = t.createCallerFactory(router);
  const caller = (key?: string, user = 'alice') =>
    createCaller({ headers: key === undefined ? {} : { 'idempotency-key': key }, user: { id: user } });

  return {
    t,
    router,
    runs,
    idempotency,
    caller,
    /** Lets the held resolvers finish; the next ones wait again. */
    release() {
      held.open();
      held = gate();
    },
    /** The next `charge` throws once its step has completed, leaving the step but no record. */
    failNextCharge() {
      failCharge = true;
    },
  };
}

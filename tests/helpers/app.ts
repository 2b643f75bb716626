import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { expect } from 'vitest';
import { z } from 'zod';
import { createIdempotency, type HeadersLike, type IdempotencyEvent, type IdempotencyOptions } from '../../src';

export interface TestContext {
  headers: HeadersLike;
  user?: { id: string } | null;
  resHeaders?: Headers;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The TRPCError a call fails with; fails the test if it succeeds or throws anything else. */
export async function trpcFailure(call: Promise<unknown>): Promise<TRPCError> {
  const outcome = await call.then(
    (value: unknown) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected the call to fail; it returned ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(TRPCError);
  return outcome.error as TRPCError;
}

/** Polls `check` every `everyMs` until it holds; fails after `timeoutMs`, naming `what`. */
export async function until(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A small order service whose resolvers count their own executions. */
export function makeApp(options: IdempotencyOptions<TestContext>) {
  const events: IdempotencyEvent[] = [];
  const runs = { createOrder: 0, slow: 0, fail: 0, big: 0, lookup: 0, other: 0 };
  const t = initTRPC.context<TestContext>().create({ transformer: superjson });
  const idempotency = createIdempotency<TestContext>({
    // These tests call as `null` meaning one scope shared by every anonymous caller (round 1's rule).
    anonymous: 'shared',
    ...options,
    onEvent: (event) => {
      events.push(event);
      options.onEvent?.(event);
    },
  });
  const procedure = t.procedure.use(idempotency.middleware);
  const order = z.object({ sku: z.string(), qty: z.number().default(1) });

  const router = t.router({
    createOrder: procedure.input(order).mutation(({ input, ctx }) => {
      runs.createOrder += 1;
      return {
        id: `order-${runs.createOrder}`,
        owner: ctx.user?.id ?? null,
        sku: input.sku,
        at: new Date(1_700_000_000_000 + runs.createOrder),
        tags: new Set(['new', input.sku]),
        lines: new Map([[input.sku, BigInt(input.qty) * 10n ** 18n]]),
        note: undefined,
      };
    }),
    slow: procedure.input(z.object({ ms: z.number() })).mutation(async ({ input }) => {
      runs.slow += 1;
      const n = runs.slow;
      await sleep(input.ms);
      return { n };
    }),
    fail: procedure.input(z.object({ sku: z.string(), ms: z.number().optional() })).mutation(async ({ input }) => {
      if (input.ms) await sleep(input.ms);
      runs.fail += 1;
      throw new TRPCError({ code: 'BAD_REQUEST', message: `out of stock (${runs.fail})` });
    }),
    big: procedure.input(z.object({ size: z.number() })).mutation(({ input }) => {
      runs.big += 1;
      return 'x'.repeat(input.size);
    }),
    lookup: procedure.input(z.object({ sku: z.string() })).query(() => {
      runs.lookup += 1;
      return runs.lookup;
    }),
    other: procedure.input(order).mutation(() => {
      runs.other += 1;
      return { other: runs.other };
    }),
  });

  const createCaller = t.createCallerFactory(router);
  /** A server-side caller that sends `key` (omit it for no header) as `user`. */
  const caller = (key?: string | string[], user: string | null = 'alice', signal?: AbortSignal) =>
    createCaller(
      {
        headers: key === undefined ? {} : { 'idempotency-key': key },
        user: user === null ? null : { id: user },
      },
      { signal },
    );

  return { t, router, caller, runs, events, idempotency };
}

export type TestApp = ReturnType<typeof makeApp>;

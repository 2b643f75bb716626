import { initTRPC, TRPCError } from '@trpc/server';
import type { Redis } from 'ioredis';
import superjson from 'superjson';
import { z } from 'zod';
import type { Idempotency } from '../../src';

/** What a child server's context carries: the raw headers, the caller and the response. */
export interface ChildContext {
  headers: Record<string, string | string[] | undefined>;
  user: { id: string } | null;
  res?: { setHeader(name: string, value: string): unknown; headersSent?: boolean };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Ledger keys: counts that survive any outage of the store, because they live on another Redis. */
export const ledgerKeys = {
  started: (tag: string) => `ledger:started:${tag}`,
  finished: (tag: string) => `ledger:finished:${tag}`,
  /** Runs of durable step `i` of a tag: it must stay at 1, whatever happens to the call around it. */
  step: (tag: string, i: number) => `ledger:step:${i}:${tag}`,
  total: 'ledger:total',
};

const execInput = z.object({
  /** Names the operation in the ledger (usually the idempotency key). */
  tag: z.string(),
  /** How long the first execution of this tag runs, in ms. */
  ms: z.number().int().nonnegative().default(0),
  /** How long any later execution (a takeover) runs; default `ms`. Simulates "the first attempt hung". */
  thenMs: z.number().int().nonnegative().optional(),
  /** Throw a BAD_REQUEST after running (an uncached error). */
  fail: z.boolean().optional(),
  /** Durable steps to run first (`ctx.idempotency.step`), each counted in the ledger. */
  steps: z.number().int().min(0).max(5).optional(),
  /** Throw a BAD_REQUEST after the steps on the first execution only: its retry resumes after them. */
  failFirst: z.boolean().optional(),
  payload: z.unknown().optional(),
});

/**
 * The router every child server serves. `exec` counts its executions with INCR on the ledger Redis
 * (started before its work, finished after it), so a test can tell how many times it really ran.
 */
export function makeChildRouter(idempotency: Idempotency<ChildContext>, ledger: Redis) {
  const t = initTRPC.context<ChildContext>().create({ transformer: superjson });
  const procedure = t.procedure.use(idempotency.middleware);
  return t.router({
    exec: procedure.input(execInput).mutation(async ({ input, ctx }) => {
      const n = await ledger.incr(ledgerKeys.started(input.tag));
      await ledger.incr(ledgerKeys.total);
      const steps: string[] = [];
      for (let i = 0; i < (input.steps ?? 0); i++) {
        steps.push(
          await ctx.idempotency.step(`s${i}`, async () => {
            await ledger.incr(ledgerKeys.step(input.tag, i));
            return `${input.tag} step ${i} in execution ${n}`;
          }),
        );
      }
      await sleep(n === 1 ? input.ms : (input.thenMs ?? input.ms));
      await ledger.incr(ledgerKeys.finished(input.tag));
      if (input.fail || (input.failFirst && n === 1))
        throw new TRPCError({ code: 'BAD_REQUEST', message: `failed on purpose (${input.tag} #${n})` });
      return {
        tag: input.tag,
        n,
        pid: process.pid,
        user: ctx.user?.id ?? null,
        nonce: Math.random().toString(36).slice(2),
        at: new Date(),
        big: 10n ** 20n + BigInt(n),
        payload: input.payload,
        steps,
      };
    }),
    /** Same shape on another path: a result must never cross procedures. */
    other: procedure.input(execInput).mutation(async ({ input, ctx }) => {
      const n = await ledger.incr(ledgerKeys.started(`other:${input.tag}`));
      return { tag: input.tag, n, pid: process.pid, user: ctx.user?.id ?? null, path: 'other' as const };
    }),
  });
}

export type ChildRouter = ReturnType<typeof makeChildRouter>;

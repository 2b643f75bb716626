import { initTRPC } from '@trpc/server';
import { z } from 'zod';
import type { BenchContext, BenchMiddleware } from './contenders';

/** Epoch milliseconds with sub-millisecond precision, comparable across processes on one machine. */
const clock = () => performance.timeOrigin + performance.now();

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One `slow` call as the outermost middleware saw it return. */
export interface Completion {
  key: string;
  /** `clock()` when the call returned through the contender's middleware. */
  at: number;
  /** This call ran the resolver (it was the holder), rather than waiting for another. */
  ran: boolean;
  ok: boolean;
}

/** What the `slow` calls of one process did, for the wake benchmark. */
export interface ResolverLog {
  executions: number;
  /** `clock()` when the last `slow` resolver for each key finished. */
  finishedAt: Record<string, number>;
  completions: Completion[];
}

export function benchContext(headers: BenchContext['headers']): BenchContext {
  return { headers, user: { id: 'bench' }, trace: { ran: false } };
}

/**
 * The same trivial mutation behind every contender's middleware, plus `slow` for the wake test.
 * `timed` sits outside the contender, so it sees each call return, replays included.
 */
export function makeBenchApp(middleware: BenchMiddleware | undefined, inFlight?: () => number | undefined) {
  const t = initTRPC.context<BenchContext>().create();
  const log: ResolverLog = { executions: 0, finishedAt: {}, completions: [] };
  const timed = t.middleware(async ({ ctx, next }) => {
    const result = await next();
    const at = clock();
    const key = ctx.headers['idempotency-key'];
    if (typeof key === 'string') log.completions.push({ key, at, ran: ctx.trace.ran, ok: result.ok });
    return result;
  });
  const procedure = middleware ? t.procedure.use(middleware) : t.procedure;
  const timedProcedure = middleware ? t.procedure.use(timed).use(middleware) : t.procedure.use(timed);
  let orders = 0;

  const router = t.router({
    create: procedure.input(z.object({ sku: z.string() })).mutation(({ input }) => {
      orders += 1;
      return { id: `order-${orders}`, sku: input.sku, ok: true };
    }),
    slow: timedProcedure.input(z.object({ ms: z.number() })).mutation(async ({ input, ctx }) => {
      log.executions += 1;
      await sleep(input.ms);
      log.finishedAt[String(ctx.headers['idempotency-key'])] = clock();
      // ctx is copied shallowly down the chain, so `timed` sees this through the shared trace object.
      ctx.trace.ran = true;
      return { n: log.executions };
    }),
    /** Outside any contender: lets the parent read and reset a child server's log. */
    log: t.procedure.query(() => log),
    /** Calls the contender still tracks (null for contenders that do not say), for the leak check. */
    inFlight: t.procedure.query(() => inFlight?.() ?? null),
    reset: t.procedure.mutation(() => {
      log.executions = 0;
      log.finishedAt = {};
      log.completions = [];
      return true;
    }),
  });

  const createCaller = t.createCallerFactory(router);
  const caller = (key?: string) => createCaller(benchContext(key === undefined ? {} : { 'idempotency-key': key }));
  return { router, caller, log };
}

import { initTRPC, TRPCError } from '@trpc/server';
import type pg from 'pg';
import superjson from 'superjson';
import { z } from 'zod';
import type { Idempotency } from '../../src';
import { pgAdapter } from '../../src/sql';

/** Where a durable child server stops, tells the parent, and waits to be killed or stopped. */
export type HoldPoint = 'after-step' | 'after-commit' | 'in-tx';

export interface DurableContext {
  headers: Record<string, string | string[] | undefined>;
}

/** The tables the durable router writes; each test database gets them once. */
export const DURABLE_TABLES = `
CREATE TABLE charges (id serial PRIMARY KEY, k text NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, k text NOT NULL, sku text NOT NULL, charge_id int NOT NULL, pid int NOT NULL);`;

export interface DurableHooks {
  /** Called at `holdAt` with the order's key; the process then waits (to be killed or stopped). */
  reached(point: HoldPoint, k: string): void;
  holdAt?: HoldPoint | undefined;
  /** How long the process waits at its hold point (then goes on, as a stalled process would). */
  holdMs: number;
  /** Throw after the charge step, once per process. */
  failAfterStep?: boolean | undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `createOrder` as the issue writes it: a `charge` step (a row in `charges`, standing in for a
 * payment provider), then the order row inside `ctx.idempotency.transaction`.
 */
export function makeDurableRouter(idempotency: Idempotency<DurableContext>, pool: pg.Pool, hooks: DurableHooks) {
  const t = initTRPC.context<DurableContext>().create({ transformer: superjson });
  const procedure = t.procedure.use(idempotency.middleware);
  const adapter = pgAdapter(pool);
  let failed = false;
  const hold = async (point: HoldPoint, k: string) => {
    if (hooks.holdAt !== point) return;
    hooks.reached(point, k);
    await sleep(hooks.holdMs);
  };
  return t.router({
    createOrder: procedure.input(z.object({ k: z.string(), sku: z.string() })).mutation(async ({ ctx, input }) => {
      const charge = await ctx.idempotency.step('charge', async () => {
        const { rows } = await pool.query<{ id: number }>('INSERT INTO charges (k) VALUES ($1) RETURNING id', [
          input.k,
        ]);
        return { id: rows[0]!.id, key: ctx.idempotency.stepKey('charge'), pid: process.pid };
      });
      await hold('after-step', input.k);
      if (hooks.failAfterStep && !failed) {
        failed = true;
        throw new TRPCError({ code: 'BAD_REQUEST', message: 'failed after the charge, on purpose' });
      }
      const order = await ctx.idempotency.transaction(adapter, async (client) => {
        const { rows } = await client.query<{ id: number }>(
          'INSERT INTO orders (k, sku, charge_id, pid) VALUES ($1, $2, $3, $4) RETURNING id',
          [input.k, input.sku, charge.id, process.pid],
        );
        await hold('in-tx', input.k);
        return { orderId: rows[0]!.id, pid: process.pid };
      });
      await hold('after-commit', input.k);
      return { orderId: order.orderId, orderPid: order.pid, charge, answeredBy: process.pid };
    }),
  });
}

export type DurableRouter = ReturnType<typeof makeDurableRouter>;

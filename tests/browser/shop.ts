import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { z } from 'zod';
import { createIdempotency, type IdempotencyStore, idempotencyErrorData } from '../../src';

/** What the shop's createContext puts in ctx: the headers, and where response headers go. */
export interface ShopContext {
  headers: IncomingHttpHeaders | Headers;
  res?: ServerResponse;
  resHeaders?: Headers;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A shop whose resolvers count their executions. `createOrder` takes `delayMs` to run (a call in
 * flight for a double click); `slowOrder` runs 1.5 s behind a middleware that lets a duplicate wait
 * only 200 ms, so a duplicate gets CONFLICT. With `errorData`, the errorFormatter copies
 * `idempotencyErrorData` into each error's data.
 */
export function makeShop(store: IdempotencyStore, { errorData = true } = {}) {
  const executions = { createOrder: 0, slowOrder: 0, reserveName: 0 };
  const events = { conflict: 0 };
  const timing = { delayMs: 300 };
  const t = initTRPC.context<ShopContext>().create({
    transformer: superjson,
    errorFormatter: ({ shape, error }) => ({
      ...shape,
      data: { ...shape.data, ...(errorData ? idempotencyErrorData(error) : {}) },
    }),
  });
  const onEvent = (event: { type: string }) => {
    if (event.type === 'conflict') events.conflict += 1;
  };
  const patient = createIdempotency<ShopContext>({ store, onEvent });
  const impatient = createIdempotency<ShopContext>({ store, onEvent, waitTimeoutMs: 200 });
  const order = z.object({ item: z.string() });
  const router = t.router({
    createOrder: t.procedure
      .use(patient.middleware)
      .input(order)
      .mutation(async ({ input }) => {
        executions.createOrder += 1;
        const orderId = `order-${executions.createOrder}`;
        await sleep(timing.delayMs);
        return { orderId, item: input.item };
      }),
    slowOrder: t.procedure
      .use(impatient.middleware)
      .input(order)
      .mutation(async ({ input }) => {
        executions.slowOrder += 1;
        const orderId = `slow-${executions.slowOrder}`;
        await sleep(1500);
        return { orderId, item: input.item };
      }),
    /** The app's own CONFLICT (a taken name): no hint, so never retried by the client. */
    reserveName: t.procedure
      .use(patient.middleware)
      .input(z.object({ name: z.string() }))
      .mutation(() => {
        executions.reserveName += 1;
        throw new TRPCError({ code: 'CONFLICT', message: 'This name is taken.' });
      }),
  });
  return { router, executions, events, timing };
}

export type Shop = ReturnType<typeof makeShop>;
export type ShopAppRouter = Shop['router'];

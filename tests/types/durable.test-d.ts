import { initTRPC } from '@trpc/server';
import { describe, expectTypeOf, it } from 'vitest';
import { createIdempotency, type IdempotencyScope, memoryStore } from '../../src';
import type { SqlAdapter } from '../../src/sql';

describe('ctx.idempotency types', () => {
  it('reaches the resolver with no cast, next to the rest of the context', () => {
    const t = initTRPC.context<{ headers: Headers; user: { id: string } }>().create();
    const procedure = t.procedure.use(createIdempotency({ store: memoryStore() }).middleware);
    procedure.mutation(async ({ ctx }) => {
      expectTypeOf(ctx.idempotency).toEqualTypeOf<IdempotencyScope>();
      expectTypeOf(ctx.idempotency.key).toEqualTypeOf<string | undefined>();
      expectTypeOf(ctx.user).toEqualTypeOf<{ id: string }>();
      const charge = await ctx.idempotency.step('charge', async () => ({ id: 'ch_1', at: new Date() }));
      expectTypeOf(charge).toEqualTypeOf<{ id: string; at: Date }>();
      expectTypeOf(ctx.idempotency.stepKey('charge')).toEqualTypeOf<string>();
    });
  });

  it('types the transaction client by the adapter, and the result by fn', () => {
    const t = initTRPC.context<{ headers: Headers }>().create();
    const procedure = t.procedure.use(createIdempotency({ store: memoryStore() }).middleware);
    type Client = { query(text: string): Promise<{ rows: { id: number }[] }> };
    const adapter = {} as SqlAdapter<Client>;
    procedure.mutation(async ({ ctx }) => {
      const order = await ctx.idempotency.transaction(adapter, async (client) => {
        expectTypeOf(client).toEqualTypeOf<Client>();
        return { orderId: 1 };
      });
      expectTypeOf(order).toEqualTypeOf<{ orderId: number }>();
      // @ts-expect-error: a step name is a string
      ctx.idempotency.step(1, () => 1);
    });
  });
});

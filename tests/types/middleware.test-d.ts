import type { IncomingHttpHeaders } from 'node:http';
import { initTRPC } from '@trpc/server';
import { describe, expectTypeOf, it } from 'vitest';
import { createIdempotency, type IdempotencyEvent, memoryStore, type UserId } from '../../src';

const store = memoryStore();

describe('middleware types', () => {
  it('fits any procedure whose ctx has fetch or Node headers', () => {
    const t1 = initTRPC.context<{ headers: Headers; user: { id: string } }>().create();
    t1.procedure.use(createIdempotency({ store }).middleware);
    const t2 = initTRPC.context<{ headers: IncomingHttpHeaders; resHeaders: Headers }>().create();
    t2.procedure.use(createIdempotency({ store }).middleware);
    const t3 = initTRPC.context<{ req: { headers: IncomingHttpHeaders } }>().create();
    t3.procedure.use(createIdempotency({ store }).middleware);
  });

  it('rejects a procedure whose ctx has no headers', () => {
    const t = initTRPC.context<{ user: { id: string } }>().create();
    // @ts-expect-error: the default key reader needs ctx.headers or ctx.req.headers
    t.procedure.use(createIdempotency({ store }).middleware);
  });

  it('keeps the context type through the middleware for later resolvers', () => {
    const t = initTRPC.context<{ headers: Headers; user: { id: string } | null }>().create();
    const procedure = t.procedure.use(createIdempotency({ store }).middleware);
    procedure.mutation(({ ctx }) => {
      expectTypeOf(ctx.user).toEqualTypeOf<{ id: string } | null>();
    });
  });

  it('types getKey and getUserId by an explicit context, for contexts without headers', () => {
    type Ctx = { session: { key?: string; userId: number } };
    const idempotency = createIdempotency<Ctx>({
      store,
      getKey: (ctx) => ctx.session.key,
      getUserId: (ctx) => ctx.session.userId,
    });
    initTRPC.context<Ctx>().create().procedure.use(idempotency.middleware);
    expectTypeOf<
      Parameters<NonNullable<Parameters<typeof createIdempotency<Ctx>>[0]['getUserId']>>[0]
    >().toEqualTypeOf<Ctx>();
  });

  it('requires getKey for a context the default reader cannot read', () => {
    type Ctx = { session: { key?: string; userId: number } };
    // @ts-expect-error: no ctx.headers or ctx.req.headers, so no key would ever be read without getKey
    createIdempotency<Ctx>({ store, getUserId: (ctx) => ctx.session.userId });
    // A context with headers may still bring its own reader.
    createIdempotency<{ headers: Headers }>({ store, getKey: (ctx) => ctx.headers.get('x-key') });
  });

  it('exposes typed events and user ids', () => {
    createIdempotency({
      store,
      onEvent: (event) => {
        expectTypeOf(event).toEqualTypeOf<IdempotencyEvent>();
        expectTypeOf(event.type).toEqualTypeOf<
          | 'hit'
          | 'miss'
          | 'wait'
          | 'conflict'
          | 'mismatch'
          | 'store-error'
          | 'lock-lost'
          | 'integrity-error'
          | 'not-replicated'
        >();
      },
    });
    expectTypeOf<UserId>().toEqualTypeOf<string | number | bigint | null | undefined>();
  });

  it('rejects options of the wrong type at compile time', () => {
    // @ts-expect-error: ttlSeconds is a number
    createIdempotency({ store, ttlSeconds: '1d' });
    // @ts-expect-error: store is required
    createIdempotency({});
  });
});

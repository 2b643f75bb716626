import { initTRPC } from '@trpc/server';
import { describe, expectTypeOf, it } from 'vitest';
import { createIdempotency, type IdempotencyMeta, type IdempotencyPolicy, memoryStore } from '../../src';

const store = memoryStore();
type Ctx = { headers: Headers };

describe('per-procedure policy types', () => {
  const t = initTRPC.context<Ctx>().meta<IdempotencyMeta>().create();
  const procedure = t.procedure.use(createIdempotency({ store }).middleware);

  it('accepts every override, and false to opt out', () => {
    procedure
      .meta({
        idempotency: {
          ttlSeconds: 3600,
          lockTtlMs: 5000,
          waitTimeoutMs: 1000,
          required: true,
          cacheErrors: (error) => error.code === 'NOT_FOUND',
          fingerprint: (input) => (input as { amount: number }).amount,
          concurrent: 'wait',
        },
      })
      .mutation(() => 'ok');
    procedure.meta({ idempotency: { concurrent: 'conflict' } }).mutation(() => 'ok');
    procedure.meta({ idempotency: false }).mutation(() => 'ok');
  });

  it('makes a typo a type error', () => {
    // @ts-expect-error: ttlSecond is not an option (ttlSeconds is)
    procedure.meta({ idempotency: { ttlSecond: 60 } });
    // @ts-expect-error: concurrent is 'wait' or 'conflict'
    procedure.meta({ idempotency: { concurrent: 'reject' } });
    // @ts-expect-error: true is not a policy; leave it out for the global one
    procedure.meta({ idempotency: true });
    // @ts-expect-error: ttlSeconds is a number
    procedure.meta({ idempotency: { ttlSeconds: '60' } });
  });

  it('combines with the rest of an app meta', () => {
    const t2 = initTRPC.context<Ctx>().meta<IdempotencyMeta & { openapi?: { path: string } }>().create();
    t2.procedure
      .use(createIdempotency({ store }).middleware)
      .meta({ openapi: { path: '/pay' }, idempotency: { ttlSeconds: 60 } })
      .mutation(() => 'ok');
    expectTypeOf<NonNullable<IdempotencyMeta['idempotency']>>().toEqualTypeOf<IdempotencyPolicy | false>();
  });

  it('types the global fingerprint and concurrent options', () => {
    createIdempotency<Ctx>({ store, fingerprint: (input) => input, concurrent: 'conflict' });
    // @ts-expect-error: concurrent is 'wait' or 'conflict'
    createIdempotency<Ctx>({ store, concurrent: 'queue' });
  });

  it('narrows an inspection by its state', async () => {
    const idempotency = createIdempotency<Ctx>({ store });
    const found = await idempotency.inspect({ userId: 'u', path: 'pay', key: 'k' });
    if (found.state === 'done') expectTypeOf(found.expiresAt).toEqualTypeOf<Date>();
    if (found.state === 'running') expectTypeOf(found.lockTtlMs).toEqualTypeOf<number>();
    // @ts-expect-error: only a running call has a lock TTL
    found.lockTtlMs;
  });
});

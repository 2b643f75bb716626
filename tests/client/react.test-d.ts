import type { MutationOptions, QueryClient } from '@tanstack/react-query';
import type { TRPCClientErrorLike } from '@trpc/client';
import type { TRPCOptionsProxy } from '@trpc/tanstack-react-query';
import { describe, expectTypeOf, it } from 'vitest';
import { createIdempotencyKeyHolder, type IdempotencyKeyHolder } from '../../src/client';
import {
  idempotentMutationOptions,
  type KeyedVariables,
  useIdempotencyKey,
  useIdempotentMutation,
} from '../../src/react';
import type { ShopAppRouter } from '../browser/shop';

declare const trpc: TRPCOptionsProxy<ShopAppRouter>;
declare const queryClient: QueryClient;
type Order = { orderId: string; item: string };

describe('trpc-idempotency/react types', () => {
  it('useIdempotencyKey is exactly { key: string; reset(): void } (a fixed public contract)', () => {
    expectTypeOf(useIdempotencyKey).parameters.toEqualTypeOf<[]>();
    expectTypeOf(useIdempotencyKey).returns.toEqualTypeOf<{ key: string; reset(): void }>();
  });

  it("useIdempotentMutation is typed as tRPC's own mutationOptions: input, output and error", () => {
    const order = useIdempotentMutation((key) =>
      trpc.createOrder.mutationOptions({ trpc: { context: { idempotencyKey: key } } }),
    );
    expectTypeOf(order.mutate).parameter(0).toEqualTypeOf<{ item: string }>();
    expectTypeOf(order.mutateAsync).returns.resolves.toEqualTypeOf<Order>();
    expectTypeOf(order.data).toEqualTypeOf<Order | undefined>();
    expectTypeOf(order.error).toEqualTypeOf<TRPCClientErrorLike<ShopAppRouter> | null>();
    expectTypeOf(order.idempotencyKey).toEqualTypeOf<string>();
    expectTypeOf(order.resetIdempotencyKey).toEqualTypeOf<() => void>();
    // @ts-expect-error: the input is checked
    order.mutate({ item: 1 });
  });

  it('callbacks made for a key see the input type, not the keyed variables', () => {
    useIdempotentMutation((key) =>
      trpc.createOrder.mutationOptions({
        trpc: { context: { idempotencyKey: key } },
        onSuccess: (data, input) => {
          expectTypeOf(data).toEqualTypeOf<Order>();
          expectTypeOf(input).toEqualTypeOf<{ item: string }>();
        },
      }),
    );
  });

  it('idempotentMutationOptions fits setMutationDefaults and stores keyed variables', () => {
    const defaults = idempotentMutationOptions((key) =>
      trpc.createOrder.mutationOptions({ trpc: { context: { idempotencyKey: key } } }),
    );
    expectTypeOf(defaults.mutationFn).toEqualTypeOf<
      MutationOptions<Order, TRPCClientErrorLike<ShopAppRouter>, KeyedVariables<{ item: string }>>['mutationFn']
    >();
    queryClient.setMutationDefaults(trpc.createOrder.mutationKey(), defaults);
  });

  it('the key holder is framework-neutral', () => {
    expectTypeOf(createIdempotencyKeyHolder()).toEqualTypeOf<IdempotencyKeyHolder>();
    expectTypeOf<IdempotencyKeyHolder['subscribe']>().parameter(0).toEqualTypeOf<(key: string) => void>();
  });
});

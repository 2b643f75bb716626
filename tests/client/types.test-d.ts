import {
  createTRPCClient,
  httpBatchLink,
  httpLink,
  type Operation,
  type OperationContext,
  splitLink,
} from '@trpc/client';
import superjson from 'superjson';
import { describe, expectTypeOf, it } from 'vitest';
import {
  hasIdempotencyKey,
  idempotencyBatchHeaders,
  idempotencyHeaders,
  idempotencyLink,
  idempotentReplayLink,
  isReplayed,
} from '../../src/client';
import type { HttpRouter } from '../helpers/http-app';

describe('client types', () => {
  it('types the key in the operation context (module augmentation of @trpc/client)', () => {
    expectTypeOf<OperationContext['idempotencyKey']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<Operation['context']['idempotencyKey']>().toEqualTypeOf<string | undefined>();
    // @ts-expect-error: a key is a string
    const bad: OperationContext = { idempotencyKey: 42 };
    void bad;
  });

  it('fits the links of a typed client, with the header helpers in httpLink and httpBatchLink', () => {
    createTRPCClient<HttpRouter>({
      links: [
        idempotentReplayLink({
          onReplay: ({ op }) => expectTypeOf(op.context.idempotencyKey).toEqualTypeOf<string | undefined>(),
        }),
        idempotencyLink({ condition: (op) => op.type === 'mutation', generateKey: () => crypto.randomUUID() }),
        splitLink({
          condition: hasIdempotencyKey,
          true: httpLink({
            url: '',
            transformer: superjson,
            headers: ({ op }) => ({ authorization: 'x', ...idempotencyHeaders(op) }),
          }),
          false: httpBatchLink({
            url: '',
            transformer: superjson,
            headers: ({ opList }) => idempotencyBatchHeaders(opList),
          }),
        }),
      ],
    });
  });

  it('reads the replay flag from a context or an error', () => {
    expectTypeOf(isReplayed).parameter(0).toEqualTypeOf<OperationContext | Error | null | undefined>();
    expectTypeOf(isReplayed).parameter(1).toEqualTypeOf<string | undefined>();
    expectTypeOf(isReplayed).returns.toEqualTypeOf<boolean>();
  });
});

import { createTRPCClient, httpBatchLink, httpLink, splitLink } from '@trpc/client';
import superjson from 'superjson';
import { hasIdempotencyKey, idempotencyHeaders, idempotencyLink } from 'trpc-idempotency/client';
import type { AppRouter } from './server';

// Keyed mutations each go in a request of their own; queries are still batched.
export const client = createTRPCClient<AppRouter>({
  links: [
    idempotencyLink(),
    splitLink({
      condition: hasIdempotencyKey,
      true: httpLink({
        url: 'http://localhost:3000',
        transformer: superjson,
        headers: ({ op }) => idempotencyHeaders(op),
      }),
      false: httpBatchLink({ url: 'http://localhost:3000', transformer: superjson }),
    }),
  ],
});

import { createTRPCClient, httpBatchLink, retryLink } from '@trpc/client';
import superjson from 'superjson';
import { idempotencyBatchHeaders, idempotencyLink } from 'trpc-idempotency/client';
import type { AppRouter } from './server';

export const client = createTRPCClient<AppRouter>({
  links: [
    // First: one key per call, minted before retryLink, so every retry sends the same key.
    idempotencyLink(),
    retryLink({
      // Retry when no response came back: the call may have run, and the key makes a retry safe.
      retry: ({ error, attempts }) => error.data === undefined && attempts < 3,
      retryDelayMs: (attempt) => 100 * 2 ** attempt,
    }),
    httpBatchLink({
      url: 'http://localhost:3000',
      transformer: superjson,
      // One key per batched call: `Idempotency-Key: "k1", "k2"`.
      headers: ({ opList }) => idempotencyBatchHeaders(opList),
    }),
  ],
});

// A fresh key for each call...
await client.createOrder.mutate({ sku: 'book' });

// ...or your own, e.g. minted when a checkout form opens, so that a double submit runs once.
const idempotencyKey = crypto.randomUUID();
await client.createOrder.mutate({ sku: 'book' }, { context: { idempotencyKey } });

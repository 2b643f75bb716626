import { createTRPCClient, httpLink } from '@trpc/client';
import superjson from 'superjson';
import { idempotencyHeaders, idempotencyLink } from 'trpc-idempotency/client';
import type { AppRouter } from './server';

const getToken = () => 'alice';

export const client = createTRPCClient<AppRouter>({
  links: [
    idempotencyLink(),
    httpLink({
      url: 'http://localhost:3000',
      transformer: superjson,
      // Spread it into your other headers; it is `{}` for calls without a key (queries).
      headers: ({ op }) => ({ authorization: `Bearer ${getToken()}`, ...idempotencyHeaders(op) }),
    }),
  ],
});

import { QueryClient } from '@tanstack/react-query';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import { createTRPCOptionsProxy } from '@trpc/tanstack-react-query';
import superjson from 'superjson';
import { idempotencyBatchHeaders, idempotencyLink } from '../../../src/client';
import type { ShopAppRouter } from '../shop';

/** The README's client wiring, plus the CONFLICT answer: ask again with the same key. */
export const client = createTRPCClient<ShopAppRouter>({
  links: [
    idempotencyLink({ retryConflict: true }),
    httpBatchLink({ url: '/trpc', transformer: superjson, headers: ({ opList }) => idempotencyBatchHeaders(opList) }),
  ],
});

export const queryClient = new QueryClient();
export const trpc = createTRPCOptionsProxy<ShopAppRouter>({ client, queryClient });

/** What each case shows: every order id a call ended with, in order. */
export type Order = { orderId: string; item: string };

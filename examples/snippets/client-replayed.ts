import { createTRPCClient, httpLink, type TRPCLink } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import superjson from 'superjson';
import { idempotencyHeaders, idempotencyLink, idempotentReplayLink, isReplayed } from 'trpc-idempotency/client';
import type { AppRouter } from './server';

// Your own link: httpLink leaves the fetch Response in each result's context.
const logReplays: TRPCLink<AppRouter> =
  () =>
  ({ op, next }) =>
    observable((observer) =>
      next(op).subscribe({
        next(envelope) {
          if (isReplayed(envelope.context, op.context.idempotencyKey))
            console.info(`${op.path}: answered from the store`);
          observer.next(envelope);
        },
        error: (error) => observer.error(error),
        complete: () => observer.complete(),
      }),
    );

export const client = createTRPCClient<AppRouter>({
  links: [
    // First: it gives each mutation the key that the links after it read.
    idempotencyLink(),
    // Or the ready-made one: called for replayed results and replayed (cached) errors.
    idempotentReplayLink({ onReplay: ({ op, outcome }) => console.info(`replayed ${op.path}: ${outcome}`) }),
    logReplays,
    httpLink({ url: 'http://localhost:3000', transformer: superjson, headers: ({ op }) => idempotencyHeaders(op) }),
  ],
});

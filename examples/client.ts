/**
 * A client for the order service: every mutation gets an idempotency key, and retries reuse it.
 * Run it against a running `examples/server.ts`: `npx tsx examples/client.ts [url]`.
 */
import { pathToFileURL } from 'node:url';
import { createTRPCClient, httpBatchLink, httpLink, retryLink, type TRPCLink } from '@trpc/client';
import superjson from 'superjson';
import {
  idempotencyBatchHeaders,
  idempotencyHeaders,
  idempotencyLink,
  idempotentReplayLink,
  type ReplayInfo,
} from '../src/client';
import type { AppRouter } from './server';

/** Options of {@link createOrderClient}. */
export interface OrderClientOptions {
  /** Sent as `authorization: Bearer <user>`; keys are scoped by user on the server. Default 'alice'. */
  user?: string;
  /** Batch calls made in the same tick into one request (httpBatchLink). Default true. */
  batch?: boolean;
  /** The fetch to use; the demo passes one that loses responses. Default: the global fetch. */
  fetch?: typeof fetch;
  /** Called for every call the server answered from its store. */
  onReplay?: (info: ReplayInfo) => void;
}

/** The typed client: idempotencyLink, then retryLink, then httpBatchLink (or httpLink). */
export function createOrderClient(url: string, options: OrderClientOptions = {}) {
  const { user = 'alice', batch = true, onReplay = () => {} } = options;
  const auth = { authorization: `Bearer ${user}` };
  const transport: TRPCLink<AppRouter> = batch
    ? httpBatchLink({
        url,
        transformer: superjson,
        fetch: options.fetch,
        headers: ({ opList }) => ({ ...auth, ...idempotencyBatchHeaders(opList) }),
      })
    : httpLink({
        url,
        transformer: superjson,
        fetch: options.fetch,
        headers: ({ op }) => ({ ...auth, ...idempotencyHeaders(op) }),
      });
  return createTRPCClient<AppRouter>({
    links: [
      // Before retryLink: the key is minted once per call, and every retry sends it again.
      idempotencyLink(),
      // After idempotencyLink, whose key it reads; before retryLink, so it sees the final attempt.
      idempotentReplayLink({ onReplay }),
      retryLink({
        // Retry only when no response came back (the request may or may not have run).
        retry: ({ error, attempts }) => error.data === undefined && attempts < 3,
        retryDelayMs: (attempt) => 50 * attempt,
      }),
      transport,
    ],
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const url = process.argv[2] ?? process.env.API_URL ?? 'http://127.0.0.1:3000';
  const client = createOrderClient(url, {
    onReplay: ({ op }) => console.log(`replayed ${op.path} (key ${op.context.idempotencyKey})`),
  });
  const idempotencyKey = crypto.randomUUID();
  const order = await client.createOrder.mutate({ sku: 'book', qty: 1 }, { context: { idempotencyKey } });
  const again = await client.createOrder.mutate({ sku: 'book', qty: 1 }, { context: { idempotencyKey } });
  console.log(order, again.id === order.id ? 'the retry got the same order' : 'the retry created another order!');
}

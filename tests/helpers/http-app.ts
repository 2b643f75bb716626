import type { ServerResponse } from 'node:http';
import { initTRPC, TRPCError } from '@trpc/server';
import type { FetchCreateContextFnOptions } from '@trpc/server/adapters/fetch';
import type { CreateHTTPContextOptions } from '@trpc/server/adapters/standalone';
import superjson from 'superjson';
import { z } from 'zod';
import { createIdempotency, type HeadersLike, type IdempotencyOptions, type IdempotencyStore } from '../../src';

/** What the HTTP tests' createContext puts in ctx: the headers, and where the replay header goes. */
export interface HttpContext {
  headers: HeadersLike;
  user: { id: string } | null;
  /** Node adapters (standalone, express). */
  res?: ServerResponse;
  /** Fetch adapter (and the Next.js App Router route handler). */
  resHeaders?: Headers;
}

/** A promise the test opens when it is ready, to hold a resolver mid-call without timing. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

const userOf = (header: string | string[] | null | undefined) => {
  const id = Array.isArray(header) ? header[0] : header;
  return id ? { id } : null;
};

/**
 * A cart service whose resolvers count their executions, with createContext for each adapter.
 * `gated` uses a second middleware that waits only 100 ms, to provoke CONFLICT.
 */
export function makeHttpApp(store: IdempotencyStore, options: Partial<IdempotencyOptions<HttpContext>> = {}) {
  const runs = { addItem: 0, gated: 0, fail: 0, lookup: 0, receipt: 0 };
  /** The raw Idempotency-Key of every HTTP request, as the server received it (null: none). */
  const keyHeaders: (string | null)[] = [];
  let held = gate();
  const t = initTRPC.context<HttpContext>().create({ transformer: superjson });
  // Calls without x-user share one anonymous scope, as these HTTP tests mean.
  const idempotency = createIdempotency<HttpContext>({ anonymous: 'shared', ...options, store });
  const impatient = createIdempotency<HttpContext>({ store, waitTimeoutMs: 100, anonymous: 'shared' });
  const procedure = t.procedure.use(idempotency.middleware);
  const item = z.object({ cartId: z.string(), sku: z.string() });

  const router = t.router({
    addItem: procedure.input(item).mutation(({ input, ctx }) => {
      runs.addItem += 1;
      return {
        line: runs.addItem,
        ...input,
        owner: ctx.user?.id ?? null,
        at: new Date(1_700_000_000_000 + runs.addItem),
      };
    }),
    gated: t.procedure
      .use(impatient.middleware)
      .input(z.object({ n: z.number() }))
      .mutation(async () => {
        runs.gated += 1;
        await held.opened;
        return { gated: runs.gated };
      }),
    fail: procedure.input(z.object({ sku: z.string() })).mutation(() => {
      runs.fail += 1;
      throw new TRPCError({ code: 'NOT_FOUND', message: `no such sku (${runs.fail})` });
    }),
    /** A result that streams: `paid` is a promise, which httpBatchStreamLink sends when it settles. */
    receipt: procedure.input(z.object({ n: z.number() })).mutation(() => {
      runs.receipt += 1;
      return { receipt: runs.receipt, paid: Promise.resolve('paid') };
    }),
    lookup: procedure.input(z.object({ sku: z.string() })).query(() => {
      runs.lookup += 1;
      return runs.lookup;
    }),
  });

  const record = (value: string | string[] | null | undefined) => {
    keyHeaders.push(Array.isArray(value) ? value.join(', ') : (value ?? null));
  };

  /** createContext of the standalone and express adapters. */
  const nodeContext = ({ req, res }: Pick<CreateHTTPContextOptions, 'req' | 'res'>): HttpContext => {
    record(req.headers['idempotency-key']);
    return { headers: req.headers, res, user: userOf(req.headers['x-user']) };
  };

  /** createContext of the fetch adapter. */
  const fetchContext = ({ req, resHeaders }: Pick<FetchCreateContextFnOptions, 'req' | 'resHeaders'>): HttpContext => {
    record(req.headers.get('idempotency-key'));
    return { headers: req.headers, resHeaders, user: userOf(req.headers.get('x-user')) };
  };

  return {
    router,
    runs,
    keyHeaders,
    nodeContext,
    fetchContext,
    /** Lets the `gated` resolver finish; the next call waits again. */
    release() {
      held.open();
      held = gate();
    },
  };
}

export type HttpApp = ReturnType<typeof makeHttpApp>;
export type HttpRouter = HttpApp['router'];

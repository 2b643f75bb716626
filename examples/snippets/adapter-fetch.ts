// app/api/trpc/[trpc]/route.ts (Next.js App Router), or any fetch runtime.
import { initTRPC } from '@trpc/server';
import { type FetchCreateContextFnOptions, fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { Redis } from 'ioredis';
import superjson from 'superjson';
import { createIdempotency, redisStore } from 'trpc-idempotency';
import { z } from 'zod';

const sessionUser = (token: string | null) => (token ? { id: token.replace(/^Bearer /, '') } : null);

// Fetch adapter: `req.headers` is a `Headers`; `resHeaders` takes the Idempotent-Replayed header.
const createContext = ({ req, resHeaders }: FetchCreateContextFnOptions) => ({
  headers: req.headers,
  resHeaders,
  user: sessionUser(req.headers.get('authorization')),
});

const t = initTRPC.context<typeof createContext>().create({ transformer: superjson });
// Serverless instances come and go: keep records in Redis, not in memory.
const idempotency = createIdempotency({
  store: redisStore({ redis: new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') }),
});

const appRouter = t.router({
  createOrder: t.procedure
    .use(idempotency.middleware)
    .input(z.object({ sku: z.string() }))
    .mutation(({ input }) => ({ id: crypto.randomUUID(), sku: input.sku })),
});

const handler = (req: Request) => fetchRequestHandler({ endpoint: '/api/trpc', req, router: appRouter, createContext });

export { handler as GET, handler as POST };

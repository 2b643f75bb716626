// Standalone adapter: createContext puts the headers (for the key) and `res` (for the
// Idempotent-Replayed header) into ctx.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { initTRPC } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import superjson from 'superjson';
import { createIdempotency, memoryStore } from 'trpc-idempotency';
import { z } from 'zod';

export function createContext({ req, res }: { req: IncomingMessage; res: ServerResponse }) {
  const token = req.headers.authorization?.replace(/^Bearer /, '');
  return { headers: req.headers, res, user: token ? { id: token } : null };
}

const t = initTRPC.context<typeof createContext>().create({ transformer: superjson });
// anonymous: 'shared' lets callers without a token share one scope (fine for this demo); in production
// scope them by session, `anonymous: (ctx) => ctx.sessionId`, or leave the default, which rejects them.
const idempotency = createIdempotency({ store: memoryStore(), anonymous: 'shared' }); // redisStore({ redis }) across processes

export const appRouter = t.router({
  createOrder: t.procedure
    .use(idempotency.middleware)
    .input(z.object({ sku: z.string() }))
    .mutation(({ input }) => ({ id: crypto.randomUUID(), sku: input.sku, at: new Date() })),
});
export type AppRouter = typeof appRouter;

createHTTPServer({ router: appRouter, createContext }).listen(3000);

import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryStore } from '../../src';
import { type HttpApp, type HttpRouter, makeHttpApp } from '../helpers/http-app';
import { adapters, type RunningServer } from '../helpers/http-servers';

// Bug: one plain key (or one quoted key) on a batch of several calls is used for every call, so
// two identical batched mutations run once and the second silently gets the first one's result.
// A static `headers: { 'Idempotency-Key': k }` on httpBatchLink does exactly this.
describe('a single key sent for a batch of several calls', () => {
  const store = memoryStore();
  let app: HttpApp;
  let server: RunningServer;
  beforeAll(async () => {
    app = makeHttpApp(store);
    server = await adapters.standalone(app);
  });
  afterAll(async () => {
    await server.close();
    await store.close();
  });

  it.each([
    ['plain', (k: string) => k],
    ['quoted', (k: string) => `"${k}"`],
  ])('is never merged silently into one execution (%s key)', async (_form, encode) => {
    const key = crypto.randomUUID();
    const trpc = createTRPCClient<HttpRouter>({
      links: [httpBatchLink({ url: server.url, transformer: superjson, headers: { 'Idempotency-Key': encode(key) } })],
    });
    const item = { cartId: 'shared', sku: 'a' };
    const runsBefore = app.runs.addItem;
    const outcomes = await Promise.allSettled([trpc.addItem.mutate(item), trpc.addItem.mutate(item)]);
    const rejectedAsBadRequest = outcomes.some(
      (o) => o.status === 'rejected' && o.reason instanceof TRPCClientError && o.reason.data?.code === 'BAD_REQUEST',
    );
    // Either both calls ran, or the server refused the ambiguous key: never two answers from one run.
    expect(app.runs.addItem - runsBefore === 2 || rejectedAsBadRequest).toBe(true);
  });
});

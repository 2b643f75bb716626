import { createTRPCClient, httpBatchLink, httpLink, TRPCClientError, type TRPCLink } from '@trpc/client';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryStore } from '../../src';
import {
  type ConflictRetryOptions,
  conflictRetryDelay,
  idempotencyBatchHeaders,
  idempotencyHeaders,
  idempotencyLink,
} from '../../src/client';
import { serveShop } from '../browser/serve';
import { makeShop, type ShopAppRouter } from '../browser/shop';

const store = memoryStore();
const shop = makeShop(store);
const bare = makeShop(store, { errorData: false });
let served: Awaited<ReturnType<typeof serveShop>>;
let servedBare: Awaited<ReturnType<typeof serveShop>>;

beforeAll(async () => {
  served = await serveShop(shop);
  servedBare = await serveShop(bare);
});
afterAll(async () => {
  await served.close();
  await servedBare.close();
  await store.close();
});

function client(origin: string, retryConflict?: boolean | ConflictRetryOptions) {
  const links: TRPCLink<ShopAppRouter>[] = [
    idempotencyLink({ retryConflict }),
    httpLink({ url: `${origin}/trpc`, transformer: superjson, headers: ({ op }) => idempotencyHeaders(op) }),
  ];
  return createTRPCClient<ShopAppRouter>({ links });
}

function batchClient(origin: string, retryConflict?: boolean | ConflictRetryOptions) {
  const links: TRPCLink<ShopAppRouter>[] = [
    idempotencyLink({ retryConflict }),
    httpBatchLink({
      url: `${origin}/trpc`,
      transformer: superjson,
      headers: ({ opList }) => idempotencyBatchHeaders(opList),
    }),
  ];
  return createTRPCClient<ShopAppRouter>({ links });
}

/** The error a call failed with (the test fails if it succeeded). */
async function failure(call: Promise<unknown>): Promise<TRPCClientError<ShopAppRouter>> {
  const outcome = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(outcome instanceof TRPCClientError)) throw new Error(`expected a TRPCClientError, got ${String(outcome)}`);
  return outcome;
}

const sent = (keys: (string | null)[], key: string) => keys.filter((k) => k === key).length;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A first call to slowOrder, and a duplicate sent while it runs. */
async function duplicateOfSlowOrder(first: ReturnType<typeof client>, second = first) {
  const idempotencyKey = crypto.randomUUID();
  const running = first.slowOrder.mutate({ item: 'lamp' }, { context: { idempotencyKey } });
  await pause(30);
  const duplicate = second.slowOrder.mutate({ item: 'lamp' }, { context: { idempotencyKey } });
  return {
    idempotencyKey,
    running,
    duplicate: duplicate.then(
      (r) => r,
      (e: unknown) => e,
    ),
  };
}

describe('the CONFLICT of a duplicate that outwaited the first call', () => {
  it('carries Retry-After and, through idempotencyErrorData, retryAfterMs in its data (standalone adapter)', async () => {
    const { running, duplicate } = await duplicateOfSlowOrder(client(served.origin));
    const error = (await duplicate) as TRPCClientError<ShopAppRouter>;
    expect(error).toBeInstanceOf(TRPCClientError);
    expect(error.data?.code).toBe('CONFLICT');
    expect(error.data?.retryAfterMs).toBe(1000);
    const response = (error.meta as { response: Response }).response;
    expect(response.status).toBe(409);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(error.message).toMatch(/Retry later with the same key \(in 1000 ms, says Retry-After\)/);
    await running;
  });

  it('sets Retry-After through resHeaders with the fetch adapter', async () => {
    const call = (key: string) =>
      fetchRequestHandler({
        endpoint: '/trpc',
        router: shop.router,
        req: new Request('http://shop.test/trpc/slowOrder', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify({ json: { item: 'lamp' } }),
        }),
        createContext: ({ req, resHeaders }) => ({ headers: req.headers, resHeaders }),
      });
    const key = crypto.randomUUID();
    const running = call(key);
    await pause(30);
    const conflict = await call(key);
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get('retry-after')).toBe('1');
    expect((await conflict.json()).error.json.data.retryAfterMs).toBe(1000);
    expect((await running).status).toBe(200);
  });

  it('is asked again with the same key by idempotencyLink({ retryConflict }): the caller ends with the result', async () => {
    const before = { runs: shop.executions.slowOrder, conflicts: shop.events.conflict };
    const { idempotencyKey, running, duplicate } = await duplicateOfSlowOrder(client(served.origin, true));
    const [first, second] = await Promise.all([running, duplicate]);
    expect(second).toEqual(first);
    expect(shop.executions.slowOrder - before.runs).toBe(1);
    expect(shop.events.conflict - before.conflicts).toBeGreaterThanOrEqual(1);
    expect(sent(served.keys, idempotencyKey)).toBeGreaterThanOrEqual(3);
  });

  it('is asked again on the Retry-After header alone, when the server has no errorFormatter hint', async () => {
    const runs = bare.executions.slowOrder;
    const { running, duplicate } = await duplicateOfSlowOrder(client(servedBare.origin, true));
    const [first, second] = await Promise.all([running, duplicate]);
    expect(second).toEqual(first);
    expect(bare.executions.slowOrder - runs).toBe(1);
  });

  it('is asked again at most maxRetries times, never waiting longer than maxDelayMs', async () => {
    const retrying = client(served.origin, { maxRetries: 1, maxDelayMs: 10 });
    const { idempotencyKey, running, duplicate } = await duplicateOfSlowOrder(client(served.origin), retrying);
    const error = (await duplicate) as TRPCClientError<ShopAppRouter>;
    expect(error.data?.code).toBe('CONFLICT');
    // the first call, the duplicate, and its one retry
    expect(sent(served.keys, idempotencyKey)).toBe(3);
    await running;
  });

  it('stops waiting when the caller aborts', async () => {
    const controller = new AbortController();
    const idempotencyKey = crypto.randomUUID();
    const plain = client(served.origin);
    const running = plain.slowOrder.mutate({ item: 'lamp' }, { context: { idempotencyKey } });
    await pause(30);
    const duplicate = client(served.origin, true)
      .slowOrder.mutate({ item: 'lamp' }, { context: { idempotencyKey }, signal: controller.signal })
      .catch((e: unknown) => e);
    await pause(400); // it got its CONFLICT (after 200 ms) and waits 1 s before asking again
    controller.abort();
    expect(await duplicate).toBeInstanceOf(Error);
    await running;
    await pause(900);
    expect(sent(served.keys, idempotencyKey)).toBe(2);
  });
});

describe('in a batch, which shares one Retry-After', () => {
  it("asks again only the calls the server named: never the app's own CONFLICT beside ours", async () => {
    const idempotencyKey = crypto.randomUUID();
    const running = client(servedBare.origin).slowOrder.mutate({ item: 'lamp' }, { context: { idempotencyKey } });
    await pause(30);
    const batched = batchClient(servedBare.origin, true);
    const names = bare.executions.reserveName;
    // One request: a duplicate of the running call, and a call whose resolver throws its own CONFLICT.
    const [duplicate, reserved] = await Promise.all([
      batched.slowOrder.mutate({ item: 'lamp' }, { context: { idempotencyKey } }),
      failure(batched.reserveName.mutate({ name: 'ada' })),
    ]);
    expect(duplicate).toEqual(await running);
    expect(reserved.data?.code).toBe('CONFLICT');
    expect(bare.executions.reserveName - names).toBe(1);
    const headers = (reserved.meta as { response: Response }).response.headers;
    expect(headers.get('retry-after')).toBe('1');
    expect(headers.get('idempotent-conflict')).toBe(`"${idempotencyKey}"`);
  });
});

describe('errors that are not that CONFLICT are never retried', () => {
  it('not 422 (the key reused with another input)', async () => {
    const idempotencyKey = crypto.randomUUID();
    const retrying = client(served.origin, true);
    await retrying.createOrder.mutate({ item: 'a' }, { context: { idempotencyKey } });
    const error = await failure(retrying.createOrder.mutate({ item: 'b' }, { context: { idempotencyKey } }));
    expect(error.data?.code).toBe('UNPROCESSABLE_CONTENT');
    expect(sent(served.keys, idempotencyKey)).toBe(2);
  });

  it('not 400 (an invalid key)', async () => {
    const idempotencyKey = 'x'.repeat(300);
    const error = await failure(
      client(served.origin, true).createOrder.mutate({ item: 'a' }, { context: { idempotencyKey } }),
    );
    expect(error.data?.code).toBe('BAD_REQUEST');
    expect(sent(served.keys, idempotencyKey)).toBe(1);
  });

  it("not the app's own CONFLICT, which carries no hint", async () => {
    const runs = shop.executions.reserveName;
    const error = await failure(client(served.origin, true).reserveName.mutate({ name: 'ada' }));
    expect(error.data?.code).toBe('CONFLICT');
    expect(shop.executions.reserveName - runs).toBe(1);
  });
});

describe('conflictRetryDelay', () => {
  const withHeader = (value: string | null, data: object = { code: 'CONFLICT' }, named?: string) => ({
    data,
    meta: {
      response: {
        headers: new Headers({
          ...(value !== null && { 'retry-after': value }),
          ...(named !== undefined && { 'idempotent-conflict': named }),
        }),
      },
    },
  });

  it('prefers the data hint, then Retry-After in seconds or as an HTTP date', () => {
    expect(conflictRetryDelay(withHeader('3', { code: 'CONFLICT', retryAfterMs: 250 }))).toBe(250);
    expect(conflictRetryDelay(withHeader('2'))).toBe(2000);
    const inAMinute = conflictRetryDelay(withHeader(new Date(Date.now() + 60_000).toUTCString()));
    expect(inAMinute).toBeGreaterThan(50_000);
    expect(inAMinute).toBeLessThanOrEqual(60_000);
    expect(conflictRetryDelay(withHeader('soon'), 700)).toBe(700);
  });

  it('is undefined for any other error, and for a CONFLICT without a hint', () => {
    expect(conflictRetryDelay(withHeader(null))).toBeUndefined();
    // A batch's shared Retry-After counts only for the calls the server named.
    const named = withHeader('2', { code: 'CONFLICT' }, '"k1", "k3"');
    expect(conflictRetryDelay(named, 1000, 'k3')).toBe(2000);
    expect(conflictRetryDelay(named, 1000, 'k2')).toBeUndefined();
    expect(conflictRetryDelay(named)).toBeUndefined();
    expect(conflictRetryDelay(withHeader('1', { code: 'UNPROCESSABLE_CONTENT' }))).toBeUndefined();
    expect(conflictRetryDelay(new TypeError('fetch failed'))).toBeUndefined();
    expect(conflictRetryDelay(undefined)).toBeUndefined();
  });
});

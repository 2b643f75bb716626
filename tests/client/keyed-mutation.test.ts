import {
  dehydrate,
  hydrate,
  MutationObserver,
  type MutationOptions,
  onlineManager,
  QueryClient,
} from '@tanstack/react-query';
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import { createTRPCOptionsProxy } from '@trpc/tanstack-react-query';
import superjson from 'superjson';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { memoryStore } from '../../src';
import { idempotencyHeaders, idempotencyLink } from '../../src/client';
import { idempotentMutationOptions, type KeyedVariables, retryTransientFailures } from '../../src/react';
import { keyedMutateOptions, keyedMutationOptions } from '../../src/react/keyed-mutation';
import { serveShop } from '../browser/serve';
import { makeShop, type ShopAppRouter } from '../browser/shop';

// React Query's own machinery (QueryClient, MutationObserver: what useMutation drives), in Node.
const store = memoryStore();
const shop = makeShop(store);
let served: Awaited<ReturnType<typeof serveShop>>;
let trpc: ReturnType<typeof createTRPCOptionsProxy<ShopAppRouter>>;
let trpcClient: ReturnType<typeof createTRPCClient<ShopAppRouter>>;
const clients: QueryClient[] = [];

beforeAll(async () => {
  shop.timing.delayMs = 0;
  served = await serveShop(shop);
  trpcClient = createTRPCClient<ShopAppRouter>({
    links: [
      idempotencyLink(),
      httpLink({ url: `${served.origin}/trpc`, transformer: superjson, headers: ({ op }) => idempotencyHeaders(op) }),
    ],
  });
  trpc = createTRPCOptionsProxy<ShopAppRouter>({ client: trpcClient, queryClient: newQueryClient() });
});
afterEach(() => {
  onlineManager.setOnline(true);
  for (const client of clients.splice(0)) client.clear();
});
afterAll(async () => {
  await served.close();
  await store.close();
});

function newQueryClient() {
  const client = new QueryClient();
  clients.push(client);
  return client;
}

/** The options of one action, as the snippet writes them: the key in tRPC's call context. */
const optionsFor = (idempotencyKey: string) =>
  trpc.createOrder.mutationOptions({ trpc: { context: { idempotencyKey } }, retry: 2, retryDelay: 50 });

async function until(check: () => boolean) {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(check()).toBe(true);
}

describe('a retry after the newest options brought a new key (React Query hands them to a pending mutation)', () => {
  it('sends the new key when the key is read from the options: the order runs twice (the hazard)', async () => {
    const runs = shop.executions.createOrder;
    const observer = new MutationObserver(newQueryClient(), optionsFor('k-first-plain'));
    served.loseResponses(1);
    const done = observer.mutate({ item: 'book' });
    await until(() => observer.getCurrentResult().failureCount === 1);
    observer.setOptions(optionsFor('k-second-plain')); // the re-render after a reset()
    await done;
    expect(served.keys.slice(-2)).toEqual(['k-first-plain', 'k-second-plain']);
    expect(shop.executions.createOrder - runs).toBe(2);
  });

  it('sends the key the call started with when the key is in the variables: the order runs once', async () => {
    const runs = shop.executions.createOrder;
    const observer = new MutationObserver(newQueryClient(), keyedMutationOptions(optionsFor, 'k-first'));
    served.loseResponses(1);
    const done = observer.mutate({ input: { item: 'book' }, idempotencyKey: 'k-first' });
    await until(() => observer.getCurrentResult().failureCount === 1);
    observer.setOptions(keyedMutationOptions(optionsFor, 'k-second'));
    const order = await done;
    expect(served.keys.slice(-2)).toEqual(['k-first', 'k-first']);
    expect(shop.executions.createOrder - runs).toBe(1);
    expect(order).toEqual({ orderId: `order-${runs + 1}`, item: 'book' });
  });
});

describe('keyedMutationOptions', () => {
  it("gives every callback the caller's input, and reports the key that succeeded", async () => {
    const seen: unknown[] = [];
    const succeeded: string[] = [];
    const withCallbacks = (key: string): MutationOptions<{ orderId: string }, Error, { item: string }, string> => ({
      mutationFn: async (input) => ({ orderId: `${key}:${input.item}` }),
      onMutate: (input) => {
        seen.push(['onMutate', input]);
        return 'rollback';
      },
      onSuccess: (data, input, onMutateResult) => void seen.push(['onSuccess', data.orderId, input, onMutateResult]),
      onSettled: (_data, _error, input) => void seen.push(['onSettled', input]),
    });
    const observer = new MutationObserver(
      newQueryClient(),
      keyedMutationOptions(withCallbacks, 'static', (key) => succeeded.push(key)),
    );
    const unsubscribe = observer.subscribe(() => {}); // mutate()'s callbacks go to a listened-to observer, as in useMutation
    await observer.mutate(
      { input: { item: 'pen' }, idempotencyKey: 'k1' },
      keyedMutateOptions({ onSuccess: (_data, input) => void seen.push(['mutate onSuccess', input]) }),
    );
    await until(() => seen.length === 4); // React Query calls mutate()'s callbacks in its next batch
    expect(seen).toEqual([
      ['onMutate', { item: 'pen' }],
      ['onSuccess', 'k1:pen', { item: 'pen' }, 'rollback'],
      ['onSettled', { item: 'pen' }],
      ['mutate onSuccess', { item: 'pen' }],
    ]);
    expect(succeeded).toEqual(['k1']);
    unsubscribe();
    expect(keyedMutateOptions(undefined)).toBeUndefined();
  });

  it("gives onError the caller's input, and fails clearly when the options have no mutationFn", async () => {
    const errors: unknown[] = [];
    const observer = new MutationObserver(
      newQueryClient(),
      keyedMutationOptions(() => ({ onError: (_e: Error, input: unknown) => void errors.push(input) }), ''),
    );
    await expect(observer.mutate({ input: 'x', idempotencyKey: 'k' })).rejects.toThrow(/No mutationFn found/);
    expect(errors).toEqual(['x']);
  });

  it('retries transient failures by default, and keeps a retry the options set', () => {
    expect(keyedMutationOptions(() => ({}), '').retry).toBe(retryTransientFailures);
    expect(keyedMutationOptions(() => ({ retry: 5 }), '').retry).toBe(5);
  });
});

describe('idempotentMutationOptions (setMutationDefaults) for a persisted paused mutation', () => {
  it('resumes, after a reload, with the key it started with: the server replays instead of running again', async () => {
    const runs = shop.executions.createOrder;
    const before = newQueryClient();
    before.setMutationDefaults(trpc.createOrder.mutationKey(), idempotentMutationOptions(optionsFor));
    const observer = new MutationObserver<unknown, Error, KeyedVariables<{ item: string }>>(before, {
      mutationKey: trpc.createOrder.mutationKey(),
      retryDelay: 100,
    });
    served.loseResponses(1); // it reaches the server, and the answer is lost
    void observer.mutate({ input: { item: 'map' }, idempotencyKey: 'k-offline' }).catch(() => {});
    await until(() => observer.getCurrentResult().failureCount === 1);
    onlineManager.setOnline(false);
    await until(() => observer.getCurrentResult().isPaused);
    // What persistQueryClient writes to storage, read back by the reloaded page.
    const saved = JSON.parse(JSON.stringify(dehydrate(before)));
    onlineManager.setOnline(true);

    const after = newQueryClient();
    after.setMutationDefaults(trpc.createOrder.mutationKey(), idempotentMutationOptions(optionsFor));
    hydrate(after, saved);
    await after.resumePausedMutations();
    const [resumed] = after.getMutationCache().getAll();
    expect(resumed?.state.status).toBe('success');
    expect(resumed?.state.data).toEqual({ orderId: `order-${runs + 1}`, item: 'map' });
    expect(served.keys.slice(-2)).toEqual(['k-offline', 'k-offline']);
    expect(shop.executions.createOrder - runs).toBe(1);
  });
});

describe('keyed options next to tRPC mutation defaults', () => {
  it("tRPC's mutationOptions calls the defaults' onSuccess again with the plain input: that call is skipped", async () => {
    const queryClient = newQueryClient();
    const local = createTRPCOptionsProxy<ShopAppRouter>({ client: trpcClient, queryClient });
    const localOptionsFor = (idempotencyKey: string) =>
      local.createOrder.mutationOptions({ trpc: { context: { idempotencyKey } } });
    queryClient.setMutationDefaults(local.createOrder.mutationKey(), idempotentMutationOptions(localOptionsFor));
    const observer = new MutationObserver(queryClient, keyedMutationOptions(localOptionsFor, 'k-defaults'));
    const order = await observer.mutate({ input: { item: 'cup' }, idempotencyKey: 'k-defaults' });
    expect(order.item).toBe('cup');
    expect(observer.getCurrentResult().status).toBe('success');
  });

  it('refuses plain variables with a message that says how to call it', async () => {
    const { mutationFn } = idempotentMutationOptions(optionsFor);
    // A plain useMutation({ mutationKey }) under keyed defaults would pass the input as it is.
    const plain = { item: 'cup' } as unknown as KeyedVariables<{ item: string }>;
    await expect(mutationFn?.(plain, {} as never)).rejects.toThrow(/call it through useIdempotentMutation/);
  });
});

describe('retryTransientFailures', () => {
  const clientError = (data?: object) => Object.assign(new TRPCClientError('x'), { data });

  it('retries a call that got no answer, or SERVICE_UNAVAILABLE, up to 3 times', () => {
    expect(retryTransientFailures(0, clientError())).toBe(true);
    expect(retryTransientFailures(2, clientError({ code: 'SERVICE_UNAVAILABLE' }))).toBe(true);
    expect(retryTransientFailures(3, clientError())).toBe(false);
  });

  it('never retries an answer (400, 422, a resolver error) or an error thrown before sending', () => {
    expect(retryTransientFailures(0, clientError({ code: 'BAD_REQUEST' }))).toBe(false);
    expect(retryTransientFailures(0, clientError({ code: 'UNPROCESSABLE_CONTENT' }))).toBe(false);
    expect(retryTransientFailures(0, clientError({ code: 'INTERNAL_SERVER_ERROR' }))).toBe(false);
    expect(retryTransientFailures(0, new TypeError('idempotencyKey must be a non-empty string'))).toBe(false);
    expect(retryTransientFailures(0, undefined)).toBe(false);
  });
});

import { createTRPCClient, httpLink, type OperationContext } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import {
  idempotencyHeaders,
  idempotencyLink,
  idempotentReplayLink,
  isReplayed,
  type ReplayInfo,
} from '../../src/client';
import type { HttpRouter } from '../helpers/http-app';
import { serveForSuite } from '../helpers/http-stores';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const served = serveForSuite('memoryStore');

function client(options: Parameters<typeof idempotencyLink>[0] = {}, replays: ReplayInfo[] = []) {
  return createTRPCClient<HttpRouter>({
    links: [
      idempotencyLink(options),
      idempotentReplayLink({ onReplay: (info) => replays.push(info) }),
      httpLink({ url: served.server.url, transformer: superjson, headers: ({ op }) => idempotencyHeaders(op) }),
    ],
  });
}

/** The key headers and executions one block of calls caused. */
async function observe(block: () => Promise<unknown>) {
  const [headersBefore, runsBefore] = [served.app.keyHeaders.length, served.app.runs.addItem];
  await block();
  return { keys: served.app.keyHeaders.slice(headersBefore), runs: served.app.runs.addItem - runsBefore };
}

describe('idempotencyLink', () => {
  it('gives two separate mutate() calls two fresh UUID keys, so both run', async () => {
    const trpc = client();
    const { keys, runs } = await observe(async () => {
      await trpc.addItem.mutate({ cartId: 'c1', sku: 'a' });
      await trpc.addItem.mutate({ cartId: 'c1', sku: 'a' });
    });
    expect(keys).toHaveLength(2);
    for (const key of keys) expect(key).toMatch(UUID);
    expect(keys[0]).not.toBe(keys[1]);
    expect(runs).toBe(2);
  });

  it('sends a caller-fixed key as given, and replays the second call', async () => {
    const replays: ReplayInfo[] = [];
    const trpc = client({}, replays);
    const idempotencyKey = `order-${crypto.randomUUID()}`;
    const { keys, runs } = await observe(async () => {
      const first = await trpc.addItem.mutate({ cartId: 'c2', sku: 'a' }, { context: { idempotencyKey } });
      const second = await trpc.addItem.mutate({ cartId: 'c2', sku: 'a' }, { context: { idempotencyKey } });
      expect(second).toEqual(first);
      expect(second.at).toBeInstanceOf(Date);
    });
    expect(keys).toEqual([idempotencyKey, idempotencyKey]);
    expect(runs).toBe(1);
    expect(replays.map((r) => [r.op.context.idempotencyKey, r.outcome])).toEqual([[idempotencyKey, 'result']]);
  });

  it('gives queries no key by default', async () => {
    const { keys } = await observe(() => client().lookup.query({ sku: 'a' }));
    expect(keys).toEqual([null]);
  });

  it('never writes the key into a context object the caller reuses across calls', async () => {
    const shared: OperationContext = {};
    const trpc = client();
    const { keys, runs } = await observe(async () => {
      await trpc.addItem.mutate({ cartId: 'c3', sku: 'a' }, { context: shared });
      await trpc.addItem.mutate({ cartId: 'c3', sku: 'a' }, { context: shared });
    });
    expect(shared).toEqual({});
    expect(new Set(keys).size).toBe(2);
    expect(runs).toBe(2);
  });

  it('takes a condition and a key generator', async () => {
    let n = 0;
    const prefix = crypto.randomUUID();
    const trpc = client({
      condition: (op) => op.path === 'lookup',
      generateKey: (op) => `${prefix}-${op.path}-${++n}`,
    });
    const { keys } = await observe(async () => {
      await trpc.lookup.query({ sku: 'a' });
      await trpc.addItem.mutate({ cartId: 'c4', sku: 'a' });
    });
    expect(keys).toEqual([`${prefix}-lookup-1`, null]);
  });

  it('fails the call, without sending it, when the generator returns an empty key', async () => {
    const trpc = client({ generateKey: () => '' });
    const { keys, runs } = await observe(() =>
      expect(trpc.addItem.mutate({ cartId: 'c5', sku: 'a' })).rejects.toThrow(/generateKey returned ""/),
    );
    expect(keys).toEqual([]);
    expect(runs).toBe(0);
  });
});

describe('isReplayed', () => {
  it('reads Idempotent-Replayed from the Response that httpLink leaves in the result context', async () => {
    const seen: boolean[] = [];
    const trpc = createTRPCClient<HttpRouter>({
      links: [
        () =>
          ({ op, next }) =>
            observable((observer) =>
              next(op).subscribe({
                next(envelope) {
                  seen.push(isReplayed(envelope.context));
                  observer.next(envelope);
                },
                error: (error) => observer.error(error),
                complete: () => observer.complete(),
              }),
            ),
        httpLink({ url: served.server.url, transformer: superjson, headers: ({ op }) => idempotencyHeaders(op) }),
      ],
    });
    const idempotencyKey = crypto.randomUUID();
    await trpc.addItem.mutate({ cartId: 'c6', sku: 'a' }, { context: { idempotencyKey } });
    await trpc.addItem.mutate({ cartId: 'c6', sku: 'a' }, { context: { idempotencyKey } });
    // One entry per HTTP request: a link that subscribed twice would send every call twice.
    expect(seen).toEqual([false, true]);
    expect(served.app.keyHeaders.slice(-2)).toEqual([idempotencyKey, idempotencyKey]);
  });

  it('is false without a response', () => {
    expect(isReplayed(undefined)).toBe(false);
    expect(isReplayed({})).toBe(false);
    expect(isReplayed(new Error('network'))).toBe(false);
  });

  it('reads the list of replayed keys a batch gets: true only for the keys it names', () => {
    const answered = (value: string) => ({
      response: new Response(null, { headers: { 'idempotent-replayed': value } }),
    });
    const batch = answered('"k1", "k\\"3"');
    // A call whose key is not given may not be one the list names: never true from a list.
    expect([isReplayed(batch, 'k1'), isReplayed(batch, 'k"3'), isReplayed(batch, 'k2'), isReplayed(batch)]).toEqual([
      true,
      true,
      false,
      false,
    ]);
    // `true` (one call, or a batch sent with one key) covers the response, whatever the key.
    expect([isReplayed(answered('true'), 'k9'), isReplayed(answered('TRUE'))]).toEqual([true, true]);
    // Neither form: not a replay we can vouch for.
    expect([isReplayed(answered('"k1'), 'k1'), isReplayed(answered('false')), isReplayed(answered(''))]).toEqual([
      false,
      false,
      false,
    ]);
  });
});

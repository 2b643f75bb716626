import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { REPLAY_HEADER } from '../../src';
import {
  idempotencyHeaders,
  idempotencyLink,
  idempotentReplayLink,
  isReplayed,
  type ReplayInfo,
} from '../../src/client';
import { until } from '../helpers/app';
import { type HttpRouter, makeHttpApp } from '../helpers/http-app';
import { adapters, routeHandler } from '../helpers/http-servers';
import { openStore, serveForSuite, storeKinds } from '../helpers/http-stores';

type AdapterName = keyof typeof adapters;
const matrix = (Object.keys(adapters) as AdapterName[]).flatMap((adapter) =>
  storeKinds.map((kind) => [adapter, kind] as const),
);

/** The HTTP status and tRPC code a failed call came back with. */
async function failure(call: Promise<unknown>): Promise<{ status: number | undefined; code: string | undefined }> {
  try {
    await call;
  } catch (error) {
    if (!(error instanceof TRPCClientError)) throw error;
    const response = error.meta?.response as Response | undefined;
    return { status: response?.status, code: (error.data as { code?: string } | undefined)?.code };
  }
  throw new Error('expected the call to fail');
}

describe.each(matrix)('%s adapter with %s', (adapter, kind) => {
  const served = serveForSuite(kind, adapters[adapter], { cacheErrors: (error) => error.code === 'NOT_FOUND' });

  function client(user = 'alice', replays: ReplayInfo[] = []) {
    return createTRPCClient<HttpRouter>({
      links: [
        idempotentReplayLink({ onReplay: (info) => replays.push(info) }),
        idempotencyLink(),
        httpLink({
          url: served.server.url,
          transformer: superjson,
          headers: ({ op }) => ({ 'x-user': user, ...idempotencyHeaders(op) }),
        }),
      ],
    });
  }

  it('reads the key and user from the request headers; a replay carries Idempotent-Replayed: true', async () => {
    const replays: ReplayInfo[] = [];
    const trpc = client('alice', replays);
    const idempotencyKey = crypto.randomUUID();
    const runsBefore = served.app.runs.addItem;
    const first = await trpc.addItem.mutate({ cartId: 'c', sku: 'a' }, { context: { idempotencyKey } });
    expect(replays).toEqual([]);
    const second = await trpc.addItem.mutate({ cartId: 'c', sku: 'a' }, { context: { idempotencyKey } });
    expect(second).toEqual(first);
    expect(first.owner).toBe('alice');
    expect(second.at).toBeInstanceOf(Date);
    expect(served.app.runs.addItem - runsBefore).toBe(1);
    expect(replays.map((r) => [r.op.context.idempotencyKey, r.outcome])).toEqual([[idempotencyKey, 'result']]);
  });

  it('sends the header on the wire, as a plain fetch sees it', async () => {
    const key = crypto.randomUUID();
    const post = () =>
      fetch(`${served.server.url}/addItem`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key, 'x-user': 'alice' },
        body: JSON.stringify({ json: { cartId: 'raw', sku: 'a' } }),
      });
    const first = await post();
    await first.text();
    const second = await post();
    await second.text();
    expect([first.status, first.headers.get(REPLAY_HEADER)]).toEqual([200, null]);
    expect([second.status, second.headers.get(REPLAY_HEADER)]).toEqual([200, 'true']);
  });

  it('names the replayed calls of a keyed batch by key, as a plain fetch sees it', async () => {
    const [k1, k2, k3] = [crypto.randomUUID(), crypto.randomUUID(), `quote"back\\slash-${crypto.randomUUID()}`];
    const input = { json: { cartId: 'raw-batch', sku: 'a' } };
    const post = (keys: string[]) =>
      fetch(`${served.server.url}/${keys.map(() => 'addItem').join(',')}?batch=1`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-user': 'alice',
          'idempotency-key': keys.map((k) => `"${k.replace(/[\\"]/g, '\\$&')}"`).join(', '),
        },
        body: JSON.stringify(Object.fromEntries(keys.map((_, i) => [i, input]))),
      });
    const runsBefore = served.app.runs.addItem;
    const first = await post([k1, k3]);
    await first.text();
    expect([first.status, first.headers.get(REPLAY_HEADER)]).toEqual([200, null]);
    // k1 and k3 are replays now, k2 is new: only they are named, in RFC 8941 form.
    const mixed = await post([k1, k2, k3]);
    await mixed.text();
    expect(mixed.status).toBe(200);
    const named = mixed.headers.get(REPLAY_HEADER) ?? '';
    expect(named.split(/,\s*/).sort()).toEqual([`"${k1}"`, `"${k3.replace(/[\\"]/g, '\\$&')}"`].sort());
    expect(served.app.runs.addItem - runsBefore).toBe(3);
  });

  it('scopes keys by the user createContext read', async () => {
    const idempotencyKey = crypto.randomUUID();
    const runsBefore = served.app.runs.addItem;
    const a = await client('alice').addItem.mutate({ cartId: 'c', sku: 'a' }, { context: { idempotencyKey } });
    const b = await client('bob').addItem.mutate({ cartId: 'c', sku: 'a' }, { context: { idempotencyKey } });
    expect([a.owner, b.owner]).toEqual(['alice', 'bob']);
    expect(served.app.runs.addItem - runsBefore).toBe(2);
  });

  it('makes concurrent duplicates wait for the first call: one run, one result', async () => {
    const replays: ReplayInfo[] = [];
    const trpc = client('alice', replays);
    const idempotencyKey = crypto.randomUUID();
    const runsBefore = served.app.runs.addItem;
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        trpc.addItem.mutate({ cartId: 'burst', sku: 'a' }, { context: { idempotencyKey } }),
      ),
    );
    expect(served.app.runs.addItem - runsBefore).toBe(1);
    for (const result of results) expect(result).toEqual(results[0]);
    expect(replays).toHaveLength(5);
  });

  it('answers a malformed key with HTTP 400 and does not run', async () => {
    const runsBefore = served.app.runs.addItem;
    const result = await failure(
      client().addItem.mutate({ cartId: 'c', sku: 'a' }, { context: { idempotencyKey: 'has space' } }),
    );
    expect(result).toEqual({ status: 400, code: 'BAD_REQUEST' });
    expect(served.app.runs.addItem).toBe(runsBefore);
  });

  it('answers a reused key with a different input with HTTP 422', async () => {
    const trpc = client();
    const idempotencyKey = crypto.randomUUID();
    await trpc.addItem.mutate({ cartId: 'c', sku: 'a' }, { context: { idempotencyKey } });
    const result = await failure(trpc.addItem.mutate({ cartId: 'c', sku: 'b' }, { context: { idempotencyKey } }));
    expect(result).toEqual({ status: 422, code: 'UNPROCESSABLE_CONTENT' });
  });

  it('answers a duplicate that outwaits waitTimeoutMs with HTTP 409, and replays once the first call is done', async () => {
    const trpc = client();
    const idempotencyKey = crypto.randomUUID();
    const runsBefore = served.app.runs.gated;
    const first = trpc.gated.mutate({ n: 1 }, { context: { idempotencyKey } });
    await until(async () => served.app.runs.gated === runsBefore + 1, 5_000, 'the gated call to start');
    expect(await failure(trpc.gated.mutate({ n: 1 }, { context: { idempotencyKey } }))).toEqual({
      status: 409,
      code: 'CONFLICT',
    });
    served.app.release();
    const result = await first;
    expect(await trpc.gated.mutate({ n: 1 }, { context: { idempotencyKey } })).toEqual(result);
    expect(served.app.runs.gated).toBe(runsBefore + 1);
  });

  it('replays a cached error with its status and the replay header', async () => {
    const replays: ReplayInfo[] = [];
    const trpc = client('alice', replays);
    const idempotencyKey = crypto.randomUUID();
    const runsBefore = served.app.runs.fail;
    expect(await failure(trpc.fail.mutate({ sku: 'x' }, { context: { idempotencyKey } }))).toEqual({
      status: 404,
      code: 'NOT_FOUND',
    });
    let replayedError: unknown;
    await trpc.fail.mutate({ sku: 'x' }, { context: { idempotencyKey } }).catch((e: unknown) => (replayedError = e));
    expect(replayedError).toBeInstanceOf(TRPCClientError);
    expect(isReplayed(replayedError as TRPCClientError<HttpRouter>)).toBe(true);
    expect((replayedError as Error).message).toBe(`no such sku (${runsBefore + 1})`);
    expect(replays.map((r) => r.outcome)).toEqual(['error']);
    expect(served.app.runs.fail).toBe(runsBefore + 1);
  });
});

describe('fetch adapter as a Next.js App Router route handler (Request in, Response out)', () => {
  it('extracts the key and exposes the replay header', async () => {
    const opened = await openStore('memoryStore');
    const app = makeHttpApp(opened.store);
    const handler = routeHandler(app);
    const replays: ReplayInfo[] = [];
    const trpc = createTRPCClient<HttpRouter>({
      links: [
        idempotentReplayLink({ onReplay: (info) => replays.push(info) }),
        idempotencyLink(),
        httpLink({
          url: 'http://localhost/api/trpc',
          transformer: superjson,
          // No network: every call is a Request handed to the route handler, as Next.js does.
          fetch: (url, init) => handler(new Request(url, init)),
          headers: ({ op }) => idempotencyHeaders(op),
        }),
      ],
    });
    const idempotencyKey = crypto.randomUUID();
    const first = await trpc.addItem.mutate({ cartId: 'next', sku: 'a' }, { context: { idempotencyKey } });
    const second = await trpc.addItem.mutate({ cartId: 'next', sku: 'a' }, { context: { idempotencyKey } });
    expect(second).toEqual(first);
    expect(app.runs.addItem).toBe(1);
    expect(app.keyHeaders).toEqual([idempotencyKey, idempotencyKey]);
    expect(replays).toHaveLength(1);
    await opened.close();
  });
});

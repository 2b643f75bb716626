import {
  createTRPCClient,
  httpBatchLink,
  httpBatchStreamLink,
  httpLink,
  splitLink,
  type TRPCClient,
  TRPCClientError,
  type TRPCLink,
} from '@trpc/client';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import {
  hasIdempotencyKey,
  idempotencyBatchHeaders,
  idempotencyHeaders,
  idempotencyLink,
  idempotentReplayLink,
  type ReplayInfo,
} from '../../src/client';
import type { HttpRouter } from '../helpers/http-app';
import { adapters } from '../helpers/http-servers';
import { type StoreKind, serveForSuite, storeKinds } from '../helpers/http-stores';

type Terminator = (url: string) => TRPCLink<HttpRouter>;
const batch: Terminator = (url) =>
  httpBatchLink({ url, transformer: superjson, headers: ({ opList }) => idempotencyBatchHeaders(opList) });
const stream: Terminator = (url) =>
  httpBatchStreamLink({ url, transformer: superjson, headers: ({ opList }) => idempotencyBatchHeaders(opList) });

const item = { cartId: 'cart-1', sku: 'apple' };

/** Two identical addItem calls in one batch, each under its own key. */
const addTwo = (trpc: TRPCClient<HttpRouter>, k1: string, k2: string) =>
  Promise.all([
    trpc.addItem.mutate(item, { context: { idempotencyKey: k1 } }),
    trpc.addItem.mutate(item, { context: { idempotencyKey: k2 } }),
  ]);

describe.each(storeKinds)('batched calls on %s', (kind: StoreKind) => {
  const served = serveForSuite(kind);

  function client(terminator: Terminator, replays: ReplayInfo[] = [], replayLinkFirst = false) {
    const report = idempotentReplayLink<HttpRouter>({ onReplay: (r) => replays.push(r) });
    return createTRPCClient<HttpRouter>({
      links: replayLinkFirst
        ? [report, idempotencyLink(), terminator(served.server.url)]
        : [idempotencyLink(), report, terminator(served.server.url)],
    });
  }

  it('runs two identical batched addItem calls twice, each under its own key; a retried batch replays both', async () => {
    const trpc = client(batch);
    const [k1, k2] = [crypto.randomUUID(), crypto.randomUUID()];
    const send = () => addTwo(trpc, k1, k2);
    const runsBefore = served.app.runs.addItem;
    const headersBefore = served.app.keyHeaders.length;
    const first = await send();
    expect(served.app.runs.addItem - runsBefore).toBe(2);
    expect(first[0].line).not.toBe(first[1].line);
    // One HTTP request carried both keys.
    expect(served.app.keyHeaders.slice(headersBefore)).toEqual([`"${k1}", "${k2}"`]);

    const retried = await send();
    expect(served.app.runs.addItem - runsBefore).toBe(2);
    expect(retried).toEqual(first);
  });

  it('reports exactly the replayed calls of a batch, not every call that shared its response', async () => {
    const replays: ReplayInfo[] = [];
    const trpc = client(batch, replays);
    const [k1, k2] = [crypto.randomUUID(), crypto.randomUUID()];
    await trpc.addItem.mutate(item, { context: { idempotencyKey: k1 } });
    expect(replays).toEqual([]);
    const runsBefore = served.app.runs.addItem;
    await addTwo(trpc, k1, k2); // one HTTP request: k1 is replayed, k2 runs
    expect(served.app.runs.addItem - runsBefore).toBe(1);
    expect(replays.map((r) => r.op.context.idempotencyKey)).toEqual([k1]);
    await addTwo(trpc, k1, k2); // both replayed
    expect(replays.map((r) => r.op.context.idempotencyKey).sort()).toEqual([k1, k1, k2].sort());
  });

  it('placed before idempotencyLink, never reports a batched call with a generated key that ran', async () => {
    const replays: ReplayInfo[] = [];
    const trpc = client(batch, replays, true);
    const k1 = crypto.randomUUID();
    await trpc.addItem.mutate(item, { context: { idempotencyKey: k1 } });
    const runsBefore = served.app.runs.addItem;
    // One HTTP request: k1 is replayed; the other call gets a key downstream of the replay link, and runs.
    await Promise.all([trpc.addItem.mutate(item, { context: { idempotencyKey: k1 } }), trpc.addItem.mutate(item)]);
    expect(served.app.runs.addItem - runsBefore).toBe(1);
    expect(replays.map((r) => r.op.context.idempotencyKey)).toEqual([k1]);
  });

  it('gives generated keys to batched calls, so identical calls still both run', async () => {
    const trpc = client(batch);
    const runsBefore = served.app.runs.addItem;
    const [a, b] = await Promise.all([trpc.addItem.mutate(item), trpc.addItem.mutate(item)]);
    expect(served.app.runs.addItem - runsBefore).toBe(2);
    expect(a.line).not.toBe(b.line);
  });

  it('runs a call without a key in a keyed batch every time, and replays the keyed ones', async () => {
    const trpc = createTRPCClient<HttpRouter>({
      links: [
        idempotencyLink({ condition: (op) => op.type === 'mutation' && !op.context.noKey }),
        batch(served.server.url),
      ],
    });
    const [k1, k3] = [crypto.randomUUID(), crypto.randomUUID()];
    const send = () =>
      Promise.all([
        trpc.addItem.mutate(item, { context: { idempotencyKey: k1 } }),
        trpc.addItem.mutate(item, { context: { noKey: true } }),
        trpc.addItem.mutate(item, { context: { idempotencyKey: k3 } }),
      ]);
    const runsBefore = served.app.runs.addItem;
    const headersBefore = served.app.keyHeaders.length;
    const first = await send();
    const second = await send();
    expect(served.app.keyHeaders.slice(headersBefore)).toEqual([`"${k1}", "", "${k3}"`, `"${k1}", "", "${k3}"`]);
    expect(served.app.runs.addItem - runsBefore).toBe(4);
    expect([second[0], second[2]]).toEqual([first[0], first[2]]);
    expect(second[1].line).not.toBe(first[1].line);
  });

  it('sends the plain key for a batch of one', async () => {
    const trpc = client(batch);
    const idempotencyKey = crypto.randomUUID();
    const headersBefore = served.app.keyHeaders.length;
    await trpc.addItem.mutate(item, { context: { idempotencyKey } });
    expect(served.app.keyHeaders.slice(headersBefore)).toEqual([idempotencyKey]);
  });

  it('routes keyed mutations to a non-batching httpLink with splitLink', async () => {
    const trpc = createTRPCClient<HttpRouter>({
      links: [
        idempotencyLink(),
        splitLink({
          condition: hasIdempotencyKey,
          true: httpLink({
            url: served.server.url,
            transformer: superjson,
            headers: ({ op }) => idempotencyHeaders(op),
          }),
          false: httpBatchLink({ url: served.server.url, transformer: superjson }),
        }),
      ],
    });
    const headersBefore = served.app.keyHeaders.length;
    const runsBefore = served.app.runs.addItem;
    await Promise.all([trpc.addItem.mutate(item), trpc.addItem.mutate(item), trpc.lookup.query({ sku: 'a' })]);
    const sent = served.app.keyHeaders.slice(headersBefore);
    // Two keyed requests of one key each, and the query in a batch of its own without one.
    expect(sent.filter((k) => k !== null)).toHaveLength(2);
    expect(sent.filter((k) => k === null)).toHaveLength(1);
    for (const key of sent) expect(key ?? '').not.toContain(',');
    expect(served.app.runs.addItem - runsBefore).toBe(2);
  });
});

describe.each(Object.keys(adapters) as (keyof typeof adapters)[])('httpBatchStreamLink over %s', (adapter) => {
  const served = serveForSuite('memoryStore', adapters[adapter]);

  it('replays a streamed batch as successes, though the replay header cannot follow the early headers', async () => {
    const trpc = createTRPCClient<HttpRouter>({ links: [idempotencyLink(), stream(served.server.url)] });
    const [k1, k2] = [crypto.randomUUID(), crypto.randomUUID()];
    const send = () => addTwo(trpc, k1, k2);
    const runsBefore = served.app.runs.addItem;
    const first = await send();
    const replayed = await send();
    expect(replayed).toEqual(first);
    expect(replayed[0].at).toBeInstanceOf(Date);
    expect(served.app.runs.addItem - runsBefore).toBe(2);
  });

  it('runs a mutation whose result streams once, and answers its replay with PRECONDITION_FAILED, not {}', async () => {
    const trpc = createTRPCClient<HttpRouter>({ links: [idempotencyLink(), stream(served.server.url)] });
    const key = crypto.randomUUID();
    const send = () => trpc.receipt.mutate({ n: 1 }, { context: { idempotencyKey: key } });
    const runsBefore = served.app.runs.receipt;
    const first = await send();
    expect(await first.paid).toBe('paid');
    const replay = await send().catch((e: unknown) => e);
    expect(replay).toBeInstanceOf(TRPCClientError);
    expect((replay as TRPCClientError<HttpRouter>).data?.code).toBe('PRECONDITION_FAILED');
    expect((replay as TRPCClientError<HttpRouter>).message).toMatch(/streams/);
    expect(served.app.runs.receipt - runsBefore).toBe(1);
  });
});

import { createTRPCClient, httpLink } from '@trpc/client';
import { initTRPC } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { SuperJSON } from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createIdempotency, type IdempotencyStore } from '../../src';
import { idempotencyHeaders } from '../../src/client';
import { recordFor, replay } from '../../src/record';
import type { RunningServer } from '../helpers/http-servers';
import { openStore, storeKinds } from '../helpers/http-stores';

/** A type of the app's own, which only a superjson it was registered on can bring back. */
class Money {
  constructor(
    readonly cents: bigint,
    readonly currency: string,
  ) {}
}

function appSuperJSON(): SuperJSON {
  const sj = new SuperJSON();
  sj.registerCustom<Money, string>(
    {
      isApplicable: (v): v is Money => v instanceof Money,
      serialize: (m) => `${m.cents} ${m.currency}`,
      deserialize: (text) => {
        const [cents = '0', currency = ''] = text.split(' ');
        return new Money(BigInt(cents), currency);
      },
    },
    'money',
  );
  return sj;
}

/** A tRPC server whose transformer is `sj`; the middleware gets `sj` only when `pass` is set. */
async function serve(store: IdempotencyStore, sj: SuperJSON, pass: boolean) {
  const runs = { charge: 0 };
  const t = initTRPC.context<{ headers: Record<string, string | string[] | undefined> }>().create({ transformer: sj });
  const idempotency = createIdempotency({ store, anonymous: 'shared', ...(pass ? { superjson: sj } : {}) });
  const router = t.router({
    charge: t.procedure
      .use(idempotency.middleware)
      .input(z.object({ cents: z.number() }))
      .mutation(({ input }) => {
        runs.charge += 1;
        return { receipt: runs.charge, amount: new Money(BigInt(input.cents), 'EUR') };
      }),
  });
  const server = createHTTPServer({ router, createContext: ({ req }) => ({ headers: req.headers }) });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const running: RunningServer = {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
  const client = createTRPCClient<typeof router>({
    links: [httpLink({ url: running.url, transformer: sj, headers: ({ op }) => idempotencyHeaders(op) })],
  });
  return { runs, client, running };
}

describe.each(storeKinds)('a custom superjson type over HTTP, with %s', (kind) => {
  let opened: Awaited<ReturnType<typeof openStore>>;
  beforeAll(async () => {
    opened = await openStore(kind);
  });
  afterAll(async () => {
    await opened.close();
  });

  it('replays as the same type when the middleware gets the app’s superjson', async () => {
    const { runs, client, running } = await serve(opened.store, appSuperJSON(), true);
    try {
      const first = await client.charge.mutate({ cents: 1250 }, { context: { idempotencyKey: `${kind}-pay-1` } });
      const replayed = await client.charge.mutate({ cents: 1250 }, { context: { idempotencyKey: `${kind}-pay-1` } });
      expect(runs.charge).toBe(1);
      expect(first.amount).toBeInstanceOf(Money);
      expect(replayed.amount).toBeInstanceOf(Money);
      expect(replayed).toEqual(first);
      expect(replayed.amount.cents).toBe(1250n);
    } finally {
      await running.close();
    }
  });

  it('without it, the default superjson cannot store the type: replays get PRECONDITION_FAILED', async () => {
    const { runs, client, running } = await serve(opened.store, appSuperJSON(), false);
    try {
      const first = await client.charge.mutate({ cents: 99 }, { context: { idempotencyKey: `${kind}-pay-2` } });
      expect(first.amount).toBeInstanceOf(Money);
      const replay = client.charge.mutate({ cents: 99 }, { context: { idempotencyKey: `${kind}-pay-2` } });
      await expect(replay).rejects.toMatchObject({ data: { code: 'PRECONDITION_FAILED' } });
      expect(runs.charge).toBe(1); // it still never runs twice
    } finally {
      await running.close();
    }
  });
});

describe('the plain-JSON fast path with a given superjson', () => {
  it('is off when that superjson has a custom transformer that may claim plain values', () => {
    const sj = new SuperJSON();
    sj.registerCustom<string, string>(
      {
        isApplicable: (v): v is string => typeof v === 'string' && v.startsWith('secret:'),
        serialize: (v) => v.slice('secret:'.length),
        deserialize: (v) => `secret:${v}`,
      },
      'secret',
    );
    const value = { note: 'secret:abc' };
    const record = recordFor(
      { ok: true, data: value },
      { fingerprint: 'f', maxResultBytes: 1e6, cacheErrors: () => false, superjson: sj },
    );
    expect(record?.body).toBe(sj.stringify(value));
    expect(record?.body).toContain('"meta"'); // written by the transformer, not as plain JSON
  });
});

describe('a stored result the given superjson cannot parse', () => {
  it('is PRECONDITION_FAILED with the reason, not a crash', () => {
    const record = recordFor(
      { ok: true, data: { amount: new Money(5n, 'EUR') } },
      { fingerprint: 'f', maxResultBytes: 1e6, cacheErrors: () => false, superjson: appSuperJSON() },
    );
    // Deployed since with a deserializer that throws on the stored form.
    const strict = new SuperJSON();
    strict.registerCustom<Money, string>(
      {
        isApplicable: (v): v is Money => v instanceof Money,
        serialize: (m) => `${m.cents}`,
        deserialize: () => {
          throw new Error('unknown money format');
        },
      },
      'money',
    );
    const outcome = replay(record!, 'charge', strict);
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.error.code).toBe('PRECONDITION_FAILED');
    expect(!outcome.ok && outcome.error.message).toMatch(
      /cannot be replayed \(superjson could not parse the stored result: Error: unknown money format\)/,
    );
  });
});

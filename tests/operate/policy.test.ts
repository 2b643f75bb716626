import { initTRPC } from '@trpc/server';
import { Redis } from 'ioredis';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createIdempotency,
  IdempotencyConfigError,
  type IdempotencyMeta,
  type IdempotencyStore,
  memoryStore,
  redisStore,
} from '../../src';
import { type TestContext, trpcFailure, until } from '../helpers/app';
import { type RedisServer, startRedis } from '../helpers/redis-server';
import { makePolicyApp } from './policy-app';

let seq = 0;
const fresh = (label: string) => `${label}-${Date.now()}-${++seq}`;

const DAY = 86_400_000;

describe.each(['memoryStore', 'redisStore'] as const)('per-procedure policy on %s', (kind) => {
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  let store: IdempotencyStore;
  beforeAll(async () => {
    if (kind === 'memoryStore') {
      store = memoryStore();
      return;
    }
    server = await startRedis();
    redis = new Redis(server.url);
    store = redisStore({ redis });
  });
  afterAll(async () => {
    await store.close();
    redis?.disconnect();
    await server?.stop();
  });

  it('keeps each procedure for its own ttlSeconds, and the rest for the global one', async () => {
    const app = makePolicyApp(store);
    const key = fresh('ttl');
    await app.caller(key).pay({ amount: 10 });
    await app.caller(key).invite({ email: 'a@b' });
    await app.caller(key).keyed({ amount: 1 });
    const life = async (path: string) => {
      const found = await app.idempotency.inspect({ userId: 'alice', path, key });
      if (found.state !== 'done') throw new Error(`${path} is ${found.state}`);
      return found.expiresAt.getTime() - found.storedAt.getTime();
    };
    expect(await life('pay')).toBeGreaterThan(6 * DAY);
    expect(await life('invite')).toBeLessThanOrEqual(3600_000 + 1000);
    expect(await life('invite')).toBeGreaterThan(3000_000);
    expect(await life('keyed')).toBeGreaterThan(DAY - 60_000);
    expect(await life('keyed')).toBeLessThanOrEqual(DAY + 1000);
  });

  it('requires a key where the meta says so, and only there', async () => {
    const app = makePolicyApp(store);
    const error = await trpcFailure(app.caller().pay({ amount: 10 }));
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toMatch(/requires an idempotency-key header/);
    expect(app.runs.pay).toBe(0);
    await app.caller().keyed({ amount: 1 });
    expect(app.runs.keyed).toBe(1);
  });

  it('passes an opted-out procedure through: the same key runs it every time, and nothing is stored', async () => {
    const app = makePolicyApp(store);
    const key = fresh('free');
    await app.caller(key).free({ n: 1 });
    await app.caller(key).free({ n: 2 });
    expect(app.runs.free).toBe(2);
    expect(await app.idempotency.inspect({ userId: 'alice', path: 'free', key })).toEqual({ state: 'none' });
  });

  it('stores the errors that the procedure’s cacheErrors keeps', async () => {
    const app = makePolicyApp(store);
    const key = fresh('err');
    const first = await trpcFailure(app.caller(key).failing({ sku: 'x' }));
    const second = await trpcFailure(app.caller(key).failing({ sku: 'x' }));
    expect(second.message).toBe(first.message);
    expect(app.runs.failing).toBe(1);
  });

  it('takes the lock for the procedure’s lockTtlMs', async () => {
    const app = makePolicyApp(store);
    const key = fresh('lock');
    const running = app.caller(key).held({ n: 1 });
    const ref = { userId: 'alice', path: 'held', key };
    await until(async () => (await app.idempotency.inspect(ref)).state === 'running', 5000, 'the lock', 5);
    const found = await app.idempotency.inspect(ref);
    // The global lockTtlMs is 10 000: a lock of at most 700 ms is the procedure's.
    expect(found.state === 'running' && found.lockTtlMs).toBeLessThanOrEqual(700);
    app.release();
    expect(await running).toEqual({ run: 1 });
  });

  it("gives up waiting after the procedure's waitTimeoutMs, not the global one", async () => {
    const app = makePolicyApp(store);
    const key = fresh('impatient');
    const first = app.caller(key).impatient({ n: 1 });
    const ref = { userId: 'alice', path: 'impatient', key };
    await until(async () => (await app.idempotency.inspect(ref)).state === 'running', 5000, 'the lock', 5);
    const error = await trpcFailure(app.caller(key).impatient({ n: 1 }));
    expect(error.code).toBe('CONFLICT');
    // With the global waitTimeoutMs (10 000 ms), it would have waited at least that long.
    expect(Number(/after (\d+) ms/.exec(error.message)?.[1])).toBeLessThan(10_000);
    app.release();
    await first;
    expect(app.runs.impatient).toBe(1);
  });

  it("answers CONFLICT at once with concurrent: 'conflict', in this process and from another", async () => {
    const app = makePolicyApp(store);
    const other = makePolicyApp(store); // another process: its own in-flight map, the same store
    const key = fresh('stripe');
    const first = app.caller(key).stripe({ n: 1 });
    await until(
      async () => (await app.idempotency.inspect({ userId: 'alice', path: 'stripe', key })).state === 'running',
      5000,
      'the first call to take the lock',
      5,
    );
    // The first call is held until release(): these answered without waiting for it.
    const here = await trpcFailure(app.caller(key).stripe({ n: 1 }));
    const there = await trpcFailure(other.caller(key).stripe({ n: 1 }));
    expect([here.code, there.code]).toEqual(['CONFLICT', 'CONFLICT']);
    app.release();
    expect(await first).toEqual({ run: 1 });
    // Once it is done, a retry gets its result, as with 'wait'.
    expect(await other.caller(key).stripe({ n: 1 })).toEqual({ run: 1 });
    expect(app.runs.stripe + other.runs.stripe).toBe(1);
  });

  it('compares only what the fingerprint selector picks: a changed request id replays, a changed amount is a mismatch', async () => {
    const app = makePolicyApp(store);
    const key = fresh('fp');
    const first = await app.caller(key).selected({ amount: 5, requestId: 'r1', at: 1 });
    expect(await app.caller(key).selected({ amount: 5, requestId: 'r2', at: 2 })).toEqual(first);
    const error = await trpcFailure(app.caller(key).selected({ amount: 6, requestId: 'r3' }));
    expect(error.code).toBe('UNPROCESSABLE_CONTENT');
    expect(app.runs.selected).toBe(1);
    // Without a selector the whole input counts: a new request id is a different input.
    const whole = fresh('whole');
    await app.caller(whole).keyed({ amount: 5, requestId: 'r1' });
    expect((await trpcFailure(app.caller(whole).keyed({ amount: 5, requestId: 'r2' }))).code).toBe(
      'UNPROCESSABLE_CONTENT',
    );
  });

  it('applies a global fingerprint selector, which a procedure’s own replaces', async () => {
    const app = makePolicyApp(store, {
      fingerprint: (input) => ({ ...(input as object), requestId: undefined, at: undefined }),
    });
    const key = fresh('global-fp');
    await app.caller(key).keyed({ amount: 5, requestId: 'r1', at: 1 });
    expect(await app.caller(key).keyed({ amount: 5, requestId: 'r2', at: 2 })).toEqual({ run: 1 });
    expect((await trpcFailure(app.caller(key).keyed({ amount: 7, requestId: 'r2' }))).code).toBe(
      'UNPROCESSABLE_CONTENT',
    );
  });

  it('answers BAD_REQUEST when the selector throws on an input, and runs nothing', async () => {
    const app = makePolicyApp(store, {
      fingerprint: (input) => (input as { amount: { cents: number } }).amount.cents,
    });
    const error = await trpcFailure(app.caller(fresh('throws')).keyed(undefined as never));
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toMatch(/fingerprint selector of "keyed" threw/);
    expect(app.runs.keyed).toBe(0);
  });
});

describe('a bad per-procedure policy', () => {
  const store = memoryStore();
  const t = initTRPC.context<TestContext>().meta<IdempotencyMeta>().create({ transformer: superjson });
  const idempotency = createIdempotency<TestContext>({ store });
  const procedure = t.procedure.use(idempotency.middleware);
  let runs = 0;
  // As a JavaScript caller (or a cast) could write them: the types reject every one.
  const bad = (idempotency: unknown) => procedure.meta({ idempotency } as IdempotencyMeta).mutation(() => ++runs);
  const router = t.router({
    negative: bad({ ttlSeconds: -1 }),
    typo: bad({ ttlSecond: 60 }),
    both: bad({ concurrent: 'conflict', waitTimeoutMs: 500 }),
    yes: bad(true),
    fine: bad({ ttlSeconds: 60 }),
  });
  const caller = t.createCallerFactory(router)({ headers: { 'idempotency-key': 'k' }, user: { id: 'u' } });

  it('fails at startup through checkRouter, naming every bad procedure and field', () => {
    let thrown: unknown;
    try {
      idempotency.checkRouter(router);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(IdempotencyConfigError);
    const message = (thrown as Error).message;
    expect(message).toMatch(/"negative"[\s\S]*ttlSeconds/);
    expect(message).toMatch(/"typo"[\s\S]*ttlSecond/);
    expect(message).toMatch(/"both"[\s\S]*waitTimeoutMs does nothing with concurrent: 'conflict'/);
    expect(message).toMatch(/"yes"[\s\S]*expected false \(opt out\) or an object/);
    expect(message).not.toMatch(/"fine"/);
  });

  it('passes checkRouter for a router whose metas are all valid', () => {
    expect(() => idempotency.checkRouter(t.router({ fine: bad({ ttlSeconds: 60 }) }))).not.toThrow();
  });

  it('fails each call of that procedure with INTERNAL_SERVER_ERROR, never a silent default, and runs nothing', async () => {
    for (const call of [() => caller.negative(), () => caller.typo(), () => caller.both(), () => caller.yes()]) {
      const error = await trpcFailure(call());
      expect(error.code).toBe('INTERNAL_SERVER_ERROR');
      expect(error.message).toMatch(/idempotency meta of "\w+" is invalid/);
    }
    expect((await trpcFailure(caller.negative())).message).toMatch(/ttlSeconds/);
    expect(runs).toBe(0);
    expect(await caller.fine()).toBe(1);
  });

  it('reads and validates a procedure’s meta once, not on every call', async () => {
    let reads = 0;
    const meta = {
      get idempotency() {
        reads += 1;
        return { ttlSeconds: 60 };
      },
    };
    const counted = t.router({ once: procedure.meta(meta).mutation(() => 'ok') });
    const call = (key: string) =>
      t
        .createCallerFactory(counted)({ headers: { 'idempotency-key': key }, user: { id: 'u' } })
        .once();
    await call('a');
    const afterFirst = reads;
    expect(afterFirst).toBeGreaterThan(0);
    await call('b');
    await call('c');
    expect(reads).toBe(afterFirst);
  });

  it("rejects waitTimeoutMs with a global concurrent: 'conflict' at creation", () => {
    expect(() => createIdempotency<TestContext>({ store, concurrent: 'conflict', waitTimeoutMs: 100 })).toThrow(
      IdempotencyConfigError,
    );
    expect(() => createIdempotency<TestContext>({ store, concurrent: 'later' as never })).toThrow(/concurrent/);
    expect(() => createIdempotency<TestContext>({ store, fingerprint: 'amount' as never })).toThrow(/fingerprint/);
  });

  it("lets a procedure wait where the global default is concurrent: 'conflict'", async () => {
    const strict = createIdempotency<TestContext>({ store: memoryStore(), concurrent: 'conflict' });
    let release!: () => void;
    const opened = new Promise<void>((r) => (release = r));
    let ran = 0;
    const slow = (meta: IdempotencyMeta) =>
      t.procedure
        .use(strict.middleware)
        .meta(meta)
        .mutation(async () => {
          const n = ++ran;
          await opened;
          return n;
        });
    const r = t.router({ waits: slow({ idempotency: { concurrent: 'wait' } }), refuses: slow({}) });
    const c = t.createCallerFactory(r)({ headers: { 'idempotency-key': 'same' }, user: { id: 'u' } });
    const first = c.waits();
    const second = c.waits();
    const refused = [c.refuses(), c.refuses()];
    expect((await trpcFailure(refused[1]!)).code).toBe('CONFLICT');
    release();
    expect(await Promise.all([first, second, refused[0]])).toEqual([1, 1, 2]);
  });
});

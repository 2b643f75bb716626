import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdempotencyStore } from '../../src';
import { scopeKey } from '../../src/key';
import type { StoredRecord } from '../../src/record';
import { makeApp, sleep } from '../helpers/app';

let seq = 0;
/** A key no other test uses, so suites can share one store. */
const fresh = (label = 'k') => `${label}-${process.pid}-${Date.now()}-${++seq}`;

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TRPCError);
    return (error as TRPCError).code;
  }
  throw new Error('expected the call to fail');
}

const record = (body: string): StoredRecord => ({ status: 'ok', fingerprint: 'f', createdAt: Date.now(), body });

/**
 * Every semantics row of the middleware, against one store. `makeStore` is called once per suite;
 * `teardown` runs after it.
 */
export function describeStoreContract(
  name: string,
  setup: () => Promise<{ store: IdempotencyStore; teardown: () => Promise<void> }>,
) {
  describe(`store contract: ${name}`, () => {
    let store: IdempotencyStore;
    let teardown: () => Promise<void>;
    beforeAll(async () => {
      ({ store, teardown } = await setup());
    });
    afterAll(async () => {
      await teardown();
    });

    it('runs the resolver and stores nothing when no key is sent', async () => {
      const app = makeApp({ store });
      await app.caller().createOrder({ sku: 'a' });
      await app.caller().createOrder({ sku: 'a' });
      expect(app.runs.createOrder).toBe(2);
      expect(app.events).toEqual([]);
    });

    it('rejects a missing key with BAD_REQUEST when required', async () => {
      const app = makeApp({ store, required: true });
      await expect(app.caller().createOrder({ sku: 'a' })).rejects.toThrow(/requires an idempotency-key header/);
      expect(await codeOf(app.caller().createOrder({ sku: 'a' }))).toBe('BAD_REQUEST');
      expect(app.runs.createOrder).toBe(0);
    });

    it.each([
      ['empty', ''],
      ['over 255 characters', 'k'.repeat(256)],
      ['with a space', 'has space'],
      ['non-ASCII', 'clé-ü'],
      ['a control character', 'a\u0001b'],
      ['a stray quote inside quotes', '"a"b"'],
      ['an empty quoted string', '""'],
      ['a bad escape in quotes', '"a\\nb"'],
      ['sent twice', ['k1', 'k2']],
    ])('rejects a malformed key (%s) with BAD_REQUEST and does not run', async (_label, key) => {
      const app = makeApp({ store });
      expect(await codeOf(app.caller(key).createOrder({ sku: 'a' }))).toBe('BAD_REQUEST');
      expect(app.runs.createOrder).toBe(0);
    });

    it('accepts a key of exactly 255 visible ASCII characters', async () => {
      const app = makeApp({ store });
      const key = `${fresh()}-`.padEnd(255, '~');
      await app.caller(key).createOrder({ sku: 'a' });
      await app.caller(key).createOrder({ sku: 'a' });
      expect(app.runs.createOrder).toBe(1);
    });

    it('treats a quoted structured-field key "abc" as abc', async () => {
      const app = makeApp({ store });
      const key = fresh();
      const first = await app.caller(`"${key}"`).createOrder({ sku: 'a' });
      const second = await app.caller(key).createOrder({ sku: 'a' });
      expect(second).toEqual(first);
      expect(app.runs.createOrder).toBe(1);
    });

    it('replays a completed call superjson-faithfully without running it again', async () => {
      const app = makeApp({ store });
      const key = fresh();
      const first = await app.caller(key).createOrder({ sku: 'a', qty: 3 });
      const replayed = await app.caller(key).createOrder({ qty: 3, sku: 'a' });
      expect(app.runs.createOrder).toBe(1);
      expect(replayed).toEqual(first);
      expect(replayed.at).toBeInstanceOf(Date);
      expect(replayed.tags).toBeInstanceOf(Set);
      expect(replayed.lines.get('a')).toBe(3n * 10n ** 18n);
      expect('note' in replayed).toBe(true);
      expect(replayed).not.toBe(first);
      expect(app.events.map((e) => e.type)).toEqual(['miss', 'hit']);
    });

    it('answers a reused key with a different input with UNPROCESSABLE_CONTENT', async () => {
      const app = makeApp({ store });
      const key = fresh();
      await app.caller(key).createOrder({ sku: 'a' });
      await expect(app.caller(key).createOrder({ sku: 'b' })).rejects.toThrow(/different input/);
      expect(await codeOf(app.caller(key).createOrder({ sku: 'b' }))).toBe('UNPROCESSABLE_CONTENT');
      expect(app.runs.createOrder).toBe(1);
      expect(app.events.at(-1)?.type).toBe('mismatch');
    });

    it('keeps users and procedures apart: same key, independent executions', async () => {
      const app = makeApp({ store });
      const key = fresh();
      const alice = await app.caller(key, 'alice').createOrder({ sku: 'a' });
      const bob = await app.caller(key, 'bob').createOrder({ sku: 'a' });
      const anonymous = await app.caller(key, null).createOrder({ sku: 'a' });
      await app.caller(key, 'alice').other({ sku: 'a' });
      expect(app.runs.createOrder).toBe(3);
      expect(app.runs.other).toBe(1);
      expect([alice.owner, bob.owner, anonymous.owner]).toEqual(['alice', 'bob', null]);
      expect((await app.caller(key, 'bob').createOrder({ sku: 'a' })).owner).toBe('bob');
    });

    it('runs concurrent duplicates in one process once, and all get the result', async () => {
      const app = makeApp({ store });
      const key = fresh();
      const results = await Promise.all(Array.from({ length: 25 }, () => app.caller(key).slow({ ms: 100 })));
      expect(app.runs.slow).toBe(1);
      expect(new Set(results.map((r) => r.n))).toEqual(new Set([1]));
      expect(app.idempotency.inFlight).toBe(0);
    });

    it('runs concurrent duplicates across instances (separate flights) once, through the store', async () => {
      const apps = [makeApp({ store }), makeApp({ store }), makeApp({ store })];
      const key = fresh();
      const first = apps[0]!.caller(key).slow({ ms: 150 });
      await sleep(20);
      const rest = apps.slice(1).map((a) => a.caller(key).slow({ ms: 150 }));
      const results = await Promise.all([first, ...rest]);
      expect(apps.reduce((n, a) => n + a.runs.slow, 0)).toBe(1);
      expect(results.map((r) => r.n)).toEqual([1, 1, 1]);
      expect(apps[1]!.events.map((e) => e.type)).toEqual(['wait']);
    });

    it('answers CONFLICT when the first call outlasts waitTimeoutMs, then replays once it is done', async () => {
      const holder = makeApp({ store });
      const waiter = makeApp({ store, waitTimeoutMs: 100 });
      const key = fresh();
      const first = holder.caller(key).slow({ ms: 400 });
      await sleep(30);
      const started = Date.now();
      const error = await waiter
        .caller(key)
        .slow({ ms: 400 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TRPCError);
      expect((error as TRPCError).code).toBe('CONFLICT');
      expect((error as TRPCError).message).toMatch(/Retry later with the same key/);
      expect(Date.now() - started).toBeLessThan(2_000);
      const result = await first;
      expect(await waiter.caller(key).slow({ ms: 400 })).toEqual(result);
      expect(holder.runs.slow + waiter.runs.slow).toBe(1);
    });

    it('stops a waiter whose client went away (CLIENT_CLOSED_REQUEST); the first call still completes', async () => {
      const holder = makeApp({ store });
      const other = makeApp({ store });
      const key = fresh();
      const first = holder.caller(key).slow({ ms: 400 });
      await sleep(30);
      // One waiter shares the holder's in-process flight, the other waits through the store.
      const controllers = [new AbortController(), new AbortController()];
      const waiters = [
        holder.caller(key, 'alice', controllers[0]!.signal).slow({ ms: 400 }),
        other.caller(key, 'alice', controllers[1]!.signal).slow({ ms: 400 }),
      ].map((p) => p.catch((e: unknown) => e));
      await sleep(50);
      const abortedAt = Date.now();
      for (const c of controllers) c.abort();
      for (const error of await Promise.all(waiters)) {
        expect((error as TRPCError).code).toBe('CLIENT_CLOSED_REQUEST');
        expect((error as TRPCError).message).toMatch(/a retry with the same key gets its result/);
      }
      expect(Date.now() - abortedAt).toBeLessThan(250);
      const result = await first;
      expect(await other.caller(key).slow({ ms: 400 })).toEqual(result);
      expect(holder.runs.slow + other.runs.slow).toBe(1);
    });

    it('stores nothing when the resolver throws, so a retry runs again', async () => {
      const app = makeApp({ store });
      const key = fresh();
      await expect(app.caller(key).fail({ sku: 'a' })).rejects.toThrow('out of stock (1)');
      await expect(app.caller(key).fail({ sku: 'a' })).rejects.toThrow('out of stock (2)');
      expect(app.runs.fail).toBe(2);
    });

    it('replays the same code and message when cacheErrors keeps the error', async () => {
      const app = makeApp({ store, cacheErrors: (e) => e.code === 'BAD_REQUEST' });
      const key = fresh();
      await expect(app.caller(key).fail({ sku: 'a' })).rejects.toThrow('out of stock (1)');
      const error = await app
        .caller(key)
        .fail({ sku: 'a' })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TRPCError);
      expect((error as TRPCError).code).toBe('BAD_REQUEST');
      expect((error as TRPCError).message).toBe('out of stock (1)');
      expect(app.runs.fail).toBe(1);
    });

    it('keeps nothing when cacheErrors throws: the caller gets its error, and a retry runs again at once', async () => {
      const app = makeApp({
        store,
        lockTtlMs: 5_000,
        cacheErrors: () => {
          throw new Error('a bug in the hook');
        },
      });
      const key = fresh();
      await expect(app.caller(key).fail({ sku: 'a' })).rejects.toThrow('out of stock (1)');
      // The lock was released: not a wait for its 5 s TTL, nor a CONFLICT.
      const started = Date.now();
      await expect(app.caller(key).fail({ sku: 'a' })).rejects.toThrow('out of stock (2)');
      expect(Date.now() - started).toBeLessThan(2_500);
    });

    it('after a lost lock, gives the holder’s own waiters the stored result, whichever holder stored it', async () => {
      const x = makeApp({ store, lockTtlMs: 150, waitTimeoutMs: 5_000 });
      const y = makeApp({ store, lockTtlMs: 150, waitTimeoutMs: 5_000 });
      const key = fresh();
      // y's next execution is n = 3, x's is n = 1: their results tell them apart.
      await y.caller(fresh()).slow({ ms: 0 });
      await y.caller(fresh()).slow({ ms: 0 });
      const holder = x.caller(key).slow({ ms: 400 });
      await sleep(30);
      const waiter = x.caller(key).slow({ ms: 400 }); // joins the holder's flight
      await sleep(10);
      // x stalls past its lock's TTL, so y can take the lock over and run too: the at-least-once
      // window. (Under a quorum, x's next extension may take its lock back first; then y replays.)
      // x finishes first; which result is stored depends on who held the lock where.
      const blockedUntil = Date.now() + 300;
      while (Date.now() < blockedUntil) {
        // a VM freeze, say
      }
      const taker = y.caller(key).slow({ ms: 400 });
      const [own, other] = [await holder, await taker];
      expect(own).toEqual({ n: 1 });
      expect([{ n: 1 }, { n: 3 }]).toContainEqual(other);
      const stored = await makeApp({ store }).caller(key).slow({ ms: 400 });
      expect([own, other]).toContainEqual(stored);
      // The old holder's waiting duplicate gets what replays get, not merely what its holder returned.
      expect(await waiter).toEqual(stored);
      if (other.n === 3) expect(x.events.map((e) => e.type)).toContain('lock-lost');
    });

    it('wakes waiters when a failed holder releases, so one of them runs at once', async () => {
      const holder = makeApp({ store, lockTtlMs: 5_000, waitTimeoutMs: 8_000 });
      const waiter = makeApp({ store, lockTtlMs: 5_000, waitTimeoutMs: 8_000 });
      const key = fresh();
      const failing = holder
        .caller(key)
        .fail({ sku: 'a', ms: 200 })
        .catch((e: unknown) => e);
      await sleep(20);
      const started = Date.now();
      const second = await waiter
        .caller(key)
        .fail({ sku: 'a', ms: 0 })
        .catch((e: unknown) => e);
      await failing;
      expect((second as TRPCError).message).toBe('out of stock (1)');
      expect(holder.runs.fail + waiter.runs.fail).toBe(2);
      // Woken by the release, not by the 5 s lock expiry.
      expect(Date.now() - started).toBeLessThan(4_000);
      expect(waiter.events.map((e) => e.type)).toEqual(['miss']);
    });

    it('takes over from a holder that died: its lock expires within lockTtlMs', async () => {
      const app = makeApp({ store, lockTtlMs: 300, waitTimeoutMs: 5_000 });
      const key = fresh();
      // A holder that claimed and then vanished: nothing will complete or release it.
      const dead = await store.claim(scopeKey('alice', 'slow', key), 300);
      expect(dead.status).toBe('claimed');
      const started = Date.now();
      const result = await app.caller(key).slow({ ms: 1 });
      expect(result.n).toBe(1);
      expect(app.runs.slow).toBe(1);
      expect(Date.now() - started).toBeGreaterThanOrEqual(200);
      expect(app.events.map((e) => e.type)).toEqual(['miss']);
    });

    it('extends the lock of a mutation that outlives lockTtlMs: no second execution', async () => {
      const holder = makeApp({ store, lockTtlMs: 150 });
      const others = [makeApp({ store, lockTtlMs: 150 }), makeApp({ store, lockTtlMs: 150 })];
      const key = fresh();
      const first = holder.caller(key).slow({ ms: 800 });
      const later: Promise<{ n: number }>[] = [];
      for (const delay of [100, 300, 500]) {
        await sleep(delay - (later.length ? [100, 300, 500][later.length - 1]! : 0));
        for (const o of others) later.push(o.caller(key).slow({ ms: 800 }));
      }
      const results = await Promise.all([first, ...later]);
      expect(holder.runs.slow + others[0]!.runs.slow + others[1]!.runs.slow).toBe(1);
      expect(new Set(results.map((r) => r.n))).toEqual(new Set([1]));
      expect(holder.events.map((e) => e.type)).toEqual(['miss']);
    });

    it('skips queries unless cacheQueries is set', async () => {
      const plain = makeApp({ store });
      const key = fresh();
      await plain.caller(key).lookup({ sku: 'a' });
      await plain.caller(key).lookup({ sku: 'a' });
      expect(plain.runs.lookup).toBe(2);
      const cached = makeApp({ store, cacheQueries: true });
      await cached.caller(key).lookup({ sku: 'a' });
      expect(await cached.caller(key).lookup({ sku: 'a' })).toBe(1);
      expect(cached.runs.lookup).toBe(1);
    });

    it('returns an oversized result once and answers replays with PRECONDITION_FAILED', async () => {
      const app = makeApp({ store, maxResultBytes: 1_000 });
      const key = fresh();
      expect(await app.caller(key).big({ size: 5_000 })).toHaveLength(5_000);
      await expect(app.caller(key).big({ size: 5_000 })).rejects.toThrow(/cannot be replayed.*maxResultBytes/);
      expect(await codeOf(app.caller(key).big({ size: 5_000 }))).toBe('PRECONDITION_FAILED');
      expect(app.runs.big).toBe(1);
    });

    describe('store operations', () => {
      it('never lets a holder that lost its lock overwrite the new holder', async () => {
        const id = fresh('id');
        const old = await store.claim(id, 100);
        if (old.status !== 'claimed') throw new Error('expected a claim');
        await sleep(150);
        const next = await store.claim(id, 5_000);
        if (next.status !== 'claimed') throw new Error('expected the expired lock to be claimable');
        expect(await store.extend(old.lease, 5_000)).toBe(false);
        expect(await store.complete(old.lease, record('"old"'), 60)).toBe(false);
        expect(await store.complete(next.lease, record('"new"'), 60)).toBe(true);
        const after = await store.claim(id, 100);
        expect(after.status === 'done' && after.record.body).toBe('"new"');
      });

      it('never overwrites a record a faster holder stored first', async () => {
        const id = fresh('id');
        const old = await store.claim(id, 100);
        if (old.status !== 'claimed') throw new Error('expected a claim');
        await sleep(150);
        const next = await store.claim(id, 5_000);
        if (next.status !== 'claimed') throw new Error('expected a claim');
        expect(await store.complete(next.lease, record('"new"'), 60)).toBe(true);
        expect(await store.complete(old.lease, record('"old"'), 60)).toBe(false);
        const after = await store.claim(id, 100);
        expect(after.status === 'done' && after.record.body).toBe('"new"');
      });

      it('wakes a watcher on release, with no record: waiters must claim again', async () => {
        const id = fresh('id');
        const claim = await store.claim(id, 5_000);
        if (claim.status !== 'claimed') throw new Error('expected a claim');
        const watch = await store.watch(id);
        setTimeout(() => void store.release(claim.lease), 50);
        const started = Date.now();
        expect(await watch.next(4_000)).toBeUndefined();
        watch.close();
        expect(Date.now() - started).toBeLessThan(2_000);
        expect((await store.claim(id, 100)).status).toBe('claimed');
      });

      it('reports a held lock as busy with its remaining TTL', async () => {
        const id = fresh('id');
        await store.claim(id, 2_000);
        const busy = await store.claim(id, 2_000);
        expect(busy.status).toBe('busy');
        expect(busy.status === 'busy' && busy.retryAfterMs).toBeGreaterThan(1_000);
        expect(busy.status === 'busy' && busy.retryAfterMs).toBeLessThanOrEqual(2_000);
      });

      it('notifies a watcher on completion, with the record in the notice', async () => {
        const id = fresh('id');
        const claim = await store.claim(id, 5_000);
        if (claim.status !== 'claimed') throw new Error('expected a claim');
        const watch = await store.watch(id);
        const started = Date.now();
        setTimeout(() => void store.complete(claim.lease, record('1'), 60), 50);
        const carried = await watch.next(4_000);
        watch.close();
        expect(carried?.body).toBe('1');
        expect(Date.now() - started).toBeLessThan(2_000);
        expect((await store.claim(id, 100)).status).toBe('done');
      });

      it('expires records after ttlSeconds', async () => {
        const id = fresh('id');
        const claim = await store.claim(id, 1_000);
        if (claim.status !== 'claimed') throw new Error('expected a claim');
        expect(await store.complete(claim.lease, record('1'), 1)).toBe(true);
        expect((await store.claim(id, 100)).status).toBe('done');
        await sleep(1_100);
        expect((await store.claim(id, 100)).status).toBe('claimed');
      });
    });
  });
}

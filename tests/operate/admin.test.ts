import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IdempotencyEvent, memoryStore, redisStore } from '../../src';
import { scopeKey } from '../../src/key';
import { trpcFailure, until } from '../helpers/app';
import { startRedis } from '../helpers/redis-server';
import { clusterSetup, quorumSetup, type RedisSetup, singleNodeSetup } from '../helpers/store-setups';
import { makePolicyApp } from './policy-app';

let seq = 0;
const fresh = (label: string) => `${label}-${Date.now()}-${++seq}`;

/** The stores under test: memoryStore (no records to reach, no peer), and Redis three ways. */
type Setup = Pick<RedisSetup, 'store' | 'teardown'> & Partial<Pick<RedisSetup, 'records' | 'peer'>>;

/** Where the default redisStore keeps the record of alice's call to `path` with `key`. */
const recordKey = (path: string, key: string) => `idem:{${scopeKey('alice', path, key)}}:r`;

const setups: Record<string, () => Promise<Setup>> = {
  memoryStore: async () => {
    const store = memoryStore();
    return { store, teardown: () => store.close() };
  },
  'redisStore (single node)': singleNodeSetup,
  'redisStore (Cluster of 3 masters)': clusterSetup,
  'redisStore (Redlock quorum of 3 masters)': quorumSetup,
};

describe.each(Object.keys(setups))('inspect, forget and list on %s', (name) => {
  let setup: Setup;
  beforeAll(async () => {
    setup = await setups[name]!();
  }, 60_000);
  afterAll(async () => {
    await setup?.teardown();
  });

  const running = async (app: ReturnType<typeof makePolicyApp>, path: string, key: string) =>
    until(
      async () => (await app.idempotency.inspect({ userId: 'alice', path, key })).state === 'running',
      5000,
      `${path} to take its lock`,
      5,
    );

  it('answers none for a call never made', async () => {
    const app = makePolicyApp(setup.store);
    expect(await app.idempotency.inspect({ userId: 'alice', path: 'keyed', key: fresh('never') })).toEqual({
      state: 'none',
    });
  });

  it('answers done with the decoded result, when it was stored and when it expires', async () => {
    const app = makePolicyApp(setup.store);
    const key = fresh('done');
    const before = Date.now();
    await app.caller(key).invite({ email: 'a@b' });
    const found = await app.idempotency.inspect({ userId: 'alice', path: 'invite', key });
    expect(found).toMatchObject({ state: 'done', status: 'ok', result: { run: 1 }, decoded: true, steps: {} });
    if (found.state !== 'done') throw new Error('not done');
    expect(found.storedAt.getTime()).toBeGreaterThanOrEqual(before - 5);
    expect(found.storedAt.getTime()).toBeLessThanOrEqual(Date.now());
    // invite keeps its records an hour (its meta).
    const life = found.expiresAt.getTime() - found.storedAt.getTime();
    expect(life).toBeGreaterThan(3_500_000);
    expect(life).toBeLessThanOrEqual(3_601_000);
    expect(found.fingerprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('answers done with the code and message of a kept error', async () => {
    const app = makePolicyApp(setup.store);
    const key = fresh('error');
    await trpcFailure(app.caller(key).failing({ sku: 'x' }));
    expect(await app.idempotency.inspect({ userId: 'alice', path: 'failing', key })).toMatchObject({
      state: 'done',
      status: 'error',
      result: { code: 'NOT_FOUND', message: 'no such sku (1)' },
    });
  });

  it('answers running while a call holds the lock; forget refuses it with CONFLICT unless forced', async () => {
    const app = makePolicyApp(setup.store);
    const key = fresh('running');
    const ref = { userId: 'alice', path: 'held', key };
    const call = app.caller(key).held({ n: 1 });
    await running(app, 'held', key);
    const found = await app.idempotency.inspect(ref);
    expect(found.state).toBe('running');
    expect(found.state === 'running' && found.lockTtlMs).toBeGreaterThan(0);
    expect(found.state === 'running' && found.lockTtlMs).toBeLessThanOrEqual(700);

    const refused = await trpcFailure(app.idempotency.forget(ref));
    expect(refused.code).toBe('CONFLICT');
    expect(refused.message).toMatch(/still running .* pass \{ force: true \}/);
    expect((await app.idempotency.inspect(ref)).state).toBe('running');

    const id = scopeKey('alice', 'held', key);
    const listed = await app.idempotency.list();
    expect(listed.process.count).toBe(1);
    expect(listed.process.calls).toEqual([{ id, path: 'held', ageMs: expect.any(Number) }]);
    expect(listed.store.locks).toContainEqual({ id, ttlMs: expect.any(Number) });
    expect(listed.store.locks.find((l) => l.id === id)!.ttlMs).toBeLessThanOrEqual(700);

    expect(await app.idempotency.forget(ref, { force: true })).toEqual({ forgotten: true });
    expect((await app.idempotency.inspect(ref)).state).toBe('none');
    expect((await app.idempotency.list()).store.locks.map((l) => l.id)).not.toContain(id);
    app.release();
    expect(await call).toEqual({ run: 1 });
  });

  it('forgets a done call, so that the next call with its key runs again; by reference or by logged id', async () => {
    const events: IdempotencyEvent[] = [];
    const app = makePolicyApp(setup.store, { onEvent: (e) => events.push(e) });
    const key = fresh('forget');
    const ref = { userId: 'alice', path: 'keyed', key };
    await app.caller(key).keyed({ amount: 1 });
    await app.caller(key).keyed({ amount: 1 });
    expect(app.runs.keyed).toBe(1);
    expect(await app.idempotency.forget(ref)).toEqual({ forgotten: true });
    expect(await app.idempotency.forget(ref)).toEqual({ forgotten: false });
    expect(await app.caller(key).keyed({ amount: 1 })).toEqual({ run: 2 });
    expect(app.runs.keyed).toBe(2);

    // As an incident starts: from the record id that onEvent logged, no raw key at hand.
    const logged = events.at(-1)!.key;
    expect(logged).toBe(scopeKey('alice', 'keyed', key));
    expect((await app.idempotency.inspect({ id: logged })).state).toBe('done');
    expect(await app.idempotency.forget({ id: logged })).toEqual({ forgotten: true });
    expect(await app.caller(key).keyed({ amount: 1 })).toEqual({ run: 3 });
  });

  it('lists at most `limit` calls and locks, oldest calls first, and says when it stopped short', async () => {
    const app = makePolicyApp(setup.store);
    const keys = [fresh('l1'), fresh('l2'), fresh('l3')];
    const calls = [];
    for (const key of keys) {
      calls.push(app.caller(key).held({ n: 1 }));
      await running(app, 'held', key);
    }
    const listed = await app.idempotency.list({ limit: 2 });
    expect(listed.process.count).toBe(3);
    expect(listed.process.calls.map((c) => c.id)).toEqual(keys.slice(0, 2).map((k) => scopeKey('alice', 'held', k)));
    expect(listed.store.locks).toHaveLength(2);
    expect(listed.store.complete).toBe(false);
    const all = await app.idempotency.list({ limit: 1000 });
    expect(all.store.complete).toBe(true);
    expect(all.store.locks.map((l) => l.id)).toEqual(
      expect.arrayContaining(keys.map((k) => scopeKey('alice', 'held', k))),
    );
    app.release();
    await Promise.all(calls);
    expect((await app.idempotency.list()).process).toEqual({ count: 0, calls: [] });
  });

  /**
   * Waits until `there` serves replays from its record cache (it caches once its forget channel is
   * live): shown by a record deleted behind its back, with no notice, that it still replays.
   */
  async function cachingIn(here: ReturnType<typeof makePolicyApp>, there: ReturnType<typeof makePolicyApp>) {
    await until(
      async () => {
        const key = fresh('cached');
        await here.caller(key).keyed({ amount: 1 });
        await there.caller(key).keyed({ amount: 1 }); // a replay, cached if the channel is live
        await setup.records!.del(recordKey('keyed', key));
        const runs = there.runs.keyed;
        await there.caller(key).keyed({ amount: 1 });
        return there.runs.keyed === runs;
      },
      5000,
      'the other process to serve replays from its cache',
    );
  }

  /** Calls `there` with `key` until it runs it again, as it must once it learned its record is gone. */
  async function runsAgain(there: ReturnType<typeof makePolicyApp>, key: string) {
    const runs = there.runs.keyed;
    await until(
      async () => {
        await there.caller(key).keyed({ amount: 1 });
        return there.runs.keyed > runs;
      },
      5000,
      `the other process to run ${key} again`,
    );
    expect(there.runs.keyed).toBe(runs + 1);
  }

  /** Runs `test` with an app here and one in a peer process that already serves replays from its cache. */
  async function withPeer(
    test: (here: ReturnType<typeof makePolicyApp>, there: ReturnType<typeof makePolicyApp>) => Promise<void>,
  ) {
    const peer = setup.peer!();
    try {
      const here = makePolicyApp(setup.store);
      const there = makePolicyApp(peer.store);
      await cachingIn(here, there);
      await test(here, there);
    } finally {
      await peer.close();
    }
  }

  it.runIf(name !== 'memoryStore')(
    'forget reaches the record cache of every other process, which then runs the call again',
    () =>
      withPeer(async (here, there) => {
        const key = fresh('everywhere');
        const ref = { userId: 'alice', path: 'keyed', key };
        const first = await here.caller(key).keyed({ amount: 1 });
        expect(await there.caller(key).keyed({ amount: 1 })).toEqual(first); // replayed, and cached there
        expect(await here.idempotency.forget(ref)).toEqual({ forgotten: true });
        // Without the notice it would replay the forgotten record from its cache for 24 h.
        await runsAgain(there, key);
        expect(await here.caller(key).keyed({ amount: 1 })).toEqual({ run: there.runs.keyed });
      }),
  );

  it.runIf(name === 'redisStore (single node)' || name === 'redisStore (Cluster of 3 masters)')(
    'a process whose subscriber connection dropped empties its cache: it may have missed a forget',
    () =>
      withPeer(async (here, there) => {
        const key = fresh('dropped');
        await here.caller(key).keyed({ amount: 1 });
        await there.caller(key).keyed({ amount: 1 }); // cached there
        // Every subscriber connection, on every node (a Cluster's subscriber is on one of them).
        const records = setup.records!;
        const nodes = records instanceof Cluster ? records.nodes('master') : [records];
        await Promise.all(nodes.map((node) => node.call('CLIENT', 'KILL', 'TYPE', 'pubsub')));
        // A forget whose notice was lost: the record goes, and nobody hears of it.
        await setup.records!.del(recordKey('keyed', key));
        await runsAgain(there, key);
        // Subscribed again, it caches again.
        await cachingIn(here, there);
      }),
  );

  it('returns the completed durable steps decoded, and forget deletes them with the record', async () => {
    const app = makePolicyApp(setup.store);
    const key = fresh('steps');
    const ref = { userId: 'alice', path: 'charge', key };
    expect(await app.caller(key).charge({ cents: 500 })).toEqual({ charged: 1 });
    const found = await app.idempotency.inspect(ref);
    expect(found.state === 'done' && found.steps).toEqual({ charge: { at: new Date(0), cents: 500n, run: 1 } });
    expect(await app.idempotency.forget(ref)).toEqual({ forgotten: true });
    expect(await app.idempotency.inspect(ref)).toEqual({ state: 'none' });
    // The step ran again: forget took its stored result too, not just the record.
    expect(await app.caller(key).charge({ cents: 500 })).toEqual({ charged: 2 });
    expect(app.runs.charge).toBe(2);
  });
});

describe('admin calls that cannot go through', () => {
  const app = makePolicyApp(memoryStore());

  it('answer BAD_REQUEST for a malformed reference or limit', async () => {
    const bad = [
      app.idempotency.inspect({ id: 'not-a-record-id' }),
      app.idempotency.inspect({ userId: 'a', path: '', key: 'k' }),
      app.idempotency.inspect({ userId: {} as never, path: 'p', key: 'k' }),
      app.idempotency.forget({ userId: 'a', path: 'p', key: 'has space' }),
      app.idempotency.forget(null as never),
      app.idempotency.list({ limit: 0 }),
      app.idempotency.list({ limit: 1001 }),
    ];
    for (const call of bad) expect((await trpcFailure(call)).code).toBe('BAD_REQUEST');
    expect((await trpcFailure(app.idempotency.inspect({ id: 'x' }))).message).toMatch(/as onEvent logged it/);
  });

  it('name a call without a user id only where the middleware stores one in a shared scope', async () => {
    const noUser = { userId: undefined, path: 'keyed', key: 'k' };
    // The default rejects such calls: nothing can be stored under it, and a ref naming it is a mistake.
    const rejected = await trpcFailure(app.idempotency.inspect(noUser));
    expect(rejected.code).toBe('BAD_REQUEST');
    expect(rejected.message).toMatch(/anonymous: 'reject'/);
    // Scoped by session: the ref would name the shared scope and answer none for a stored call.
    const bySession = makePolicyApp(memoryStore(), { anonymous: () => 'session-1' });
    const scoped = await trpcFailure(bySession.idempotency.forget({ ...noUser, userId: null }));
    expect(scoped.message).toMatch(/name them by \{ id \}/);
    const shared = makePolicyApp(memoryStore(), { anonymous: 'shared' });
    expect(await shared.idempotency.inspect(noUser)).toEqual({ state: 'none' });
  });

  it('answer NOT_IMPLEMENTED on a custom store without the admin methods', async () => {
    const { inspect: _i, forget: _f, locks: _l, ...bare } = memoryStore();
    const custom = makePolicyApp(bare);
    for (const call of [
      custom.idempotency.inspect({ userId: 'a', path: 'p', key: 'k' }),
      custom.idempotency.forget({ userId: 'a', path: 'p', key: 'k' }),
      custom.idempotency.list(),
    ]) {
      const error = await trpcFailure(call);
      expect(error.code).toBe('NOT_IMPLEMENTED');
      expect(error.message).toMatch(/Implement inspect, forget and locks/);
    }
  });

  it('answer SERVICE_UNAVAILABLE when Redis is down, without hanging', async () => {
    const server = await startRedis();
    const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    const store = redisStore({ redis, commandTimeoutMs: 300 });
    const down = makePolicyApp(store);
    await redis.ping();
    await server.kill();
    await until(async () => redis.status !== 'ready', 5000, 'the client to see the outage');
    for (const call of [
      down.idempotency.inspect({ userId: 'a', path: 'p', key: 'k' }),
      down.idempotency.forget({ userId: 'a', path: 'p', key: 'k' }),
      down.idempotency.list(),
    ]) {
      expect((await trpcFailure(call)).code).toBe('SERVICE_UNAVAILABLE');
    }
    await store.close();
    redis.disconnect();
    await server.stop();
  });
});

describe('admin calls on a Redlock quorum with one of three masters down', () => {
  it('still inspect, list and forget, and say the listing may be incomplete', async () => {
    const servers = await Promise.all([startRedis(), startRedis(), startRedis()]);
    const clients = servers.map((s) => new Redis(s.url, { maxRetriesPerRequest: 1 }));
    const store = redisStore({ redis: clients[0]!, lockClients: clients, commandTimeoutMs: 300 });
    try {
      const app = makePolicyApp(store);
      const key = fresh('minority-down');
      const held = app.caller(key).held({ n: 1 });
      await until(
        async () => (await app.idempotency.inspect({ userId: 'alice', path: 'held', key })).state === 'running',
        5000,
        'the lock',
        5,
      );
      await servers[2]!.kill();
      await until(async () => clients[2]!.status !== 'ready', 5000, 'the client to see the outage');
      const ref = { userId: 'alice', path: 'held', key };
      expect((await app.idempotency.inspect(ref)).state).toBe('running');
      const listed = await app.idempotency.list();
      expect(listed.store.locks.map((l) => l.id)).toContain(scopeKey('alice', 'held', key));
      expect(listed.store.complete).toBe(false);
      expect((await trpcFailure(app.idempotency.forget(ref))).code).toBe('CONFLICT');
      app.release();
      expect(await held).toEqual({ run: 1 });
      expect((await app.idempotency.inspect(ref)).state).toBe('done');
      expect(await app.idempotency.forget(ref)).toEqual({ forgotten: true });
      expect((await app.idempotency.inspect(ref)).state).toBe('none');
    } finally {
      await store.close();
      for (const c of clients) c.disconnect();
      await Promise.all(servers.map((s) => s.stop()));
    }
  });
});

describe('inspect after an attempt that failed after its steps', () => {
  it('shows the steps as unfinished, and forget on the memory store says it forgot them', async () => {
    const app = makePolicyApp(memoryStore());
    const ref = { userId: 'alice', path: 'charge', key: 'unfinished-1' };
    app.failNextCharge();
    await expect(app.caller('unfinished-1').charge({ cents: 300 })).rejects.toThrow(/declined/);
    expect(await app.idempotency.inspect(ref)).toEqual({
      state: 'unfinished',
      steps: { charge: { at: new Date(0), cents: 300n, run: 1 } },
    });
    expect(await app.idempotency.forget(ref)).toEqual({ forgotten: true });
    expect(await app.idempotency.inspect(ref)).toEqual({ state: 'none' });
  });
});

describe('inspect with encryption at rest', () => {
  const key = (byte: number) => Buffer.alloc(32, byte);

  it('opens the sealed result and steps with the keys the middleware has, and only with them', async () => {
    const store = memoryStore();
    const app = makePolicyApp(store, { encryption: { keys: [key(1)] } });
    const ref = { userId: 'alice', path: 'charge', key: 'sealed-1' };
    await app.caller('sealed-1').charge({ cents: 700 });
    const found = await app.idempotency.inspect(ref);
    expect(found).toMatchObject({ state: 'done', result: { charged: 1 }, decoded: true });
    expect(found.state === 'done' && found.steps).toEqual({ charge: { at: new Date(0), cents: 700n, run: 1 } });

    // Another key set over the same store: the record is shown as stored, never as plaintext.
    const other = makePolicyApp(store, { encryption: { keys: [key(2)] } });
    const sealed = await other.idempotency.inspect(ref);
    expect(sealed).toMatchObject({ state: 'done', decoded: false });
    expect(sealed.state === 'done' && JSON.stringify(sealed.result)).not.toContain('charged');
  });
});

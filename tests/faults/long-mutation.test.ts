import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scopeKey } from '../../src/key';
import { sleep, until } from '../helpers/app';
import { ledgerKeys } from '../helpers/child-app';
import type { RedisServer } from '../helpers/redis-server';
import { type ChildServer, type Settled, settle, startChildServers, startStoreAndLedger } from '../helpers/server-pool';

const lockTtlMs = 300;

/** Case 5: a mutation that runs 10x lockTtlMs, and what happens when its lock is lost anyway. */
describe('long mutation and lost locks', () => {
  let rig: Awaited<ReturnType<typeof startStoreAndLedger>>;
  let store: RedisServer;
  let ledger: Redis;
  let redis: Redis;
  let servers: ChildServer[];

  beforeAll(async () => {
    rig = await startStoreAndLedger();
    ({ store, ledger } = rig);
    redis = new Redis(store.url);
    servers = await startChildServers(3, {
      redis: { url: store.url },
      ledgerUrl: rig.ledgerUrl,
      lockTtlMs,
      waitTimeoutMs: 15_000,
    });
  }, 60_000);

  afterAll(async () => {
    await Promise.all((servers ?? []).map((s) => s.close()));
    redis?.disconnect();
    await rig?.stop();
  });

  type Result = { n: number; nonce: string; pid: number };
  const call = (s: ChildServer, key: string, ms: number, thenMs?: number): Promise<Settled<Result>> =>
    settle(
      s.client.exec.mutate(
        { tag: key, ms, ...(thenMs === undefined ? {} : { thenMs }) },
        { context: { key, user: 'fay' } },
      ),
    );
  const started = async (key: string) => Number(await ledger.get(ledgerKeys.started(key)));
  const lockKey = (key: string) => `idem:{${scopeKey('fay', 'exec', key)}}:l`;
  const eventsFor = (s: ChildServer, type: string) => s.events.filter((e) => e.type === type);

  it('extends the lock through a run of 10x lockTtlMs; duplicates arriving throughout never run it again', async () => {
    const key = `long-${Date.now()}`;
    const calls = [call(servers[0]!, key, lockTtlMs * 10)];
    for (let i = 0; i < 12; i++) {
      await sleep(250);
      calls.push(call(servers[i % 3]!, key, lockTtlMs * 10));
    }
    const results = await Promise.all(calls);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(new Set(results.map((r) => (r.ok ? r.value.nonce : ''))).size).toBe(1);
    expect(await started(key)).toBe(1);
    expect(servers.flatMap((s) => [...eventsFor(s, 'lock-lost'), ...eventsFor(s, 'store-error')])).toEqual([]);
  }, 30_000);

  it('when the lock key is deleted mid-run: the new holder runs, the old one emits lock-lost and does not overwrite', async () => {
    const key = `deleted-${Date.now()}`;
    const [a, b, c] = servers as [ChildServer, ChildServer, ChildServer];
    const lostBefore = eventsFor(a, 'lock-lost').length;
    const old = call(a, key, 2_000, 100);
    await until(async () => (await started(key)) === 1, 5_000, 'the first holder to start', 10);
    expect(await redis.del(lockKey(key))).toBe(1);
    const second = await call(b, key, 2_000, 100);
    expect(second.ok && second.value.n).toBe(2);
    const first = await old;
    // The old holder's caller still gets its own result (the at-least-once window) ...
    expect(first.ok && first.value.n).toBe(1);
    // ... but the stored record, and every replay, is the new holder's.
    const replay = await call(c, key, 2_000, 100);
    expect(replay.ok && replay.value.nonce).toBe(second.ok && second.value.nonce);
    expect(eventsFor(a, 'lock-lost').length).toBeGreaterThan(lostBefore);
    expect(await started(key)).toBe(2);
  }, 30_000);

  it('when the holder is frozen (SIGSTOP) past its TTL: taken over, and on waking it emits lock-lost and does not overwrite', async () => {
    const key = `frozen-${Date.now()}`;
    const [a, b, c] = servers as [ChildServer, ChildServer, ChildServer];
    const lostBefore = eventsFor(a, 'lock-lost').length;
    const old = call(a, key, 1_500, 100);
    await until(async () => (await started(key)) === 1, 5_000, 'the first holder to start', 10);
    a.signal('SIGSTOP');
    try {
      const second = await call(b, key, 1_500, 100);
      expect(second.ok && second.value.n).toBe(2);
      expect(second.ms).toBeLessThan(lockTtlMs + 1_500);
    } finally {
      a.signal('SIGCONT');
    }
    const first = await old;
    expect(first.ok && first.value.n).toBe(1);
    const replay = await call(c, key, 1_500, 100);
    expect(replay.ok && replay.value.n).toBe(2);
    await until(async () => eventsFor(a, 'lock-lost').length > lostBefore, 2_000, 'a lock-lost event', 10);
    expect(eventsFor(a, 'lock-lost').some((e) => e.durationMs > 0)).toBe(true);
    expect(await started(key)).toBe(2);
  }, 30_000);
});

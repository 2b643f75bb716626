import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../helpers/app';
import { ledgerKeys } from '../helpers/child-app';
import type { RedisServer } from '../helpers/redis-server';
import { type ChildServer, type Settled, settle, startChildServers, startStoreAndLedger } from '../helpers/server-pool';

const lockTtlMs = 600;
const waitTimeoutMs = 10_000;

/**
 * Case 6 across processes: the store's Redis dies while a long mutation runs and duplicates wait in
 * other processes (every ioredis client on its default options), then comes back.
 */
describe('Redis dies while a mutation runs, with waiters in other processes', () => {
  let rig: Awaited<ReturnType<typeof startStoreAndLedger>>;
  let store: RedisServer;
  let ledger: Redis;
  let servers: ChildServer[];

  beforeAll(async () => {
    rig = await startStoreAndLedger();
    ({ store, ledger } = rig);
    servers = await startChildServers(3, {
      redis: { url: store.url },
      ledgerUrl: rig.ledgerUrl,
      lockTtlMs,
      waitTimeoutMs,
    });
  }, 60_000);

  afterAll(async () => {
    await Promise.all((servers ?? []).map((s) => s.close()));
    await rig?.stop();
  });

  it('returns the holder its result, fails the waiters closed long before waitTimeoutMs, runs nothing twice, then recovers', async () => {
    const [a, b, c] = servers as [ChildServer, ChildServer, ChildServer];
    const key = `mid-run-${Date.now()}`;
    type R = { nonce: string; n: number };
    const call = (s: ChildServer): Promise<Settled<R>> =>
      settle(s.client.exec.mutate({ tag: key, ms: 1_500 }, { context: { key, user: 'gus' } }));
    const holder = call(a);
    const deadline = Date.now() + 5_000;
    while (Number(await ledger.get(ledgerKeys.started(key))) !== 1) {
      if (Date.now() > deadline) throw new Error('the holder did not start');
      await sleep(10);
    }
    const sameProcess = call(a);
    const waiters = [call(b), call(c), call(b)];
    await sleep(200);
    const killedAt = performance.now();
    await store.kill();

    const [first, joined] = await Promise.all([holder, sameProcess]);
    expect(first.ok).toBe(true);
    // The duplicate in the holder's own process shares its flight, so it gets the same result.
    expect(joined.ok && joined.value.nonce).toBe(first.ok && first.value.nonce);
    const events = a.events.filter((e) => e.path === 'exec').map((e) => e.type);
    expect(events).toContain('store-error');
    expect(events).toContain('miss');

    for (const w of await Promise.all(waiters)) {
      expect(!w.ok && w.code).toBe('SERVICE_UNAVAILABLE');
      expect(performance.now() - killedAt).toBeLessThan(waitTimeoutMs);
    }
    expect(Number(await ledger.get(ledgerKeys.started(key)))).toBe(1);

    await store.restart();
    const recoverBy = Date.now() + 15_000;
    let retry: Settled<R>;
    do {
      retry = await call(c);
      if (!retry.ok) await sleep(200);
    } while (!retry.ok && Date.now() < recoverBy);
    expect(retry.ok).toBe(true);
    // Either the late-resent write stored the first result, or the retry ran it again: at most twice.
    const runs = Number(await ledger.get(ledgerKeys.started(key)));
    if (runs === 1) expect(retry.ok && retry.value.nonce).toBe(first.ok && first.value.nonce);
    else expect(runs).toBe(2);
    for (const s of servers) expect((await s.stats()).inFlight).toBe(0);
  }, 40_000);
});

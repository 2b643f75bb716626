import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, until } from '../helpers/app';
import { ledgerKeys } from '../helpers/child-app';
import type { RedisServer } from '../helpers/redis-server';
import {
  type ChildServer,
  type Settled,
  settle,
  startChildServer,
  startChildServers,
  startStoreAndLedger,
} from '../helpers/server-pool';

const lockTtlMs = 1_000;
const waitTimeoutMs = 6_000;

/** Case 4: the process running the mutation is SIGKILLed; waiters in other processes take over. */
describe('holder process crash', () => {
  let rig: Awaited<ReturnType<typeof startStoreAndLedger>>;
  let store: RedisServer;
  let ledger: Redis;
  let holder: ChildServer;
  let waiters: ChildServer[];
  /** Gives up waiting long before the crashed holder's lock expires. */
  let impatient: ChildServer;

  beforeAll(async () => {
    rig = await startStoreAndLedger();
    ({ store, ledger } = rig);
    const config = { redis: { url: store.url }, ledgerUrl: rig.ledgerUrl, lockTtlMs, waitTimeoutMs };
    const started = await startChildServers(3, config);
    holder = started[0]!;
    waiters = started.slice(1);
    impatient = await startChildServer({ ...config, waitTimeoutMs: 400 });
  }, 60_000);

  afterAll(async () => {
    await Promise.all([holder, impatient, ...(waiters ?? [])].map((s) => s?.close()));
    await rig?.stop();
  });

  it('takes over within lockTtlMs plus a margin after SIGKILL; no caller waits past waitTimeoutMs', async () => {
    const key = `crash-${Date.now()}`;
    const call = (s: ChildServer) =>
      settle(s.client.exec.mutate({ tag: key, ms: 60_000, thenMs: 100 }, { context: { key, user: 'erin' } }));
    const first = call(holder);
    await until(async () => Number(await ledger.get(ledgerKeys.started(key))) === 1, 10_000, 'the holder to start');
    // Duplicates in two other processes, some before and some after the crash.
    const early: Promise<Settled<{ n: number; nonce: string; pid: number }>>[] = [];
    for (const w of waiters) for (let i = 0; i < 5; i++) early.push(call(w));
    const gaveUp = call(impatient);
    await sleep(lockTtlMs / 2);
    const killedAt = performance.now();
    holder.signal('SIGKILL');
    await holder.exited;
    const late = waiters.map((w) => call(w));

    const results = await Promise.all([...early, ...late]);
    const tookOverAfterMs = performance.now() - killedAt;
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(new Set(results.map((r) => (r.ok ? r.value.nonce : ''))).size).toBe(1);
    const winner = results[0]!.ok ? results[0]!.value : undefined;
    expect(winner?.n).toBe(2);
    expect(waiters.map((w) => w.pid)).toContain(winner?.pid);
    // The lock's remaining TTL is at most lockTtlMs at the kill, then the 100 ms rerun.
    expect(tookOverAfterMs).toBeLessThan(lockTtlMs + 2_000);
    for (const r of results) expect(r.ms).toBeLessThan(waitTimeoutMs);
    expect(Number(await ledger.get(ledgerKeys.started(key)))).toBe(2);
    expect(Number(await ledger.get(ledgerKeys.finished(key)))).toBe(1);

    const holderCall = await first;
    expect(holderCall.ok).toBe(false);
    expect(!holderCall.ok && holderCall.code).toBe('TRANSPORT');

    const conflict = await gaveUp;
    expect(!conflict.ok && conflict.code).toBe('CONFLICT');
    expect(conflict.ms).toBeLessThan(400 + 1_500);
    // The impatient process gets the result once it is there, without running it.
    const later = await call(impatient);
    expect(later.ok && later.value.nonce).toBe(winner?.nonce);
    expect(Number(await ledger.get(ledgerKeys.started(key)))).toBe(2);
    for (const w of [...waiters, impatient]) expect((await w.stats()).inFlight).toBe(0);
  }, 40_000);
});

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../helpers/app';
import { ledgerKeys } from '../helpers/child-app';
import { type RedisServer, startRedis } from '../helpers/redis-server';
import { type ChildServer, type Settled, settle, startChildServers } from '../helpers/server-pool';

let seq = 0;
const fresh = (label: string) => `${label}-${Date.now()}-${++seq}`;

/**
 * Case 2: the lock is a Redlock quorum of 3 independent masters (records on the first), used by two
 * server processes whose ioredis clients are on their default options.
 */
describe('Redlock quorum of 3 masters under master failures', () => {
  let masters: RedisServer[];
  let ledgerServer: RedisServer;
  let ledger: Redis;
  let servers: ChildServer[];
  // Short enough that a 3 s resolver needs several extensions, long enough that a loaded CI
  // machine's event-loop stalls do not expire it (that would be the documented at-least-once window).
  const lockTtlMs = 1_000;

  beforeAll(async () => {
    masters = await Promise.all([startRedis(), startRedis(), startRedis()]);
    ledgerServer = await startRedis();
    ledger = new Redis(ledgerServer.url);
    servers = await startChildServers(2, {
      redis: { url: masters[0]!.url },
      lockUrls: masters.map((m) => m.url),
      ledgerUrl: ledgerServer.url,
      lockTtlMs,
      waitTimeoutMs: 10_000,
    });
  }, 60_000);

  afterAll(async () => {
    await Promise.all((servers ?? []).map((s) => s.close()));
    ledger?.disconnect();
    await Promise.all([...(masters ?? []), ledgerServer].map((s) => s?.stop()));
  });

  const exec = (i: number, tag: string, ms: number) =>
    settle(servers[i % 2]!.client.exec.mutate({ tag, ms }, { context: { key: tag, user: 'dana' } }));
  const started = async (tag: string) => Number(await ledger.get(ledgerKeys.started(tag)));

  it('runs exactly once when one master dies mid-run, while the lock is being extended', async () => {
    const key = fresh('one-down');
    const calls: Promise<Settled<{ nonce: string }>>[] = [];
    // The resolver runs 3 s, three lock TTLs: the lock is extended with a master gone.
    for (let i = 0; i < 10; i++) calls.push(exec(i, key, 3_000));
    await sleep(300);
    await masters[2]!.kill();
    for (let wave = 0; wave < 5; wave++) {
      await sleep(250);
      for (let i = 0; i < 4; i++) calls.push(exec(i, key, 3_000));
    }
    const results = await Promise.all(calls);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(new Set(results.map((r) => (r.ok ? r.value.nonce : ''))).size).toBe(1);
    expect(await started(key)).toBe(1);
    expect(servers.flatMap((s) => s.events).filter((e) => e.type === 'lock-lost')).toEqual([]);

    // New keys still take the lock on the remaining 2 of 3, each exactly once.
    const keys = Array.from({ length: 10 }, () => fresh('two-of-three'));
    const more = await Promise.all(keys.flatMap((k) => [exec(0, k, 100), exec(1, k, 100), exec(0, k, 100)]));
    expect(more.filter((r) => !r.ok)).toEqual([]);
    expect(await Promise.all(keys.map(started))).toEqual(keys.map(() => 1));
  }, 30_000);

  it('fails closed with SERVICE_UNAVAILABLE when two of three are down: nothing runs, nothing hangs', async () => {
    const done = fresh('done-before');
    expect((await exec(0, done, 0)).ok).toBe(true);
    await Promise.all([masters[1]!.kill(), masters[2]!.kill()]);
    const keys = Array.from({ length: 6 }, () => fresh('no-quorum'));
    const results = await Promise.all(keys.flatMap((k) => [exec(0, k, 0), exec(1, k, 0)]));
    for (const r of results) {
      expect(r.ok).toBe(false);
      expect(!r.ok && r.code).toBe('SERVICE_UNAVAILABLE');
      expect(!r.ok && r.message).toMatch(/idempotency store is unavailable/);
      expect(r.ms).toBeLessThan(2_500);
    }
    expect(await Promise.all(keys.map(started))).toEqual(keys.map(() => 0));
    // A completed call is still replayed: its record lives on the surviving master.
    const replay = await exec(1, done, 0);
    expect(replay.ok).toBe(true);
    expect(await started(done)).toBe(1);
  }, 30_000);

  it('resumes once the masters are back, without restarting the servers', async () => {
    await Promise.all([masters[1]!.restart(), masters[2]!.restart()]);
    // Each server's clients reconnect on their own backoff: wait until both servers are serving.
    const deadline = Date.now() + 15_000;
    let probes: Settled<unknown>[];
    do {
      probes = await Promise.all([exec(0, fresh('probe'), 0), exec(1, fresh('probe'), 0)]);
      if (!probes.every((p) => p.ok)) await sleep(200);
    } while (!probes.every((p) => p.ok) && Date.now() < deadline);
    expect(probes.filter((p) => !p.ok)).toEqual([]);
    const key = fresh('after');
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => exec(i, key, 300)));
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(await started(key)).toBe(1);
  }, 30_000);
});

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredRecord } from '../../src/record';
import { redisStore } from '../../src/store/redis';
import { until } from '../helpers/app';
import { type RedisServer, startRedis } from '../helpers/redis-server';

/**
 * The record store's client, whose GET-record replies the test can hold back: the real reply from
 * the real Redis, handed over only once `gate` opens. Everything else goes straight through.
 */
function gated(client: Redis) {
  let gate: Promise<void> | undefined;
  let looked: () => void = () => {};
  const proxy = new Proxy(client, {
    get(target, prop) {
      if (prop === 'pipeline') {
        return () => {
          const pipeline = target.pipeline();
          const exec = pipeline.exec.bind(pipeline);
          pipeline.exec = async () => {
            const replies = await exec();
            looked();
            if (gate) await gate;
            return replies;
          };
          return pipeline;
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    proxy,
    /** Holds back the next lookups; resolves `looked` once one has its reply. */
    hold(): { looked: Promise<void>; open: () => void } {
      let open: () => void = () => {};
      gate = new Promise((resolve) => {
        open = () => {
          gate = undefined;
          resolve();
        };
      });
      return { looked: new Promise((resolve) => (looked = resolve)), open };
    },
  };
}

const record: StoredRecord = { status: 'ok', fingerprint: 'f', createdAt: Date.now(), body: '{"json":1}' };

/**
 * Regression: with a Redlock quorum, a claim looked for the record, then took the lock. A holder
 * that stored its record and released the lock in between left the claim with a free lock and no
 * record in sight, so the mutation ran a second time.
 */
describe('claim on a Redlock quorum, racing a holder that completes', () => {
  let masters: RedisServer[];
  let clients: Redis[];
  beforeAll(async () => {
    masters = await Promise.all([startRedis(), startRedis(), startRedis()]);
    clients = masters.map((m) => new Redis(m.url));
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await Promise.all((masters ?? []).map((m) => m.stop()));
  });

  it('replays the record stored between its look and its lock, and leaves the lock free', async () => {
    const [a, b, c] = clients as [Redis, Redis, Redis];
    const holder = redisStore({ redis: a, lockClients: [a, b, c] });
    const late = gated(a);
    const duplicate = redisStore({ redis: late.proxy, lockClients: [late.proxy, b, c] });
    const id = `race-${Date.now()}`;

    const first = await holder.claim(id, 5_000);
    if (first.status !== 'claimed') throw new Error(`expected the first claim to take the lock, got ${first.status}`);
    const held = late.hold();
    const second = duplicate.claim(id, 5_000);
    await held.looked; // the duplicate has seen no record yet
    expect(await holder.complete(first.lease, record, 60)).toBe(true);
    const lockKey = `idem:{${id}}:l`;
    const free = async () => (await Promise.all(clients.map((x) => x.exists(lockKey)))).every((n) => n === 0);
    await until(free, 2_000, 'the holder to release its lock');
    held.open();

    const claim = await second;
    expect(claim.status).toBe('done');
    expect(claim.status === 'done' && claim.record.body).toBe(record.body);
    // The lock it took to look again is given back.
    await until(free, 2_000, 'the duplicate to release the lock it took');
    await Promise.all([holder.close(), duplicate.close()]);
  });
});

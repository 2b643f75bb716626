import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/store/bounded';
import { QuorumLock } from '../../src/store/quorum';
import { sleep, until } from '../helpers/app';
import { type RedisServer, startRedis } from '../helpers/redis-server';

/** Three throwaway masters for the suite, and a client of each (errors from killed ones ignored). */
function threeMasters(ready: (masters: RedisServer[], clients: Redis[]) => void): void {
  let masters: RedisServer[] = [];
  let clients: Redis[] = [];
  beforeAll(async () => {
    masters = await Promise.all([startRedis(), startRedis(), startRedis()]);
    clients = masters.map((m) => {
      const c = new Redis(m.url);
      c.on('error', () => {});
      return c;
    });
    ready(masters, clients);
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await Promise.all(masters.map((m) => m.stop()));
  });
}

/**
 * Regression: two servers race for a lock over 3 masters; the winner gets masters 2 and 3 (the
 * loser had master 1 and released it). Then master 3 dies. With redlock's own extend script, the
 * winner held 1 of 3, could not extend, and its lock expired under the running mutation, so the
 * other server ran it a second time. The extend script now also takes free keys, so the holder
 * rebuilds its quorum on masters 1 and 2.
 */
describe('Redlock extension after losing a master of a bare quorum', () => {
  let masters: RedisServer[];
  let clients: Redis[];
  threeMasters((m, c) => {
    masters = m;
    clients = c;
  });

  it('keeps the lock on the surviving majority, and a rival still cannot take it', async () => {
    const lock = new QuorumLock(clients, 1_000);
    const acquired = await lock.acquire('bare-quorum', 2_000);
    if (acquired.status !== 'acquired') throw new Error('expected the lock');
    // As after the race: the holder's token was never written on master 1.
    await clients[0]!.del('bare-quorum');
    await masters[2]!.kill();

    const extended = await lock.extend(acquired.lock, 2_000);
    expect(extended).not.toBeNull();
    expect(await clients[0]!.get('bare-quorum')).toBe(acquired.lock.value);
    expect(await clients[1]!.get('bare-quorum')).toBe(acquired.lock.value);

    const rival = new QuorumLock(clients, 1_000);
    expect((await rival.acquire('bare-quorum', 2_000)).status).toBe('busy');
  });

  it('extends a lock past its validity here that the master still holds for it', async () => {
    const lock = new QuorumLock(clients.slice(0, 1), 1_000);
    const acquired = await lock.acquire('late-validity', 300);
    if (acquired.status !== 'acquired') throw new Error('expected the lock');
    // As after an extension that timed out here but ran late on the master: the lock is still ours.
    await clients[0]!.set('late-validity', acquired.lock.value, 'PX', 2_000);
    await sleep(350); // past its validity here
    const extended = await lock.extend(acquired.lock, 2_000);
    expect(extended).not.toBeNull();
    expect(await clients[0]!.get('late-validity')).toBe(acquired.lock.value);
  });

  it('reports a lock past its validity as lost once a rival holds it', async () => {
    const lock = new QuorumLock(clients.slice(0, 1), 1_000);
    const acquired = await lock.acquire('taken-over', 300);
    if (acquired.status !== 'acquired') throw new Error('expected the lock');
    await sleep(350);
    const rival = new QuorumLock(clients.slice(0, 1), 1_000);
    expect((await rival.acquire('taken-over', 2_000)).status).toBe('acquired');
    expect(await lock.extend(acquired.lock, 2_000)).toBeNull();
  });
});

/**
 * Regression: an acquire that timed out here could still win its votes later, leaving a lock that
 * nobody would complete or release, and every duplicate busy until its TTL ran out.
 */
describe('Redlock acquire that answers after its deadline', () => {
  let masters: RedisServer[];
  let clients: Redis[];
  threeMasters((m, c) => {
    masters = m;
    clients = c;
  });

  it('gives the lock back once the late votes win it', async () => {
    const lock = new QuorumLock(clients, 100);
    masters[1]!.pause();
    masters[2]!.pause();
    try {
      await expect(lock.acquire('late-votes', 10_000)).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      masters[1]!.resume();
      masters[2]!.resume();
    }
    const held = async () => (await Promise.all(clients.map((c) => c.exists('late-votes')))).some((n) => n === 1);
    await until(async () => !(await held()), 3_000, 'the late lock to be released');
    expect(await held()).toBe(false);
  });
});

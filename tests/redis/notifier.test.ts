import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/store/bounded';
import { Notifier } from '../../src/store/notifier';
import { type RedisServer, startRedis } from '../helpers/redis-server';

const setImmediateTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('Notifier on a real Redis', () => {
  let server: RedisServer;
  let admin: Redis;
  let source: Redis;
  let notifier: Notifier;
  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    admin.disconnect();
    await server.stop();
  });
  beforeEach(async () => {
    source = new Redis(server.url, { maxRetriesPerRequest: 1 });
    notifier = new Notifier(source, 500);
    await admin.config('RESETSTAT');
  });
  afterEach(async () => {
    await notifier.close();
    source.disconnect();
  });

  const unsubscribes = async () =>
    Number(/cmdstat_unsubscribe:calls=(\d+)/.exec((await admin.info('commandstats')) as string)?.[1] ?? 0);
  const channels = async () => ((await admin.pubsub('CHANNELS', 'n:*')) as string[]).sort();

  it('wakes a watcher with the message, and leaves the channel after it is closed', async () => {
    const watch = await notifier.watch('n:a');
    const next = watch.next(5_000);
    await admin.publish('n:a', 'record');
    await expect(next).resolves.toBe('record');
    watch.close();
    await expect.poll(channels).toEqual([]);
  });

  it('unsubscribes after the current I/O phase, every channel left in it in one command', async () => {
    const watches = await Promise.all(['n:1', 'n:2', 'n:3', 'n:4'].map((c) => notifier.watch(c)));
    expect(await channels()).toEqual(['n:1', 'n:2', 'n:3', 'n:4']);
    for (const w of watches) w.close();
    await setImmediateTurn();
    await expect.poll(channels).toEqual([]);
    expect(await unsubscribes()).toBe(1);
  });

  it('keeps a channel that a new waiter watches before the sweep, and that waiter still gets the message', async () => {
    const first = await notifier.watch('n:again');
    first.close();
    const second = await notifier.watch('n:again'); // same tick as the close: the channel is reused
    await setImmediateTurn();
    expect(await channels()).toEqual(['n:again']);
    const next = second.next(5_000);
    await admin.publish('n:again', 'still here');
    await expect(next).resolves.toBe('still here');
    expect(await unsubscribes()).toBe(0);
    second.close();
    await expect.poll(channels).toEqual([]);
  });

  it('does not reuse a subscription that timed out: the next waiter subscribes afresh', async () => {
    await notifier.watch('n:warm').then((w) => w.close()); // the subscriber connection is open
    server.pause();
    try {
      await expect(notifier.watch('n:late')).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      server.resume();
    }
    const watch = await notifier.watch('n:late');
    const next = watch.next(5_000);
    await admin.publish('n:late', 'after the outage');
    await expect(next).resolves.toBe('after the outage');
    watch.close();
    await expect.poll(channels).toEqual([]);
  });
});

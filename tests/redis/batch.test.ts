import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLS_PER_COMMAND, ScriptBatcher, ScriptCallError } from '../../src/store/batch';
import { StoreUnavailableError } from '../../src/store/bounded';
import { CLAIM, COMPLETE, RELEASE } from '../../src/store/scripts';
import { type RedisServer, startRedis } from '../helpers/redis-server';

/** Script commands the server ran, by name, from INFO commandstats. */
async function scriptCommands(redis: Redis): Promise<{ evalsha: number; eval: number }> {
  const info = (await redis.info('commandstats')) as string;
  const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
  return { evalsha: calls('evalsha'), eval: calls('eval') };
}

describe('ScriptBatcher on a real Redis', () => {
  let server: RedisServer;
  let redis: Redis;
  let batcher: ScriptBatcher;
  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    batcher = new ScriptBatcher(redis);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });

  const claim = (id: string, token: string) =>
    batcher.run(CLAIM, [`r:${id}`, `l:${id}`, `s:${id}`], [token, 10_000], 1_000);

  it(`runs the calls of one tick as one command per ${CALLS_PER_COMMAND} calls, each with its own answer`, async () => {
    await redis.set('r:b-3', 'stored');
    await redis.set('l:b-5', 'someone-else', 'PX', 10_000);
    await redis.config('RESETSTAT');
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => claim(`b-${i}`, `t${i}`)));
    expect(replies[3]).toEqual([1, 'stored', -1]);
    expect(replies[5]).toEqual([2, expect.any(Number)]);
    replies.forEach((reply, i) => {
      if (i !== 3 && i !== 5) expect(reply).toEqual([3, 0]);
    });
    // One EVALSHA each would have been 20.
    expect((await scriptCommands(redis)).evalsha).toBe(Math.ceil(20 / CALLS_PER_COMMAND));
    expect(await redis.get('l:b-7')).toBe('t7');
  });

  it('fails only the call whose key holds the wrong type; the rest of its command goes through', async () => {
    await redis.hset('r:bad', 'field', 'x');
    const settled = await Promise.allSettled([claim('ok-1', 't1'), claim('bad', 't2'), claim('ok-2', 't3')]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const { reason } = settled[1] as PromiseRejectedResult;
    expect(reason).toBeInstanceOf(ScriptCallError);
    expect(String(reason.message)).toMatch(/^claim: .*WRONGTYPE/);
    expect(await redis.get('l:ok-2')).toBe('t3');
  });

  it('fails every call of a command that Redis refuses as a whole (out of memory)', async () => {
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    await redis.config('SET', 'maxmemory', '1');
    try {
      const settled = await Promise.allSettled([claim('oom-1', 't'), claim('oom-2', 't'), claim('oom-3', 't')]);
      for (const s of settled) {
        expect(s.status).toBe('rejected');
        expect(String((s as PromiseRejectedResult).reason)).toMatch(/OOM/);
      }
    } finally {
      await redis.config('SET', 'maxmemory', '0');
    }
    expect(await redis.exists('l:oom-1', 'l:oom-2', 'l:oom-3')).toBe(0);
  });

  it('runs different scripts issued in one tick, each as its own command', async () => {
    await claim('mixed', 'holder');
    const [completed, released, claimed] = await Promise.all([
      batcher.run(COMPLETE, ['r:mixed', 'l:mixed'], ['holder', 'record', 60, 'c:mixed'], 1_000),
      batcher.run(RELEASE, ['l:nobody'], ['t', 'c:nobody'], 1_000),
      claim('mixed-2', 't'),
    ]);
    expect([completed, released, claimed]).toEqual([1, 0, [3, 0]]);
    expect(await redis.get('r:mixed')).toBe('record');
    expect(await redis.exists('l:mixed')).toBe(0);
  });

  it('loads the many form with EVAL on a server that has not seen it, then uses EVALSHA', async () => {
    await redis.script('FLUSH');
    await redis.config('RESETSTAT');
    const first = await Promise.all([claim('f-1', 't'), claim('f-2', 't')]);
    const again = await Promise.all([claim('f-3', 't'), claim('f-4', 't')]);
    expect([...first, ...again]).toEqual([
      [3, 0],
      [3, 0],
      [3, 0],
      [3, 0],
    ]);
    expect(await scriptCommands(redis)).toEqual({ evalsha: 2, eval: 1 });
  });

  it('lets a reply that arrived while the event loop was blocked win over a deadline that expired then', async () => {
    await claim('stall-warm', 't'); // the script is loaded: one round trip to wait for, not two
    const pending = batcher.run(CLAIM, ['r:stall', 'l:stall', 's:stall'], ['t', 10_000], 50);
    await new Promise<void>((resolve) => process.nextTick(resolve)); // the command is on the wire now
    const blockedUntil = performance.now() + 200; // a long GC pause or a starved CPU, say
    while (performance.now() < blockedUntil) {
      // Redis answers meanwhile; the answer waits in the socket while the 50 ms timer expires.
    }
    expect(await pending).toEqual([3, 0]);
  });

  it('bounds every call of a command by its deadline while Redis does not answer', async () => {
    server.pause();
    try {
      const startedAt = performance.now();
      const settled = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) =>
          batcher.run(CLAIM, [`r:p-${i}`, `l:p-${i}`, `s:p-${i}`], ['t', 10_000], 200),
        ),
      );
      const waited = performance.now() - startedAt;
      for (const s of settled) {
        expect(s.status).toBe('rejected');
        expect((s as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
      }
      expect(waited).toBeGreaterThanOrEqual(190);
      expect(waited).toBeLessThan(5_000); // bounded, not ioredis' own retry schedule
    } finally {
      server.resume();
    }
    // The paused commands ran once Redis woke up; the connection serves again.
    expect(await claim('after-pause', 't')).toEqual([3, 0]);
  });

  it('fails each call of a command at its own deadline, not at the earliest one among them', async () => {
    await claim('own-deadline-warm', 't');
    server.pause();
    let short: PromiseSettledResult<unknown>[];
    let long: Promise<unknown>;
    try {
      // One tick, one command: a call with 50 ms left (it waited for the connection, say) and one with 2 s.
      const shortCall = batcher.run(CLAIM, ['r:own-1', 'l:own-1', 's:own-1'], ['t', 10_000], 50);
      long = batcher.run(CLAIM, ['r:own-2', 'l:own-2', 's:own-2'], ['t', 10_000], 2_000);
      short = await Promise.allSettled([shortCall]);
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      server.resume();
    }
    expect(short[0]?.status).toBe('rejected');
    expect((short[0] as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
    expect(String((short[0] as PromiseRejectedResult).reason.message)).toMatch(/within 50 ms/);
    // Redis woke up within the second call's budget: it gets its answer.
    expect(await long).toEqual([3, 0]);
  });
});

import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { CLAIM, COMPLETE, EXTEND, FORGET, RELEASE, runScript, SAVE_STEP } from '../../src/store/scripts';
import { until } from '../helpers/app';
import { redisForSuite } from '../helpers/redis-server';

describe('Lua scripts', () => {
  // Pinned so that a change to a script is a deliberate, reviewed change (servers cache by SHA).
  it('keep their pinned SHA1s', () => {
    expect({
      claim: CLAIM.sha,
      complete: COMPLETE.sha,
      release: RELEASE.sha,
      extend: EXTEND.sha,
      saveStep: SAVE_STEP.sha,
      forget: FORGET.sha,
    }).toMatchInlineSnapshot(`
      {
        "claim": "97697979232469c3eaf9f284c0748fbbfe272a40",
        "complete": "b9a7d98b74072303c328ba76ea4aab624e806a84",
        "extend": "1b92e23ca76d95da8e2f0f73ff4f61278f04d968",
        "forget": "ae1eb132f4c8865f79a2f202cf23074b6226c051",
        "release": "e4768120c48f259acbe26eca65c0597f3f40c7b7",
        "saveStep": "6f65e15ed7dd170230c68b94e7f28bfb4dc4112f",
      }
    `);
  });

  describe('on a real Redis', () => {
    const suite = redisForSuite();

    it('falls back to EVAL once on a server that does not know the script, then uses EVALSHA', async () => {
      await suite.redis.script('FLUSH');
      expect(await runScript(suite.redis, CLAIM, ['r', 'l', 's'], ['t', 1000])).toEqual([3, 0]);
      expect(await suite.redis.script('EXISTS', CLAIM.sha)).toEqual([1]);
      expect(await runScript(suite.redis, CLAIM, ['r', 'l', 's'], ['t2', 1000])).toEqual([2, expect.any(Number)]);
    });

    it('claim returns the record when there is one, without touching the lock', async () => {
      await suite.redis.set('r2', 'rec');
      expect(await runScript(suite.redis, CLAIM, ['r2', 'l2', 's2'], ['t', 1000])).toEqual([1, 'rec', -1]);
      expect(await suite.redis.exists('l2')).toBe(0);
    });

    it('claim tells a new holder whether an earlier attempt left steps', async () => {
      await suite.redis.hset('s10', 'charge', 'f\n{"json":1}');
      expect(await runScript(suite.redis, CLAIM, ['r10', 'l10', 's10'], ['t', 1000])).toEqual([3, 1]);
      expect(await runScript(suite.redis, CLAIM, ['r11', 'l11', 's11'], ['t', 1000])).toEqual([3, 0]);
    });

    it('complete writes nothing while another token holds the lock', async () => {
      await suite.redis.set('l3', 'other', 'PX', 5000);
      expect(await runScript(suite.redis, COMPLETE, ['r3', 'l3'], ['mine', 'rec', 60, 'c'])).toBe(0);
      expect(await suite.redis.exists('r3')).toBe(0);
      expect(await suite.redis.get('l3')).toBe('other');
    });

    it("extend renews its own lock, takes a free key, and leaves another token's lock alone", async () => {
      await suite.redis.set('l5', 'mine', 'PX', 100);
      expect(await runScript(suite.redis, EXTEND, ['l5'], ['mine', 5000])).toBe(1);
      expect(await suite.redis.pttl('l5')).toBeGreaterThan(1000);
      expect(await runScript(suite.redis, EXTEND, ['l6'], ['mine', 5000])).toBe(1);
      expect(await suite.redis.get('l6')).toBe('mine');
      await suite.redis.set('l7', 'other', 'PX', 5000);
      expect(await runScript(suite.redis, EXTEND, ['l7'], ['mine', 5000])).toBe(0);
      expect(await suite.redis.get('l7')).toBe('other');
    });

    it('forget refuses while the lock is held, deletes record and steps, and when forced the lock too, waking the waiters', async () => {
      await suite.redis.set('r8', 'rec');
      await suite.redis.hset('s8', 'charge', '{"json":1}');
      await suite.redis.set('l8', 'holder', 'PX', 5000);
      // Every message on the waiters' channels (c8, c9) and the forget channel (f), in order.
      const heard: string[] = [];
      const listener = new Redis(suite.server.url);
      await listener.subscribe('c8', 'f');
      listener.on('message', (channel: string, text: string) => heard.push(`${channel} ${text}`));
      expect(await runScript(suite.redis, FORGET, ['r8', 'l8', 's8'], ['0', 'c8', 'f', 'id8'])).toEqual([
        2,
        expect.any(Number),
      ]);
      expect(await suite.redis.exists('r8', 's8', 'l8')).toBe(3);
      expect(await runScript(suite.redis, FORGET, ['r8', 'l8', 's8'], ['1', 'c8', 'f', 'id8'])).toEqual([1]);
      expect(await suite.redis.exists('r8', 's8', 'l8')).toBe(0);
      expect(await runScript(suite.redis, FORGET, ['r8', 'l8', 's8'], ['0', 'c8', 'f', 'id8'])).toEqual([0]);
      await suite.redis.set('r9', 'rec');
      expect(await runScript(suite.redis, FORGET, ['r9', 'l9', 's9'], ['0', 'c9', 'f', 'id9'])).toEqual([1]);
      expect(await suite.redis.exists('r9')).toBe(0);
      await suite.redis.publish('f', 'end'); // after every message above, on the same server
      await until(async () => heard.at(-1) === 'f end', 2_000, 'the messages');
      // Refused and nothing-there announce nothing; a forced forget wakes the waiters ('0').
      expect(heard).toEqual(['f id8', 'c8 0', 'f id9', 'f end']);
      listener.disconnect();
    });

    it("release leaves another token's lock alone", async () => {
      await suite.redis.set('l4', 'other', 'PX', 5000);
      expect(await runScript(suite.redis, RELEASE, ['l4'], ['mine', 'c'])).toBe(0);
      expect(await suite.redis.get('l4')).toBe('other');
    });
  });
});

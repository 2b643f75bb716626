import { describe, expect, it } from 'vitest';
import { memoryStore } from '../../src';
import { makeApp, sleep } from '../helpers/app';
import { describeStoreContract } from './store-contract';

describeStoreContract('memoryStore', async () => {
  const store = memoryStore();
  return { store, teardown: () => store.close() };
});

/**
 * Only a store without I/O lets a holder finish while the event loop is still catching up on a
 * blocked stretch (a Redis completion needs the loop to read its reply first).
 */
describe('a duplicate whose deadline passed while the event loop was blocked', () => {
  it('takes the result that came in the same turn of the loop, with no conflict event', async () => {
    const store = memoryStore();
    const app = makeApp({ store, waitTimeoutMs: 30 });
    const key = `blocked-${Date.now()}`;
    const first = app.caller(key).slow({ ms: 60 });
    await sleep(20);
    const second = app.caller(key).slow({ ms: 60 }); // joins the first call's flight
    await sleep(5);
    // The duplicate's deadline (about 50 ms), then the resolver (60 ms), expire meanwhile; the loop
    // then runs both timers before it looks at the deadline's expiry.
    const blockedUntil = performance.now() + 150;
    while (performance.now() < blockedUntil) {
      // a long GC pause or a starved CPU, say
    }
    expect(await Promise.all([first, second])).toEqual([{ n: 1 }, { n: 1 }]);
    await new Promise((resolve) => setImmediate(resolve)); // the expired deadline's own turn
    expect(app.events.map((e) => e.type).sort()).toEqual(['miss', 'wait']);
    await store.close();
  });
});

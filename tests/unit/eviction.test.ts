import { describe, expect, it } from 'vitest';
import type { StoredRecord } from '../../src/record';
import { EvictionCursor } from '../../src/store/eviction';
import { memoryStore } from '../../src/store/memory';
import { seededRandom } from '../helpers/random';

describe('EvictionCursor', () => {
  it('always takes the oldest entry still in the map, across deletes, re-sets and an emptied map', () => {
    const map = new Map<string, number>();
    const cursor = new EvictionCursor(map);
    expect(cursor.evict()).toBeUndefined();
    const random = seededRandom(11);
    for (let step = 0; step < 20_000; step++) {
      const key = `k${random(200)}`;
      const action = random(10);
      if (action < 5) {
        map.delete(key); // set again: it becomes the newest
        map.set(key, step);
      } else if (action < 7) {
        map.delete(key);
      } else {
        const oldest = map.entries().next().value; // what a fresh iteration finds, the slow way
        expect(cursor.evict()).toEqual(oldest);
      }
      if (step % 4_000 === 3_999) {
        while (cursor.evict());
        expect(map.size).toBe(0);
      }
    }
  });
});

describe('memoryStore maxEntries', () => {
  const record = (body: string): StoredRecord => ({ status: 'ok', fingerprint: 'f', createdAt: 0, body });

  it('keeps the newest records and drops the oldest first', async () => {
    const store = memoryStore({ maxEntries: 3 });
    for (let i = 0; i < 1_000; i++) {
      const claim = await store.claim(`id-${i}`, 10_000);
      if (claim.status !== 'claimed') throw new Error(`id-${i} was not claimed`);
      expect(await store.complete(claim.lease, record(String(i)), 60)).toBe(true);
    }
    expect(store.size).toBe(3);
    for (const i of [997, 998, 999]) {
      const claim = await store.claim(`id-${i}`, 10_000);
      expect(claim.status === 'done' && claim.record.body).toBe(String(i));
    }
    expect((await store.claim('id-996', 10_000)).status).toBe('claimed');
    await store.close();
  });
});

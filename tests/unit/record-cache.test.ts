import { describe, expect, it, vi } from 'vitest';
import { encodeRecord } from '../../src/record';
import { RecordCache } from '../../src/store/record-cache';
import { seededRandom } from '../helpers/random';

/** A record as stored, which is what the cache holds. */
const record = (body: string) => encodeRecord({ status: 'ok', fingerprint: 'f', createdAt: 0, body });

describe('RecordCache', () => {
  it('drops the least recently used entry past maxEntries', () => {
    const cache = new RecordCache(2, 1_000_000);
    cache.set('a', record('1'), 60_000, 0);
    cache.set('b', record('2'), 60_000, 0);
    expect(cache.get('a')?.body).toBe('1'); // a is now the most recent
    cache.set('c', record('3'), 60_000, 0);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.body).toBe('1');
    expect(cache.size).toBe(2);
  });

  it('evicts in exact LRU order through long runs of sets, hits, overwrites and refills', () => {
    const cache = new RecordCache(50, 1_000_000);
    const model: string[] = []; // least recently used first
    const touch = (id: string) => {
      const at = model.indexOf(id);
      if (at !== -1) model.splice(at, 1);
      model.push(id);
    };
    const random = seededRandom(7);
    for (let step = 0; step < 20_000; step++) {
      const id = `k${random(120)}`;
      if (random(3) === 0) {
        const hit = cache.get(id);
        expect(hit !== undefined).toBe(model.includes(id));
        if (hit) touch(id);
      } else {
        cache.set(id, record(id), 60_000, 0);
        touch(id);
        if (model.length > 50) model.shift();
      }
      if (step % 5_000 === 4_999) {
        // Drain and refill: the eviction cursor must start over on a map that emptied.
        for (const id of model) expect(cache.get(id)?.body).toBe(id);
        model.length = 0;
        for (let i = 0; i < 60; i++) cache.set(`drain${step}-${i}`, record(`drain${step}-${i}`), 60_000, 0);
        for (let i = 10; i < 60; i++) model.push(`drain${step}-${i}`);
      }
    }
    expect(cache.size).toBe(model.length);
    for (const id of model) expect(cache.get(id)?.body).toBe(id);
  });

  it('stays under maxBytes, and never holds a record larger than it', () => {
    const cache = new RecordCache(100, 1_000);
    cache.set('big', record('x'.repeat(2_000)), 60_000, 0);
    expect(cache.get('big')).toBeUndefined();
    for (let i = 0; i < 10; i++) cache.set(`k${i}`, record('x'.repeat(100)), 60_000, 0);
    expect(cache.size).toBeLessThan(10);
    expect(cache.get('k9')).toBeDefined();
  });

  it('forgets a record when it expires in Redis', () => {
    vi.useFakeTimers();
    try {
      const cache = new RecordCache(10, 1_000_000);
      cache.set('a', record('1'), 1_000, 0);
      vi.advanceTimersByTime(999);
      expect(cache.get('a')).toBeDefined();
      vi.advanceTimersByTime(2);
      expect(cache.get('a')).toBeUndefined();
      expect(cache.size).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('forgets a record, and keeps a replay that read it before the forget from caching it again', () => {
    const cache = new RecordCache(10, 1_000_000);
    const readBefore = performance.now();
    cache.set('a', record('1'), 60_000, readBefore);
    cache.forget('a');
    expect(cache.get('a')).toBeUndefined();
    // Its reply came after the notice of the forget: it must not bring the record back.
    cache.set('a', record('1'), 60_000, readBefore);
    expect(cache.get('a')).toBeUndefined();
    // A replay that read after the forget found a new record: that one is cached.
    cache.set('a', record('2'), 60_000, performance.now() + 1);
    expect(cache.get('a')?.body).toBe('2');
    // Forgetting an id never cached leaves the rest alone.
    cache.forget('b');
    expect(cache.size).toBe(1);
  });

  it('keeps the last 1 000 forget marks, and empties on clear', () => {
    const cache = new RecordCache(10, 1_000);
    const readBefore = performance.now();
    for (let i = 0; i <= 1_000; i++) cache.forget(`f${i}`);
    cache.set('f0', record('0'), 60_000, readBefore); // its mark was the oldest, and is gone
    cache.set('f1', record('1'), 60_000, readBefore);
    expect(cache.get('f0')?.body).toBe('0');
    expect(cache.get('f1')).toBeUndefined();
    cache.clear();
    expect(cache.size).toBe(0);
    // The byte count started over too: as much fits again as in an empty cache.
    for (let i = 0; i < 3; i++) cache.set(`k${i}`, record('x'.repeat(100)), 60_000, performance.now());
    expect(cache.size).toBe(3);
  });

  it('holds nothing when turned off', () => {
    const cache = new RecordCache(0, 0);
    cache.set('a', record('1'), 60_000, 0);
    expect(cache.get('a')).toBeUndefined();
  });
});

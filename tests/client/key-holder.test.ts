import { describe, expect, it } from 'vitest';
import { createIdempotencyKeyHolder } from '../../src/client';

/** A generateKey that counts what it mints: k1, k2... */
function counting() {
  let minted = 0;
  return {
    generateKey: () => `k${++minted}`,
    get minted() {
      return minted;
    },
  };
}

describe('createIdempotencyKeyHolder', () => {
  it('mints nothing until the key is read, then gives the same key on every read', () => {
    const keys = counting();
    const holder = createIdempotencyKeyHolder({ generateKey: keys.generateKey });
    expect(keys.minted).toBe(0);
    expect(holder.get()).toBe('k1');
    expect(holder.get()).toBe('k1');
    expect(keys.minted).toBe(1);
  });

  it('reset() starts a new action: a new key, minted lazily without subscribers', () => {
    const keys = counting();
    const holder = createIdempotencyKeyHolder({ generateKey: keys.generateKey });
    holder.get();
    holder.reset();
    expect(keys.minted).toBe(1);
    expect(holder.get()).toBe('k2');
  });

  it('finish(key) retires only the current key: a late older call leaves the newer action alone', () => {
    const holder = createIdempotencyKeyHolder({ generateKey: counting().generateKey });
    const first = holder.get();
    holder.finish(first);
    const second = holder.get();
    expect(second).not.toBe(first);
    holder.finish(first); // the overlapping duplicate of the first action succeeds late
    expect(holder.get()).toBe(second);
  });

  it('subscribe gives the current key at once and every new key, until unsubscribed (Svelte store contract)', () => {
    const holder = createIdempotencyKeyHolder({ generateKey: counting().generateKey });
    const seen: string[] = [];
    const unsubscribe = holder.subscribe((key) => seen.push(key));
    holder.reset();
    holder.finish('not-current');
    holder.finish(holder.get());
    unsubscribe();
    holder.reset();
    expect(seen).toEqual(['k1', 'k2', 'k3']);
    expect(holder.get()).toBe('k4');
  });

  it('uses crypto.randomUUID by default, and refuses a generateKey that returns no key', () => {
    expect(createIdempotencyKeyHolder().get()).toMatch(/^[0-9a-f-]{36}$/);
    const empty = createIdempotencyKeyHolder({ generateKey: () => '' });
    expect(() => empty.get()).toThrow(/generateKey returned ""; return a non-empty string/);
  });
});

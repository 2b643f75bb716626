import fc from 'fast-check';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/key';
import { isPlainJson, sortedPlainJson } from '../../src/plain-json';
import { recordFor } from '../../src/record';

/**
 * The plain-JSON fast paths must write exactly what the superjson paths write: fingerprints and
 * record bodies are stored, and other processes (or versions) compare against them. Values are
 * taken first with the fast paths on, then again after registering a custom superjson transformer,
 * which turns them off (this file has its own module instances, so the registration stays here).
 */

const shared = { s: 'shared' };
/** A sparse array, built so (a literal hole reads as a typo). */
const holey = (): unknown[] => {
  const array: unknown[] = [1];
  array[2] = 3;
  return array;
};
const valueArb = fc.oneof(
  fc.jsonValue(),
  fc.anything({
    withBigInt: true,
    withBoxedValues: false,
    withDate: true,
    withMap: true,
    withNullPrototype: true,
    withSet: true,
    withSparseArray: true,
    withObjectString: true,
    withTypedArray: false,
    withUnicodeString: true,
  }),
  // Shapes the generators rarely hit: a shared reference, -0, keys superjson refuses.
  fc.constantFrom<unknown>(
    { a: shared, b: shared },
    [shared, shared],
    { n: -0 },
    { constructor: 1 },
    { prototype: { x: 1 } },
    JSON.parse('{"__proto__": {"polluted": true}}'),
    { nested: holey() },
    { toJSON: 'not a function' },
  ),
);

type Seen = { fingerprint: string } | { refused: string };

function fingerprintOf(value: unknown): Seen {
  try {
    return { fingerprint: fingerprint(value) };
  } catch (error) {
    return { refused: (error as { code?: string }).code ?? String(error) };
  }
}

const bodyOf = (value: unknown) =>
  recordFor({ ok: true, data: value }, { fingerprint: 'f', maxResultBytes: 1_000_000, cacheErrors: () => false });

describe('plain-JSON fast paths', () => {
  it('are taken for plain values, and sort keys at every level', () => {
    expect(isPlainJson({ a: [1, 'x', null, true, { b: 2 }] })).toBe(true);
    expect(sortedPlainJson({ b: 1, a: [{ d: 1, c: 2 }] })).toBe('{"a":[{"c":2,"d":1}],"b":1}');
    for (const notPlain of [new Date(0), 1n, undefined, -0, Number.NaN, { a: undefined }, new Map(), holey()]) {
      expect(isPlainJson(notPlain)).toBe(false);
      expect(sortedPlainJson(notPlain)).toBeUndefined();
    }
  });

  it('write what superjson writes, for fingerprints and record bodies alike', () => {
    const values = fc.sample(valueArb, { numRuns: 3_000, seed: 20261124 });
    const fast = values.map((v) => ({ fingerprint: fingerprintOf(v), record: bodyOf(v) }));
    expect(values.filter((v) => isPlainJson(v)).length).toBeGreaterThan(500); // the fast path was exercised

    superjson.registerCustom<never, string>(
      { isApplicable: (_v): _v is never => false, serialize: () => '', deserialize: () => undefined as never },
      'never-applies',
    );
    expect(isPlainJson({ a: 1 })).toBe(false); // the fast paths are now off

    values.forEach((value, i) => {
      const slow = { fingerprint: fingerprintOf(value), record: bodyOf(value) };
      expect({ value, ...fast[i] }).toEqual({
        value,
        ...slow,
        record: { ...slow.record, createdAt: expect.any(Number) },
      });
    });
  });
});

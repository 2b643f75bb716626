import { describe, expect, it } from 'vitest';
import { fingerprint, parseKey, readKeyHeader, scopeKey } from '../../src/key';

describe('scopeKey', () => {
  it('keeps user a:b + key c apart from user a + key b:c', () => {
    expect(scopeKey('a:b', 'p', 'c')).not.toBe(scopeKey('a', 'p', 'b:c'));
    expect(scopeKey('a', 'p:q', 'k')).not.toBe(scopeKey('a', 'p', 'q:k'));
  });

  it('is deterministic, has no braces (the Cluster hash tag) and separates anonymous callers', () => {
    expect(scopeKey('u', 'p', 'k')).toBe(scopeKey('u', 'p', 'k'));
    expect(scopeKey('u', 'p', 'k')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(scopeKey(null, 'p', 'k')).toBe(scopeKey(undefined, 'p', 'k'));
    expect(scopeKey(null, 'p', 'k')).not.toBe(scopeKey('null', 'p', 'k'));
  });
});

describe('fingerprint', () => {
  it('is stable under object key order, at every depth', () => {
    expect(fingerprint({ a: 1, b: { c: 2, d: [1, { e: 3, f: 4 }] } })).toBe(
      fingerprint({ b: { d: [1, { f: 4, e: 3 }], c: 2 }, a: 1 }),
    );
  });

  it('tells apart what JSON would merge: Date vs ISO string, BigInt vs number, array order', () => {
    const at = new Date(0);
    expect(fingerprint({ at })).not.toBe(fingerprint({ at: at.toISOString() }));
    expect(fingerprint({ n: 1n })).not.toBe(fingerprint({ n: 1 }));
    expect(fingerprint([1, 2])).not.toBe(fingerprint([2, 1]));
    expect(fingerprint(undefined)).not.toBe(fingerprint(null));
  });
});

describe('fingerprint of hostile input', () => {
  it('answers an own __proto__ key (which superjson refuses) with BAD_REQUEST, not a crash', () => {
    const input = JSON.parse('{"amount":1,"__proto__":{"admin":true}}') as unknown;
    expect(() => fingerprint(input)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });
});

describe('readKeyHeader', () => {
  it('reads a fetch Headers, case-insensitively', () => {
    expect(readKeyHeader({ headers: new Headers({ 'Idempotency-Key': 'k' }) }, 'idempotency-key')).toBe('k');
  });

  it('reads Node IncomingHttpHeaders and hand-built records in any case', () => {
    expect(readKeyHeader({ headers: { 'idempotency-key': 'k' } }, 'Idempotency-Key')).toBe('k');
    expect(readKeyHeader({ headers: { 'IDEMPOTENCY-KEY': 'k' } }, 'idempotency-key')).toBe('k');
  });

  it('falls back to ctx.req.headers (express and node-http contexts)', () => {
    expect(readKeyHeader({ req: { headers: { 'x-key': 'k' } } }, 'x-key')).toBe('k');
  });

  it('returns every line of a header sent twice, which Node would join into one list', () => {
    const req = { headers: { 'idempotency-key': '"a", "b"' }, headersDistinct: { 'idempotency-key': ['"a"', '"b"'] } };
    expect(readKeyHeader({ headers: req.headers, req }, 'Idempotency-Key')).toEqual(['"a"', '"b"']);
    expect(() => parseKey(readKeyHeader({ req }, 'idempotency-key'), 'h')).toThrow(/more than once/);
  });

  it('finds nothing in a context without headers', () => {
    expect(readKeyHeader({}, 'idempotency-key')).toBeUndefined();
    expect(readKeyHeader(null, 'idempotency-key')).toBeUndefined();
  });
});

describe('parseKey', () => {
  it('unwraps an sf-string with escapes', () => {
    expect(parseKey('"a\\"b\\\\c"', 'h')?.key).toBe('a"b\\c');
  });

  it('picks the batch entry by batchIndex from an sf-list, and "" means no key', () => {
    const header = '"k1", "", "k3"';
    expect(parseKey(header, 'h', 0)).toEqual({ key: 'k1', listed: true });
    expect(parseKey(header, 'h', 1)).toBeUndefined();
    expect(parseKey(header, 'h', 2)?.key).toBe('k3');
    expect(() => parseKey(header, 'h', 3)).toThrow(/lists 3 keys, but this is call 4/);
  });

  it('rejects one plain or quoted key for a batch of several calls, from the second call on', () => {
    expect(parseKey('k', 'h', 0)).toEqual({ key: 'k', listed: false });
    expect(() => parseKey('k', 'h', 1)).toThrow(/one key was sent for a batch of several calls/);
    expect(() => parseKey('"k"', 'h', 1)).toThrow(/one key was sent for a batch/);
  });

  it('rejects keys joined from repeated headers and values that are not strings', () => {
    expect(() => parseKey('k1, k2', 'h')).toThrow(/spaces/);
    expect(() => parseKey(['k1', 'k2'], 'h')).toThrow(/more than once/);
    expect(() => parseKey(42, 'h')).toThrow(/not a string/);
    expect(parseKey(['k1'], 'h')?.key).toBe('k1');
  });
});

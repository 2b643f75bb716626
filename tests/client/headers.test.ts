import type { Operation } from '@trpc/client';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { idempotencyBatchHeaders, idempotencyHeaders } from '../../src/client';
import { parseKey } from '../../src/key';

let id = 0;
const op = (idempotencyKey?: string, type: Operation['type'] = 'mutation'): Operation => ({
  id: ++id,
  type,
  path: 'addItem',
  input: { sku: 'a' },
  context: idempotencyKey === undefined ? {} : { idempotencyKey },
  signal: null,
});

/** What the server's key reader makes of the header for the call at `batchIndex`. */
const serverReads = (headers: Record<string, string>, batchIndex: number) =>
  parseKey(headers['Idempotency-Key'], 'idempotency-key', batchIndex)?.key;

describe('idempotencyHeaders', () => {
  it('sends the key as given, and nothing for an operation without one', () => {
    expect(idempotencyHeaders(op('k-1'))).toEqual({ 'Idempotency-Key': 'k-1' });
    expect(idempotencyHeaders(op())).toEqual({});
  });

  it('uses a custom header name', () => {
    expect(idempotencyHeaders(op('k-1'), { headerName: 'X-Request-Id' })).toEqual({ 'X-Request-Id': 'k-1' });
  });

  it('quotes a key that starts with a quote, so that the server reads it unchanged', () => {
    const headers = idempotencyHeaders(op('"a\\b"'));
    expect(headers['Idempotency-Key']).toBe('"\\"a\\\\b\\""');
    expect(serverReads(headers, 0)).toBe('"a\\b"');
  });

  it('refuses an empty key rather than send a call unprotected', () => {
    expect(() => idempotencyHeaders(op(''))).toThrow(/non-empty string/);
  });
});

describe('idempotencyBatchHeaders', () => {
  it('sends nothing for a batch without keys', () => {
    expect(idempotencyBatchHeaders([op(), op(undefined, 'query')])).toEqual({});
  });

  it('sends the plain key for a batch of one', () => {
    expect(idempotencyBatchHeaders([op('k1')])).toEqual({ 'Idempotency-Key': 'k1' });
  });

  it('sends one sf-string per call in batch order, "" for a call without a key', () => {
    const headers = idempotencyBatchHeaders([op('k1'), op(), op('k3')]);
    expect(headers).toEqual({ 'Idempotency-Key': '"k1", "", "k3"' });
    expect([0, 1, 2].map((i) => serverReads(headers, i))).toEqual(['k1', undefined, 'k3']);
  });

  it('escapes backslashes and quotes inside the list', () => {
    const headers = idempotencyBatchHeaders([op('a"b'), op('c\\d')]);
    expect(headers['Idempotency-Key']).toBe('"a\\"b", "c\\\\d"');
    expect([serverReads(headers, 0), serverReads(headers, 1)]).toEqual(['a"b', 'c\\d']);
  });

  it('round-trips any valid keys through the server key reader, at every batch index', () => {
    const visibleAscii = fc.string({
      unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
      minLength: 1,
      maxLength: 255,
    });
    fc.assert(
      fc.property(fc.array(fc.option(visibleAscii, { nil: undefined }), { minLength: 1, maxLength: 6 }), (keys) => {
        const headers = idempotencyBatchHeaders(keys.map((k) => op(k)));
        expect(keys.map((_, i) => serverReads(headers, i))).toEqual(keys);
      }),
      { numRuns: 300 },
    );
  });
});

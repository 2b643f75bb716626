import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord, recordFor, type StoredRecord } from '../../src/record';

describe('stored record form', () => {
  it('round-trips every status, with bodies holding newlines and quotes unescaped', () => {
    const records: StoredRecord[] = [
      { status: 'ok', fingerprint: 'abc_-1', createdAt: 1_700_000_000_123, body: '{"json":"a\\nb \\"q\\""}' },
      { status: 'error', fingerprint: 'f', createdAt: 0, body: '{"code":"BAD_REQUEST","message":"x\ny"}' },
      { status: 'unreplayable', fingerprint: 'f', createdAt: 5, body: '' },
    ];
    for (const record of records) expect(decodeRecord(encodeRecord(record))).toEqual(record);
    expect(encodeRecord(records[0]!).endsWith(records[0]!.body)).toBe(true);
  });

  it('refuses a value this library did not write', () => {
    for (const text of [
      '',
      'hello',
      '[1,"ok","f",0,"{}"]',
      'r1\nmaybe\nf\n0\n{}',
      'r1\nok\n\n0\n{}',
      'r2\nok\nf\n0\n{}',
    ]) {
      expect(() => decodeRecord(text)).toThrow(/unrecognised idempotency record/);
    }
  });
});

describe('recordFor', () => {
  const options = { fingerprint: 'f', maxResultBytes: 1_000, cacheErrors: () => false };

  it('stores a result that tRPC would stream as unreplayable, not as {}', () => {
    async function* lines() {
      yield 1;
    }
    for (const data of [{ paid: Promise.resolve(1) }, lines(), { lines: lines() }]) {
      const record = recordFor({ ok: true, data }, options);
      expect(record?.status).toBe('unreplayable');
      expect(record?.body).toMatch(/streams/);
    }
    // tRPC looks no deeper for streams, and neither does this.
    expect(recordFor({ ok: true, data: { a: { b: Promise.resolve(1) } } }, options)?.status).toBe('ok');
  });
});

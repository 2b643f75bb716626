import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDEMPOTENCY_ERROR_CODES, IdempotencyConfigError, type IdempotencyOptions, redisStore } from '../../src';
import { createCipher, SealedTextError } from '../../src/encryption';
import { makeApp, type TestContext, trpcFailure } from '../helpers/app';
import { type RedisServer, startRedis } from '../helpers/redis-server';

const SECRET_SKU = 'sku-4111-1111-1111-1111';
const k1 = randomBytes(32);
const k2 = randomBytes(32);

describe('encryption keys are checked at creation', () => {
  const cases: [string, unknown, RegExp][] = [
    ['no keys', { keys: [] }, /at least one key/],
    ['not an object', 'secret', /expected \{ keys/],
    ['a short Buffer', { keys: [randomBytes(16)] }, /keys\[0\] must be a 32-byte key/],
    ['a passphrase', { keys: ['correct horse battery staple'] }, /not a passphrase/],
    ['base64 of 31 bytes', { keys: [randomBytes(31).toString('base64')] }, /32-byte key/],
    ['a bad id', { keys: [{ id: 'has.dot', key: k1 }] }, /id must be 1-64 letters/],
    ['the same key twice', { keys: [k1, Buffer.from(k1)] }, /distinct ids/],
    [
      'two keys with one id',
      {
        keys: [
          { id: 'a', key: k1 },
          { id: 'a', key: k2 },
        ],
      },
      /distinct ids/,
    ],
  ];
  it.each(cases)('rejects %s with IdempotencyConfigError', (_, encryption, message) => {
    const store = { claim() {}, complete() {}, extend() {}, release() {}, watch() {} };
    const create = () => makeApp({ store, encryption } as unknown as IdempotencyOptions<TestContext>);
    expect(create).toThrow(IdempotencyConfigError);
    expect(create).toThrow(message);
  });

  it('accepts a Buffer, a Uint8Array, base64 and base64url strings, and explicit ids', () => {
    const cipher = createCipher({
      keys: [
        k1,
        new Uint8Array(k2),
        randomBytes(32).toString('base64'),
        randomBytes(32).toString('base64url'),
        { id: 'v5', key: randomBytes(32).toString('base64') },
      ],
    });
    expect(cipher.open(cipher.seal('hello', 'ctx'), 'ctx')).toBe('hello');
  });
});

describe('the cipher', () => {
  it('rotates: seals with the first key, opens with any listed one', () => {
    const old = createCipher({ keys: [{ id: 'old', key: k1 }] });
    const rotated = createCipher({
      keys: [
        { id: 'new', key: k2 },
        { id: 'old', key: k1 },
      ],
    });
    const sealedByOld = old.seal('order 42', 'r');
    expect(sealedByOld.startsWith('e1.old.')).toBe(true);
    expect(rotated.open(sealedByOld, 'r')).toBe('order 42');
    expect(rotated.seal('order 43', 'r').startsWith('e1.new.')).toBe(true);
    expect(() => old.open(rotated.seal('order 43', 'r'), 'r')).toThrow(/key "new", which is not in encryption.keys/);
  });

  it('refuses a value tampered with, truncated, moved to another context, or never sealed', () => {
    const cipher = createCipher({ keys: [k1] });
    const sealed = cipher.seal('{"json":{"total":100}}', 'record-a');
    const flipped = `${sealed.slice(0, -6)}${sealed.slice(-6, -5) === 'A' ? 'B' : 'A'}${sealed.slice(-5)}`;
    expect(() => cipher.open(flipped, 'record-a')).toThrow(SealedTextError);
    expect(() => cipher.open(sealed, 'record-b')).toThrow(/failed authentication/);
    expect(() => cipher.open(sealed.slice(0, 20), 'record-a')).toThrow(SealedTextError);
    expect(() => cipher.open('{"json":{"total":100}}', 'record-a')).toThrow(/not sealed/);
  });
});

describe('encryption at rest, on a real redis-server', () => {
  let server: RedisServer;
  let redis: Redis;
  const stores: ReturnType<typeof redisStore>[] = [];
  // A fresh store per app: no in-process record cache carries a record from one app to the next.
  const appWith = (options: Partial<IdempotencyOptions<TestContext>> = {}) => {
    const store = redisStore({ redis, cache: false });
    stores.push(store);
    return makeApp({ store, ...options });
  };
  const rawRecords = async () => {
    const keys = await redis.keys('idem:*:r');
    return Promise.all(keys.map(async (key) => ({ key, raw: (await redis.getBuffer(key)) as Buffer })));
  };

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    redis.disconnect();
    await server.stop();
  });

  it('stores no byte of the result in clear, and replays it', async () => {
    await redis.flushall();
    const app = appWith({ encryption: { keys: [k1] } });
    const first = await app.caller('k-secret').createOrder({ sku: SECRET_SKU });
    const [record, ...others] = await rawRecords();
    expect(others).toHaveLength(0);
    const raw = record!.raw;
    expect(raw.includes(SECRET_SKU)).toBe(false);
    expect(raw.includes(Buffer.from(SECRET_SKU).toString('base64'))).toBe(false);
    expect(raw.includes('order-1')).toBe(false);
    expect(raw.includes('alice')).toBe(false);
    expect(raw.toString()).toMatch(/^r1\nok\n[\w-]+\n\d+\ne1\.[\w-]+\./);

    const replay = await appWith({ encryption: { keys: [k1] } })
      .caller('k-secret')
      .createOrder({ sku: SECRET_SKU });
    expect(replay).toEqual(first);
    expect(app.runs.createOrder).toBe(1);
  });

  it('without encryption, the same result is readable in Redis (what the test above rules out)', async () => {
    await redis.flushall();
    await appWith().caller('k-plain').createOrder({ sku: SECRET_SKU });
    const [record] = await rawRecords();
    expect(record!.raw.includes(SECRET_SKU)).toBe(true);
  });

  it('never replays nor re-runs a tampered record: INTERNAL_SERVER_ERROR and an integrity-error event', async () => {
    await redis.flushall();
    const writer = appWith({ encryption: { keys: [k1] } });
    await writer.caller('k-tamper').createOrder({ sku: 'a' });
    const [{ key, raw }] = (await rawRecords()) as [{ key: string; raw: Buffer }];
    const text = raw.toString();
    const tampered = `${text.slice(0, -3)}${text.at(-3) === 'A' ? 'B' : 'A'}${text.slice(-2)}`;
    await redis.set(key, tampered, 'KEEPTTL');

    const reader = appWith({ encryption: { keys: [k1] } });
    const error = await trpcFailure(reader.caller('k-tamper').createOrder({ sku: 'a' }));
    expect(error.code).toBe(IDEMPOTENCY_ERROR_CODES.recordUnreadable);
    expect(error.message).toMatch(/failed its integrity check.*neither replayed nor run again/);
    expect(reader.runs.createOrder).toBe(0);
    expect(reader.events.map((e) => e.type)).toEqual(['integrity-error']);
    expect(String(reader.events[0]?.error)).toMatch(/failed authentication/);
  });

  it("refuses a sealed result moved onto another user's record", async () => {
    await redis.flushall();
    const app = appWith({ encryption: { keys: [k1] } });
    await app.caller('k-move', 'alice').createOrder({ sku: 'alice-order' });
    const [alice] = (await rawRecords()) as [{ key: string; raw: Buffer }];
    await app.caller('k-move', 'mallory').createOrder({ sku: 'alice-order' });
    const mallory = (await rawRecords()).find((r) => r.key !== alice.key)!;
    // Same key and input, so the fingerprints match: only the record id tells them apart.
    await redis.set(mallory.key, alice.raw, 'KEEPTTL');

    const error = await trpcFailure(
      appWith({ encryption: { keys: [k1] } })
        .caller('k-move', 'mallory')
        .createOrder({ sku: 'alice-order' }),
    );
    expect(error.code).toBe('INTERNAL_SERVER_ERROR');
  });

  it('refuses a record forged in clear while encryption is on, and a sealed one while it is off', async () => {
    await redis.flushall();
    const plain = appWith();
    await plain.caller('k-forged').createOrder({ sku: 'a' });
    const encrypted = appWith({ encryption: { keys: [k1] } });
    const forged = await trpcFailure(encrypted.caller('k-forged').createOrder({ sku: 'a' }));
    expect(forged.code).toBe('INTERNAL_SERVER_ERROR');
    expect(String(encrypted.events[0]?.error)).toMatch(/not sealed/);

    await encrypted.caller('k-sealed').createOrder({ sku: 'b' });
    const unkeyed = appWith();
    const sealed = await trpcFailure(unkeyed.caller('k-sealed').createOrder({ sku: 'b' }));
    expect(sealed.code).toBe('INTERNAL_SERVER_ERROR');
    expect(String(unkeyed.events[0]?.error)).toMatch(/no encryption keys are set/);
    expect(plain.runs.createOrder + encrypted.runs.createOrder + unkeyed.runs.createOrder).toBe(2);
  });

  it('rotates: a record sealed with the old key replays after the new one is added; new ones use the new key', async () => {
    await redis.flushall();
    const before = appWith({ encryption: { keys: [{ id: 'k1', key: k1 }] } });
    const first = await before.caller('k-rot').createOrder({ sku: 'a' });
    const after = appWith({
      encryption: {
        keys: [
          { id: 'k2', key: k2 },
          { id: 'k1', key: k1 },
        ],
      },
    });
    expect(await after.caller('k-rot').createOrder({ sku: 'a' })).toEqual(first);
    await after.caller('k-rot-2').createOrder({ sku: 'b' });
    const kids = (await rawRecords()).map((r) => /\ne1\.([\w-]+)\./.exec(r.raw.toString())?.[1]).sort();
    expect(kids).toEqual(['k1', 'k2']);

    const dropped = appWith({ encryption: { keys: [{ id: 'k2', key: k2 }] } });
    const error = await trpcFailure(dropped.caller('k-rot').createOrder({ sku: 'a' }));
    expect(error.code).toBe('INTERNAL_SERVER_ERROR');
    expect(String(dropped.events[0]?.error)).toMatch(/key "k1", which is not in encryption.keys/);
    expect(before.runs.createOrder + after.runs.createOrder + dropped.runs.createOrder).toBe(2);
  });

  it('seals cached errors and unreplayable results too, and waiters in other processes open them', async () => {
    await redis.flushall();
    const options = { encryption: { keys: [k1] }, cacheErrors: () => true, maxResultBytes: 64 };
    const app = appWith(options);
    await trpcFailure(app.caller('k-err').fail({ sku: 'secret-error-sku' }));
    await app.caller('k-big').big({ size: 100 });
    for (const { raw } of await rawRecords()) {
      expect(raw.includes('secret-error-sku')).toBe(false);
      expect(raw.includes('maxResultBytes')).toBe(false);
    }
    const other = appWith(options);
    expect((await trpcFailure(other.caller('k-err').fail({ sku: 'secret-error-sku' }))).message).toMatch(
      /out of stock \(1\)/,
    );
    expect((await trpcFailure(other.caller('k-big').big({ size: 100 }))).code).toBe('PRECONDITION_FAILED');
  });
});

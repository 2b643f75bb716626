import { Redis } from 'ioredis';
import superjson, { SuperJSON } from 'superjson';
import { describe, expect, it } from 'vitest';
import { createIdempotency, IdempotencyConfigError, memoryStore, redisStore } from '../../src';

describe('createIdempotency options', () => {
  const store = memoryStore();

  it.each([
    [{}, /store: expected redisStore\(\.\.\.\) or memoryStore\(\.\.\.\)/],
    [{ store: {} }, /store: expected redisStore/],
    [{ store, ttlSeconds: 0 }, /ttlSeconds/],
    [{ store, ttlSeconds: 1.5 }, /ttlSeconds/],
    [{ store, lockTtlMs: 10 }, /lockTtlMs: must be at least 100 ms/],
    [{ store, waitTimeoutMs: -1 }, /waitTimeoutMs/],
    // Past Node's longest timer, setTimeout fires after 1 ms: every waiter would get CONFLICT at once.
    [{ store, waitTimeoutMs: 2 ** 31 }, /waitTimeoutMs: must be at most 2147483647 ms/],
    [{ store, lockTtlMs: 2 ** 31 }, /lockTtlMs: must be at most 2147483647 ms/],
    [{ store, headerName: 'bad header' }, /headerName: must be a valid HTTP header name/],
    [{ store, required: 'yes' }, /required/],
    [{ store, cacheErrors: true }, /cacheErrors: expected a function/],
    [{ store, getUserId: 'user.id' }, /getUserId: expected a function/],
    [{ store, ttl: 60 }, /ttl/],
    [{ store, superjson: JSON }, /superjson: expected superjson or a new SuperJSON\(\)/],
  ])('rejects %o with an error naming the option', (options, message) => {
    const create = () => createIdempotency(options as never);
    expect(create).toThrow(IdempotencyConfigError);
    expect(create).toThrow(message);
  });

  it('accepts the defaults', () => {
    expect(createIdempotency({ store }).inFlight).toBe(0);
  });

  it("accepts superjson's default export and a new SuperJSON() as `superjson`", () => {
    expect(createIdempotency({ store, superjson }).inFlight).toBe(0);
    expect(createIdempotency({ store, superjson: new SuperJSON() }).inFlight).toBe(0);
  });
});

describe('redisStore options', () => {
  const redis = new Redis({ lazyConnect: true });

  it.each([
    [{}, /redis: expected an ioredis Redis or Cluster instance/],
    [{ redis: {} }, /redis: expected an ioredis/],
    [{ redis, lockClients: [redis, redis] }, /lockClients: needs an odd number of masters/],
    [{ redis, lockClients: [] }, /lockClients/],
    [{ redis, prefix: 'app:{x}:' }, /prefix: must not contain \{ or \}/],
    [{ redis, commandTimeoutMs: 0 }, /commandTimeoutMs/],
    [{ redis, commandTimeoutMs: 2 ** 31 }, /commandTimeoutMs: must be at most 2147483647 ms/],
  ])('rejects %o with an error naming the option', (options, message) => {
    expect(() => redisStore(options as never)).toThrow(message);
  });

  it('rejects a bad memoryStore size', () => {
    expect(() => memoryStore({ maxEntries: 0 })).toThrow(/maxEntries/);
  });
});

import { describe, expect, it } from 'vitest';
import { IDEMPOTENCY_ERROR_CODES, type IdempotencyOptions, memoryStore } from '../../src';
import { makeApp, type TestContext, trpcFailure } from '../helpers/app';

/** An app and a caller that sends a key, an optional user, and an optional session header. */
function appWith(options: Partial<IdempotencyOptions<TestContext>>) {
  const app = makeApp({ store: memoryStore(), ...options });
  const call = (key: string | undefined, who: { user?: string; session?: string }) =>
    app.t.createCallerFactory(app.router)({
      headers: {
        ...(key === undefined ? {} : { 'idempotency-key': key }),
        ...(who.session === undefined ? {} : { 'x-session': who.session }),
      },
      user: who.user === undefined ? null : { id: who.user },
    });
  return { ...app, call };
}

const bySession = (ctx: TestContext) => (ctx.headers as Record<string, string | undefined>)['x-session'];

describe('anonymous callers', () => {
  it('are rejected by default when they send a key, with a message naming the option to set; the resolver does not run', async () => {
    // makeApp defaults to 'shared' for the older tests; undefined here restores the library default.
    const app = appWith({ anonymous: undefined });
    const error = await trpcFailure(app.call('k1', {}).createOrder({ sku: 'a' }));
    expect(error.code).toBe(IDEMPOTENCY_ERROR_CODES.anonymousRejected);
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.message).toContain("set createIdempotency's `anonymous` option to `(ctx) => sessionId`");
    expect(error.message).toContain("'shared'");
    expect(app.runs.createOrder).toBe(0);
    // Without a key nothing is stored, so nothing can leak: the call runs as usual.
    await app.call(undefined, {}).createOrder({ sku: 'a' });
    expect(app.runs.createOrder).toBe(1);
    // A signed-in caller is not affected.
    await app.call('k1', { user: 'alice' }).createOrder({ sku: 'a' });
    expect(app.runs.createOrder).toBe(2);
  });

  it("scoped by session: one session never reads another's result, and each replays its own", async () => {
    const app = appWith({ anonymous: bySession });
    const a = await app.call('same-key', { session: 'session-a' }).createOrder({ sku: 'a' });
    const b = await app.call('same-key', { session: 'session-b' }).createOrder({ sku: 'a' });
    expect(b.id).not.toBe(a.id);
    expect(app.runs.createOrder).toBe(2);
    expect(await app.call('same-key', { session: 'session-a' }).createOrder({ sku: 'a' })).toEqual(a);
    expect(await app.call('same-key', { session: 'session-b' }).createOrder({ sku: 'a' })).toEqual(b);
    expect(app.runs.createOrder).toBe(2);
  });

  it('keeps a session apart from a user whose id is the same text', async () => {
    const app = appWith({ anonymous: bySession });
    const session = await app.call('k', { session: 'alice' }).createOrder({ sku: 'a' });
    const user = await app.call('k', { user: 'alice' }).createOrder({ sku: 'a' });
    expect(user.id).not.toBe(session.id);
    expect(app.runs.createOrder).toBe(2);
  });

  it('rejects a keyed call for which the function finds no session', async () => {
    const app = appWith({ anonymous: bySession });
    const error = await trpcFailure(app.call('k', {}).createOrder({ sku: 'a' }));
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.message).toMatch(/neither a user id nor an anonymous session id/);
    expect(app.runs.createOrder).toBe(0);
  });

  it('answers INTERNAL_SERVER_ERROR, naming the fix, when the function returns something other than a string', async () => {
    const app = appWith({ anonymous: (() => 42) as unknown as (ctx: TestContext) => string });
    const error = await trpcFailure(app.call('k', {}).createOrder({ sku: 'a' }));
    expect(error.code).toBe('INTERNAL_SERVER_ERROR');
    expect(error.message).toMatch(/returned a number; return the caller's session or device id as a string/);
  });

  it("'shared' is the explicit opt-in to one scope for every anonymous caller", async () => {
    const app = appWith({ anonymous: 'shared' });
    const first = await app.call('k', { session: 'one' }).createOrder({ sku: 'a' });
    expect(await app.call('k', { session: 'two' }).createOrder({ sku: 'a' })).toEqual(first);
    expect(app.runs.createOrder).toBe(1);
  });

  it('rejects an anonymous option that is neither a mode nor a function', () => {
    expect(() => appWith({ anonymous: 'open' as never })).toThrow(/anonymous/);
  });
});

import { initTRPC, TRPCError } from '@trpc/server';
import { Redis } from 'ioredis';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdempotency, IdempotencyConfigError, type IdempotencyEvent, redisStore } from '../../src';
import { makeApp, type TestContext, until } from '../helpers/app';
import { type RedisServer, startRedis } from '../helpers/redis-server';

describe('replica acknowledgement (WAIT)', () => {
  let master: RedisServer;
  let replica: RedisServer;
  let redis: Redis;
  let admin: Redis;

  /** Cuts the replica's link so that it needs a full resync, which a diskless master delays 5 s. */
  const cutReplication = () =>
    admin
      .pipeline()
      .call('CLIENT', 'KILL', 'TYPE', 'replica')
      .set('filler', 'x'.repeat(64 * 1024))
      .exec();
  const replicaOnline = () =>
    until(async () => (await admin.info('replication')).includes('state=online'), 20_000, 'the replica in sync');

  /** Waits for the replica up to 800 ms: a loaded machine may take a while to acknowledge the lock, which must go through. */
  const patientStore = () =>
    redisStore({ redis, replicas: { count: 1, timeoutMs: 800 }, commandTimeoutMs: 2_000, onWarning: () => {} });

  beforeAll(async () => {
    master = await startRedis(['--repl-backlog-size', '16384']);
    replica = await startRedis(['--replicaof', '127.0.0.1', String(master.port)]);
    redis = new Redis(master.url);
    admin = new Redis(master.url);
    await replicaOnline();
  });
  afterAll(async () => {
    redis.disconnect();
    admin.disconnect();
    await Promise.all([replica.stop(), master.stop()]);
  });

  it('runs and replays as usual while the replica acknowledges', async () => {
    const app = makeApp({ store: patientStore() });
    const first = await app.caller('acked').createOrder({ sku: 'a' });
    expect(await app.caller('acked').createOrder({ sku: 'a' })).toEqual(first);
    expect(app.runs.createOrder).toBe(1);
    expect(app.events.map((e) => e.type)).toEqual(['miss', 'hit']);
  });

  it('fails closed when the lock is not acknowledged: SERVICE_UNAVAILABLE, resolver not run, lock given back', async () => {
    await replicaOnline();
    const app = makeApp({
      store: redisStore({ redis, replicas: { count: 1, timeoutMs: 200 }, cache: false, onWarning: () => {} }),
    });
    await cutReplication();
    const error = await app
      .caller('not-acked')
      .createOrder({ sku: 'a' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCError);
    expect((error as TRPCError).code).toBe('SERVICE_UNAVAILABLE');
    expect(String((error as TRPCError).cause)).toMatch(/not acknowledged by 1 replica\(s\) within 200 ms/);
    expect(app.runs.createOrder).toBe(0);
    await until(async () => (await admin.keys('idem:*:l')).length === 0, 2_000, 'the lock released');
  });

  it('after the resolver, a record not acknowledged is still returned, and onEvent gets not-replicated', async () => {
    await replicaOnline();
    const app = makeApp({ store: patientStore(), lockTtlMs: 5_000 });
    const running = app.caller('late').slow({ ms: 1_500 });
    await until(async () => app.runs.slow === 1, 2_000, 'the resolver running');
    await cutReplication(); // well before the resolver ends, however loaded the machine
    expect(await running).toEqual({ n: 1 });
    expect(app.events.map((e) => `${e.type} ${e.error ?? ''}`)).toEqual([
      expect.stringMatching(/^not-replicated NotReplicatedError/),
      'miss ',
    ]);
    expect(String(app.events[0]?.error)).toMatch(/stored, but not acknowledged/);
    // Stored on the master all the same: a retry replays it.
    expect(await app.caller('late').slow({ ms: 1_500 })).toEqual({ n: 1 });
  });

  it('a step saved but not acknowledged: the step does not run again, the call goes on, and onEvent gets not-replicated', async () => {
    await replicaOnline();
    const events: IdempotencyEvent[] = [];
    const t = initTRPC.context<TestContext>().create({ transformer: superjson });
    const idempotency = createIdempotency<TestContext>({
      store: patientStore(),
      lockTtlMs: 5_000,
      onEvent: (e) => events.push(e),
    });
    let charges = 0;
    let reached = false;
    let resume!: () => void;
    const resumed = new Promise<void>((r) => (resume = r));
    const router = t.router({
      pay: t.procedure.use(idempotency.middleware).mutation(async ({ ctx }) => {
        reached = true;
        await resumed; // the lock was acknowledged; the step is saved after the cut
        return ctx.idempotency.step('charge', () => ({ charge: ++charges }));
      }),
    });
    const caller = t.createCallerFactory(router)({ headers: { 'idempotency-key': 'step-late' }, user: { id: 'u' } });
    const paying = caller.pay();
    await until(async () => reached, 2_000, 'the resolver running');
    await cutReplication();
    resume();
    expect(await paying).toEqual({ charge: 1 });
    expect(events.map((e) => `${e.type} ${String(e.error ?? '')}`)).toEqual([
      expect.stringMatching(/^not-replicated NotReplicatedError: the step "charge" was stored, but not acknowledged/),
      expect.stringMatching(/^not-replicated NotReplicatedError: the record was stored/),
      'miss ',
    ]);
    // Stored on the master all the same: the step's result is there, and a retry replays the call.
    expect(Object.keys(await admin.hgetall(`idem:{${events[0]!.key}}:s`))).toEqual(['charge']);
    expect(await caller.pay()).toEqual({ charge: 1 });
    expect(charges).toBe(1);
  });

  it('rejects options WAIT cannot honour, at creation', () => {
    expect(() => redisStore({ redis, replicas: { count: 1, timeoutMs: 1_000 } })).toThrow(
      /timeoutMs \(1000\) must be shorter than commandTimeoutMs \(1000\)/,
    );
    expect(() => redisStore({ redis, lockClients: [redis, admin, redis], replicas: { count: 1 } })).toThrow(
      IdempotencyConfigError,
    );
    expect(() => redisStore({ redis, replicas: { count: 0 } })).toThrow(/replicas.count/);
  });
});

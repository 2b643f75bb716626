/// <reference path="./redlock.d.ts" />
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Lock } from 'redlock';
import { parseOptions } from '../options';
import { decodeRecord, encodeRecord, type StoredRecord } from '../record';
import { ScriptBatcher } from './batch';
import { bounded, StoreUnavailableError, whenReady } from './bounded';
import { checkEvictionPolicy, emitProcessWarning } from './maxmemory';
import { Notifier } from './notifier';
import { QuorumLock } from './quorum';
import { RecordCache } from './record-cache';
import { forgottenChannel, redisAdmin } from './redis-admin';
import { type RedisStoreOptions, redisStoreSchema } from './redis-options';
import { acknowledgement, NotReplicatedError, type ReplicaAcknowledgement, runReplicated } from './replication';
import { type BatchableScript, CLAIM, COMPLETE, type LuaScript, RELEASE, SAVE_STEP } from './scripts';
import type { Claim, IdempotencyStore, Lease, StepSave } from './store';
import { mapWatch } from './watch';

function decodeOrUndefined(text: string): StoredRecord | undefined {
  try {
    return decodeRecord(text);
  } catch {
    return undefined; // not ours: claim again, which reads the record
  }
}

/**
 * A lease on Redis carries the redlock `Lock`, renewed on every extension. On the fused path the
 * Lock is built only when first extended: most calls finish well before that.
 */
interface RedisLease extends Lease {
  lock?: Lock;
  lockKey: string;
  expiresAt: number;
  /** false when the claim saw no steps of an earlier attempt: the first step then reads nothing. */
  earlierSteps?: boolean;
}

/**
 * An idempotency store on Redis (single node, Redis Cluster, or a Redlock quorum of masters).
 * @see https://www.npmjs.com/package/trpc-idempotency#stores
 */
export function redisStore(options: RedisStoreOptions): IdempotencyStore {
  const {
    redis,
    lockClients,
    prefix,
    commandTimeoutMs: timeoutMs,
    cache: cacheOptions,
    onWarning,
    replicas: replicaOptions,
  } = parseOptions(redisStoreSchema, options, 'redisStore');
  // Once per store, off the request path: may these servers evict our locks and records?
  for (const c of new Set([redis, ...(lockClients ?? [])]))
    void checkEvictionPolicy(c, onWarning ?? emitProcessWarning);
  const cache = new RecordCache(cacheOptions ? cacheOptions.maxEntries : 0, cacheOptions ? cacheOptions.maxBytes : 0);
  // With the record store as the only lock member, claim and lock are one script (one round trip).
  const fused = !lockClients || (lockClients.length === 1 && lockClients[0] === redis);
  const lockMembers = fused ? [redis] : (lockClients ?? [redis]);
  const quorum = new QuorumLock(lockMembers, timeoutMs);
  const notifier = new Notifier(redis, timeoutMs);
  const replicas = replicaOptions && acknowledgement(replicaOptions, timeoutMs, fused, redis);
  const scripts = new ScriptBatcher(redis);

  const keys = (id: string) => {
    const tag = `${prefix}{${id}}`; // one hash tag: record, lock, channel and steps share a Cluster slot
    return { record: `${tag}:r`, lock: `${tag}:l`, channel: `${tag}:c`, steps: `${tag}:s` };
  };

  /** GET and PTTL of a record in one round trip (pipelined; one key, so one Cluster slot). */
  async function lookup(key: string, stepsKey?: string): Promise<[string | null, number, boolean]> {
    const pipeline = redis.pipeline().get(key).pttl(key);
    if (stepsKey) pipeline.exists(stepsKey); // same hash tag: one slot
    const replies = (await pipeline.exec()) ?? [];
    const [[getError, text] = [], [, pttl] = [], [, steps] = []] = replies;
    if (getError) throw getError;
    return [(text as string | null) ?? null, Number(pttl), Number(steps) === 1];
  }

  const call = async <T>(what: string, op: () => Promise<T>): Promise<T> => {
    const startedAt = performance.now();
    if (redis.status !== 'ready') await whenReady(redis, timeoutMs, what);
    return bounded(op(), timeoutMs - (performance.now() - startedAt), what);
  };

  /** One of our scripts, within `timeoutMs` all told (a connection still opening included). */
  function script(lua: BatchableScript, keys: string[], args: (string | number)[]): Promise<unknown> {
    if (redis.status === 'ready') return scripts.run(lua, keys, args, timeoutMs);
    const startedAt = performance.now();
    return whenReady(redis, timeoutMs, lua.name).then(() =>
      scripts.run(lua, keys, args, timeoutMs - (performance.now() - startedAt)),
    );
  }

  /**
   * A write the replicas must acknowledge: the script and WAIT in one round trip, within `timeoutMs`
   * all told. `short`: fewer replicas than asked acknowledged it in time.
   */
  async function replicated(
    acks: ReplicaAcknowledgement,
    lua: LuaScript,
    keys: string[],
    args: (string | number)[],
  ): Promise<{ reply: unknown; short: boolean }> {
    const startedAt = performance.now();
    if (redis.status !== 'ready') await whenReady(redis, timeoutMs, lua.name);
    const left = timeoutMs - (performance.now() - startedAt);
    const { reply, acknowledged } = await runReplicated(redis as Redis, lua, keys, args, acks, left);
    return { reply, short: acknowledged < acks.count };
  }

  /** A record already replayed or stored in this process: no round trip at all. */
  function cached(id: string): Claim | undefined {
    const record = cache.get(id);
    return record && { status: 'done', record };
  }

  function found(id: string, text: string, pttl: number, readAt: number): Claim {
    const record = decodeRecord(text);
    if (cacheable(readAt)) cache.set(id, text, pttl, readAt);
    return { status: 'done', record };
  }

  // A `forget` in any process announces the record id on one channel; each store that caches
  // listens to it from its first replay on. A record read before the subscription was last
  // confirmed may have been forgotten unheard, so only reads made since then are cached.
  let liveSince = Number.POSITIVE_INFINITY;
  function cacheable(readAt: number): boolean {
    if (readAt >= liveSince) return true;
    if (cacheOptions && cacheOptions.maxEntries > 0) {
      notifier.listen(forgottenChannel(prefix), {
        onMessage: (id) => cache.forget(id),
        onLive: () => {
          liveSince = performance.now();
        },
        onLost: () => {
          // Forgets announced while the subscriber was away were missed: forget everything.
          liveSince = Number.POSITIVE_INFINITY;
          cache.clear();
        },
      });
    }
    return false;
  }

  async function claimFused(id: string, ttlMs: number): Promise<Claim> {
    const hit = cached(id);
    if (hit) return hit;
    const k = keys(id);
    const token = randomUUID(); // drawn from a pooled entropy buffer: cheaper than randomBytes per call
    const start = Date.now();
    const askedAt = performance.now();
    let reply: unknown;
    let short = false;
    try {
      const claimKeys = [k.record, k.lock, k.steps];
      if (replicas) ({ reply, short } = await replicated(replicas, CLAIM, claimKeys, [token, ttlMs]));
      else reply = await script(CLAIM, claimKeys, [token, ttlMs]);
    } catch (error) {
      // A timed-out claim may still run from ioredis' offline queue; a release queued behind it
      // keeps it from stranding a lock nobody will complete.
      scripts.run(RELEASE, [k.lock], [token, k.channel], timeoutMs).catch(() => {});
      throw error;
    }
    const [status, value, pttl] = reply as [number, string | number | undefined, number | undefined];
    if (status === 1) return found(id, String(value), Number(pttl), askedAt);
    if (status === 2) return { status: 'busy', retryAfterMs: Number(value) > 0 ? Number(value) : ttlMs };
    if (short) {
      // A failover now could hand the lock to nobody, and a duplicate would run too: fail closed.
      scripts.run(RELEASE, [k.lock], [token, k.channel], timeoutMs).catch(() => {});
      throw new StoreUnavailableError(
        `the lock was not acknowledged by ${replicas?.count} replica(s) within ${replicas?.timeoutMs} ms`,
      );
    }
    const drift = Math.round(ttlMs * 0.01) + 2; // as redlock counts it
    const lease: RedisLease = {
      id,
      token,
      lockKey: k.lock,
      expiresAt: start + ttlMs - drift,
      earlierSteps: Number(value) === 1,
    };
    return { status: 'claimed', lease };
  }

  async function claimQuorum(id: string, ttlMs: number): Promise<Claim> {
    const hit = cached(id);
    if (hit) return hit;
    const k = keys(id);
    // The record lives on `redis`, the lock on the quorum: the record check, the lock, and the record
    // check again (three round trips; a replay needs only the first).
    const askedAt = performance.now();
    const [text, pttl] = await call('GET record', () => lookup(k.record));
    if (text) return found(id, text, pttl, askedAt);
    const acquired = await quorum.acquire(k.lock, ttlMs);
    if (acquired.status === 'busy') return acquired;
    const { lock } = acquired;
    // The holder before us may have stored its record and released the lock between our look and
    // our lock: look again, or the mutation would run twice. The same look says whether an earlier
    // attempt left steps, as the fused claim does.
    const giveBack = () => quorum.release(lock).catch(() => {});
    const [stored, storedPttl, earlierSteps] = await call('GET record', () => lookup(k.record, k.steps)).catch(
      (error: unknown) => {
        giveBack();
        throw error;
      },
    );
    if (stored) {
      giveBack();
      return found(id, stored, storedPttl, askedAt);
    }
    const lease: RedisLease = {
      id,
      token: lock.value,
      lock,
      lockKey: k.lock,
      expiresAt: lock.expiration,
      earlierSteps,
    };
    return { status: 'claimed', lease };
  }

  return {
    claim: fused ? claimFused : claimQuorum,

    async extend(lease, ttlMs) {
      const own = lease as RedisLease; // leases reaching this store were made by it
      const next = await quorum.extend(own.lock ?? quorum.adopt(own.lockKey, own.token, own.expiresAt), ttlMs);
      if (!next) return false;
      own.lock = next;
      return true;
    },

    async complete(lease, record: StoredRecord, ttlSeconds) {
      const k = keys(lease.id);
      const text = encodeRecord(record);
      const completeKeys = [k.record, k.lock];
      const completeArgs = [lease.token, text, ttlSeconds, k.channel];
      const { reply: stored, short } = replicas
        ? await replicated(replicas, COMPLETE, completeKeys, completeArgs)
        : { reply: await script(COMPLETE, completeKeys, completeArgs), short: false };
      const { lock } = lease as RedisLease;
      if (!fused && lock) {
        // Off the critical path: waiters were woken by the PUBLISH, which carried the record.
        quorum.release(lock).catch(() => {});
      }
      // Not cached here but on its first replay: most keys are never retried, and a flood of them
      // would otherwise fill the cache and cost the garbage collector for nothing.
      if (stored === 1 && short) {
        throw new NotReplicatedError(
          `the record was stored, but not acknowledged by ${replicas?.count} replica(s) within ${replicas?.timeoutMs} ms: a failover now could lose it`,
        );
      }
      return stored === 1;
    },

    async release(lease) {
      const k = keys(lease.id);
      if (fused) {
        await script(RELEASE, [k.lock], [lease.token, k.channel]);
        return;
      }
      const { lock } = lease as RedisLease;
      if (lock) await quorum.release(lock);
      await call('PUBLISH', () => redis.publish(k.channel, '0'));
    },

    // Earlier attempts' results, on an execution's first step: one round trip, unless the claim
    // already saw that there are none (the usual first execution).
    async readSteps(lease) {
      if ((lease as RedisLease).earlierSteps === false) return new Map<string, string>();
      return new Map(Object.entries(await call('HGETALL steps', () => redis.hgetall(keys(lease.id).steps))));
    },

    // One round trip per step that runs: its result must be stored before the resolver goes on.
    async saveStep(lease, name, value, ttlSeconds): Promise<StepSave> {
      const k = keys(lease.id);
      const stepKeys = [k.steps, k.lock, k.record];
      const stepArgs = [lease.token, name, value, ttlSeconds];
      const { reply, short } = replicas
        ? await replicated(replicas, SAVE_STEP, stepKeys, stepArgs)
        : { reply: await script(SAVE_STEP, stepKeys, stepArgs), short: false };
      const [status, first] = reply as [number, string | undefined];
      if (status === 1 && short) {
        // Like a record: stored, and the step's work is done; the caller is told, not failed.
        throw new NotReplicatedError(
          `the step "${name}" was stored, but not acknowledged by ${replicas?.count} replica(s) within ${replicas?.timeoutMs} ms: a failover now could lose it`,
        );
      }
      if (status === 1) return { status: 'saved' };
      if (status === 2) return { status: 'exists', value: String(first) };
      return { status: 'lost' };
    },

    async watch(id) {
      const watch = await notifier.watch(keys(id).channel);
      // A completion notice carries the encoded record; a release notice ('0') does not.
      return mapWatch(watch, (message) => (message === '0' ? undefined : decodeOrUndefined(message)));
    },

    close: () => notifier.close(),

    ...redisAdmin({
      redis,
      lockClients: lockMembers,
      prefix,
      keys,
      cache,
      timeoutMs,
      call,
    }),
  };
}

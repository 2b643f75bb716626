import type { Cluster, Redis } from 'ioredis';
import { decodeRecord } from '../record';
import { assertConnected, bounded } from './bounded';
import type { RecordCache } from './record-cache';
import { FORGET, runScript, type ScriptClient } from './scripts';
import type { ForgetOutcome, IdempotencyStore, LockListing, StoredState } from './store';

/** The keys of one record id, as `redisStore` lays them out (one hash tag). */
interface RecordKeys {
  record: string;
  lock: string;
  steps: string;
  channel: string;
}

interface RedisAdminDeps {
  redis: Redis | Cluster;
  /** Where locks live: `[redis]`, or the masters of a Redlock quorum. */
  lockClients: (Redis | Cluster)[];
  prefix: string;
  keys: (id: string) => RecordKeys;
  cache: RecordCache;
  timeoutMs: number;
  /** An operation on `redis`, bounded by the store's command timeout. */
  call: <T>(what: string, op: () => Promise<T>) => Promise<T>;
}

/** The channel on which `forget` announces the record ids it deleted (see `RecordCache.forget`). */
export const forgottenChannel = (prefix: string) => `${prefix}forgotten`;

/** Keys looked at per SCAN call, and SCAN calls per node at most: a listing never walks a huge keyspace. */
const SCAN_COUNT = 1000;
const MAX_SCANS_PER_NODE = 100;

/** Glob characters in the prefix match themselves. */
const globEscape = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&');

const nodesOf = (client: Redis | Cluster): Redis[] =>
  (client as Cluster).isCluster ? (client as Cluster).nodes('master') : [client as Redis];

/**
 * A lock is held when a quorum of its masters hold the key; it is free again after the
 * quorum-th longest remaining TTL. `ttls` has one entry per master that answered with the key.
 */
function heldFor(ttls: number[], quorum: number): number | undefined {
  if (ttls.length < quorum) return undefined;
  return [...ttls].sort((a, b) => b - a)[quorum - 1];
}

/**
 * inspect, forget and locks for `redisStore`. Admin calls, never on the request path: each costs a
 * few round trips, and listing locks SCANs (bounded) every master.
 */
export function redisAdmin(deps: RedisAdminDeps): Required<Pick<IdempotencyStore, 'inspect' | 'forget' | 'locks'>> {
  const { redis, lockClients, prefix, keys, cache, timeoutMs, call } = deps;
  const quorum = Math.floor(lockClients.length / 2) + 1;

  /**
   * `op` on every lock master; a minority may fail (a quorum survives it), but fewer than a quorum
   * of answers throws: then nobody can say whether the lock is held.
   */
  async function onQuorum<T>(what: string, op: (client: Redis | Cluster) => Promise<T>): Promise<(T | undefined)[]> {
    const settled = await Promise.allSettled(lockClients.map((c) => onLockClient(c, what, () => op(c))));
    const answered = settled.filter((r) => r.status === 'fulfilled').length;
    if (answered < quorum) {
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      throw failed?.reason ?? new Error(`${what}: fewer than a quorum of lock masters answered`);
    }
    return settled.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
  }

  async function onLockClient<T>(client: Redis | Cluster, what: string, op: () => Promise<T>): Promise<T> {
    assertConnected(client, what);
    return bounded(op(), timeoutMs, what);
  }

  /** Remaining ms of the lock on a quorum of its masters; undefined when nobody holds it. */
  async function lockTtl(lockKey: string): Promise<number | undefined> {
    const ttls = (await onQuorum('PTTL lock', (c) => c.pttl(lockKey))).filter((t) => t !== undefined);
    // -1: a key without expiry; a lock always has one, but it is held all the same.
    return heldFor(
      ttls.filter((t) => t !== -2).map((t) => (t === -1 ? Number.POSITIVE_INFINITY : t)),
      quorum,
    );
  }

  async function scanLocks(node: Redis, limit: number): Promise<{ found: Map<string, number>; complete: boolean }> {
    const pattern = `${globEscape(prefix)}{*}:l`;
    const lockKeys: string[] = [];
    let cursor = '0';
    let scans = 0;
    do {
      const [next, batch] = await onLockClient(node, 'SCAN', () =>
        node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT),
      );
      cursor = next;
      lockKeys.push(...batch);
      scans++;
    } while (cursor !== '0' && lockKeys.length < limit && scans < MAX_SCANS_PER_NODE);
    const taken = lockKeys.slice(0, limit);
    const pipeline = node.pipeline();
    for (const key of taken) pipeline.pttl(key);
    const replies = taken.length > 0 ? ((await onLockClient(node, 'PTTL locks', () => pipeline.exec())) ?? []) : [];
    const found = new Map<string, number>();
    taken.forEach((key, i) => {
      const ttl = Number(replies[i]?.[1]);
      // The id sits between the prefix's `{` and `}:l`.
      if (ttl !== -2) found.set(key.slice(prefix.length + 1, -3), ttl === -1 ? Number.POSITIVE_INFINITY : ttl);
    });
    return { found, complete: cursor === '0' && lockKeys.length <= limit };
  }

  return {
    async inspect(id): Promise<StoredState> {
      const k = keys(id);
      // Record, its TTL and its steps in one round trip: one hash tag, so one Cluster slot.
      const replies = await call('inspect', () =>
        redis.pipeline().get(k.record).pttl(k.record).hgetall(k.steps).exec(),
      );
      const [[recordError, text] = [], [, pttl] = [], [, steps] = []] = replies ?? [];
      if (recordError) throw recordError;
      const lockTtlMs = await lockTtl(k.lock);
      return {
        ...(typeof text === 'string' && {
          record: { record: decodeRecord(text), expiresAt: Date.now() + Math.max(0, Number(pttl)) },
        }),
        ...(lockTtlMs !== undefined && { lockTtlMs }),
        steps: (steps as Record<string, string> | undefined) ?? {},
      };
    },

    async forget(id, force): Promise<ForgetOutcome> {
      const k = keys(id);
      const fused = lockClients.length === 1 && lockClients[0] === redis; // as redisStore decides it
      let forced = false;
      if (!fused) {
        // The lock lives on the quorum: look there first, and when forced, delete it there.
        const ttl = await lockTtl(k.lock);
        if (ttl !== undefined && !force) return { status: 'running', lockTtlMs: ttl };
        if (ttl !== undefined) {
          await onQuorum('DEL lock', (c) => c.del(k.lock));
          forced = true;
        }
      }
      const reply = (await call('forget', () =>
        runScript(
          redis as unknown as ScriptClient,
          FORGET,
          [k.record, k.lock, k.steps],
          [force ? '1' : '0', k.channel, forgottenChannel(prefix), id],
        ),
      )) as [number, number?];
      cache.forget(id); // at once here; other processes hear it on the forget channel
      if (reply[0] === 2) return { status: 'running', lockTtlMs: Number(reply[1]) };
      if (forced) {
        await call('PUBLISH', () => redis.publish(k.channel, '0')); // wake the waiters: one runs again
        return { status: 'forgotten' };
      }
      return { status: reply[0] === 1 ? 'forgotten' : 'none' };
    },

    async locks(limit): Promise<LockListing> {
      const perClient = await onQuorum('SCAN', (client) =>
        Promise.all(nodesOf(client).map((node) => scanLocks(node, limit))),
      );
      const ttls = new Map<string, number[]>();
      // A lock master that did not answer may hold locks this listing cannot count.
      let complete = perClient.every((scans) => scans !== undefined);
      for (const scans of perClient) {
        if (!scans) continue;
        for (const { found, complete: all } of scans) {
          complete &&= all;
          for (const [id, ttl] of found) ttls.set(id, [...(ttls.get(id) ?? []), ttl]);
        }
      }
      const locks: LockListing['locks'] = [];
      for (const [id, held] of ttls) {
        const ttl = heldFor(held, quorum);
        if (ttl === undefined) continue;
        if (locks.length === limit) {
          complete = false;
          break;
        }
        locks.push({ id, ttlMs: ttl });
      }
      return { locks, complete };
    },
  };
}

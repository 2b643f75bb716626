import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { parseOptions } from '../options';
import type { StoredRecord } from '../record';
import { EvictionCursor } from './eviction';
import type { Claim, ForgetOutcome, IdempotencyStore, Lease, LockListing, StepSave, StoredState, Watch } from './store';
import { signalWatch } from './watch';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /** Most records kept; the oldest are dropped first past it. Default 10 000. */
  maxEntries?: number;
}

const schema = z.object({ maxEntries: z.number().int().positive().default(10_000) }).strict();

interface Expiring<T> {
  value: T;
  expiresAt: number;
}

/**
 * An in-process store with the same semantics as {@link redisStore}: for one process, tests and
 * demos. Records and locks expire lazily when touched; no timers run in the background.
 * @see https://www.npmjs.com/package/trpc-idempotency#stores
 */
export function memoryStore(options: MemoryStoreOptions = {}): IdempotencyStore & { readonly size: number } {
  const { maxEntries } = parseOptions(schema, options, 'memoryStore');
  // Map order is insertion order, so the first entry is always the oldest record.
  const records = new Map<string, Expiring<StoredRecord>>();
  const oldest = new EvictionCursor(records);
  const locks = new Map<string, Expiring<string>>();
  const watchers = new Map<string, Set<(record?: StoredRecord) => void>>();
  // Step results per record id, kept apart from records: they outlive an attempt that threw.
  const steps = new Map<string, Expiring<Map<string, string>>>();
  const oldestSteps = new EvictionCursor(steps);

  function live<T>(map: Map<string, Expiring<T>>, id: string): T | undefined {
    const entry = map.get(id);
    if (entry && entry.expiresAt <= Date.now()) map.delete(id);
    return entry && entry.expiresAt > Date.now() ? entry.value : undefined;
  }

  function notify(id: string, record?: StoredRecord): void {
    for (const wake of watchers.get(id) ?? []) wake(record);
  }

  /** Remaining ms of a live lock, or undefined. */
  function lockTtl(id: string): number | undefined {
    return live(locks, id) === undefined ? undefined : (locks.get(id)?.expiresAt ?? 0) - Date.now();
  }

  const stepsOf = (id: string): Record<string, string> => Object.fromEntries(live(steps, id) ?? []);

  return {
    async claim(id, ttlMs): Promise<Claim> {
      const record = live(records, id);
      if (record) return { status: 'done', record };
      if (live(locks, id) !== undefined) {
        return { status: 'busy', retryAfterMs: (locks.get(id)?.expiresAt ?? Date.now()) - Date.now() };
      }
      const lease: Lease = { id, token: randomUUID() };
      locks.set(id, { value: lease.token, expiresAt: Date.now() + ttlMs });
      return { status: 'claimed', lease };
    },

    async extend(lease, ttlMs) {
      if (live(locks, lease.id) !== lease.token) return false;
      locks.set(lease.id, { value: lease.token, expiresAt: Date.now() + ttlMs });
      return true;
    },

    async complete(lease, record, ttlSeconds) {
      const holder = live(locks, lease.id);
      if ((holder !== undefined && holder !== lease.token) || live(records, lease.id)) return false;
      records.set(lease.id, { value: record, expiresAt: Date.now() + ttlSeconds * 1000 });
      while (records.size > maxEntries) oldest.evict();
      locks.delete(lease.id);
      notify(lease.id, record);
      return true;
    },

    async release(lease) {
      if (live(locks, lease.id) !== lease.token) return;
      locks.delete(lease.id);
      notify(lease.id);
    },

    async readSteps(lease) {
      return new Map(live(steps, lease.id));
    },

    async saveStep(lease, name, value, ttlSeconds): Promise<StepSave> {
      const holder = live(locks, lease.id);
      if ((holder !== undefined && holder !== lease.token) || live(records, lease.id)) return { status: 'lost' };
      const saved = live(steps, lease.id) ?? new Map<string, string>();
      const first = saved.get(name);
      if (first !== undefined) return { status: 'exists', value: first };
      saved.set(name, value);
      steps.delete(lease.id); // re-inserted last: the oldest entry stays first, for eviction
      steps.set(lease.id, { value: saved, expiresAt: Date.now() + ttlSeconds * 1000 });
      while (steps.size > maxEntries) oldestSteps.evict();
      return { status: 'saved' };
    },

    async watch(id): Promise<Watch> {
      const set = watchers.get(id) ?? new Set();
      watchers.set(id, set);
      const watch = signalWatch<StoredRecord>((w) => {
        set.delete(w.wake);
        if (set.size === 0 && watchers.get(id) === set) watchers.delete(id);
      });
      set.add(watch.wake);
      return watch;
    },

    async inspect(id): Promise<StoredState> {
      const record = live(records, id);
      const expiresAt = records.get(id)?.expiresAt ?? 0;
      const lockTtlMs = lockTtl(id);
      return {
        ...(record && { record: { record, expiresAt } }),
        ...(lockTtlMs !== undefined && { lockTtlMs }),
        steps: stepsOf(id),
      };
    },

    async forget(id, force): Promise<ForgetOutcome> {
      const ttl = lockTtl(id);
      if (ttl !== undefined && !force) return { status: 'running', lockTtlMs: ttl };
      const found = live(records, id) !== undefined || ttl !== undefined || live(steps, id) !== undefined;
      records.delete(id);
      steps.delete(id);
      if (ttl !== undefined) {
        locks.delete(id);
        notify(id); // the waiters claim again, and one of them runs
      }
      return { status: found ? 'forgotten' : 'none' };
    },

    async locks(limit): Promise<LockListing> {
      const held: LockListing['locks'] = [];
      for (const id of [...locks.keys()]) {
        const ttl = lockTtl(id);
        if (ttl === undefined) continue;
        if (held.length === limit) return { locks: held, complete: false };
        held.push({ id, ttlMs: ttl });
      }
      return { locks: held, complete: true };
    },

    async close() {
      records.clear();
      locks.clear();
      watchers.clear();
      steps.clear();
    },

    /** Records held now, for tests and leak checks. */
    get size() {
      return records.size;
    },
  };
}

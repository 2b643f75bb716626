import type { StoredRecord } from '../record';

/** Proof that one caller holds the lock for a record id. */
export interface Lease {
  /** The record id the lock is for. */
  readonly id: string;
  /** The random value the lock holds while this lease owns it. */
  readonly token: string;
}

/** What `claim` found for a record id. */
export type Claim =
  | { status: 'done'; record: StoredRecord }
  | { status: 'busy'; retryAfterMs: number }
  | { status: 'claimed'; lease: Lease };

/** A subscription to completions of one record id, opened before the re-check that follows it. */
export interface Watch<T = StoredRecord> {
  /**
   * Resolves on the next completion or release notice, or after `ms`, whichever is first: with
   * the completed record when the notice carried it, else undefined (claim again to find out).
   */
  next(ms: number): Promise<T | undefined>;
  /** Unsubscribes; call it once, when done waiting. */
  close(): void;
}

/** What `saveStep` did: stored it, found another holder's value first, or found the lock taken. */
export type StepSave = { status: 'saved' } | { status: 'exists'; value: string } | { status: 'lost' };

/** What a store holds for one record id, as `inspect` reads it. */
export interface StoredState {
  /** The completed record and when it expires (ms since the epoch), if there is one. */
  record?: { record: StoredRecord; expiresAt: number };
  /** Remaining ms of the lock, while a call holds it. */
  lockTtlMs?: number;
  /** Completed durable steps: name -> the step's result as stored (superjson text). */
  steps: Record<string, string>;
}

/** What `forget` did: nothing there, deleted, or refused because a call holds the lock. */
export type ForgetOutcome = { status: 'none' } | { status: 'forgotten' } | { status: 'running'; lockTtlMs: number };

/** Locks held in a store, as far as a bounded scan found them. */
export interface LockListing {
  /** Lock record ids with their remaining TTL in ms, at most `limit`. */
  locks: { id: string; ttlMs: number }[];
  /** False when the scan stopped at `limit` (or its budget) before it had seen every key. */
  complete: boolean;
}

/**
 * The contract between the middleware and a store. Every method may throw when the store is
 * unreachable; the middleware turns that into SERVICE_UNAVAILABLE before the resolver runs.
 */
export interface IdempotencyStore {
  /** Returns the record, or takes the lock for `lockTtlMs`, or reports who holds it and for how long. */
  claim(id: string, lockTtlMs: number): Promise<Claim>;
  /** Pushes the lock's expiry out to `lockTtlMs` from now; false when the lock was lost. */
  extend(lease: Lease, lockTtlMs: number): Promise<boolean>;
  /**
   * Stores the record for `ttlSeconds` and releases the lock, unless another holder took the lock
   * or stored a record first: then nothing is written and it returns false.
   */
  complete(lease: Lease, record: StoredRecord, ttlSeconds: number): Promise<boolean>;
  /** Drops the lock without storing anything, and wakes the waiters so that one can run. */
  release(lease: Lease): Promise<void>;
  /** Subscribes to completions of `id`; resolves once the subscription is live. */
  watch(id: string): Promise<Watch>;
  /**
   * Step results stored by earlier attempts of `lease.id` (name -> encoded value). Optional: only
   * `ctx.idempotency.step` needs it, and a store without it fails such a call with NOT_IMPLEMENTED.
   */
  readSteps?(lease: Lease): Promise<Map<string, string>>;
  /**
   * Stores one step's encoded value for `ttlSeconds`, unless another holder has the lock or the
   * record is stored (`lost`), or a value for `name` is already there (`exists`, with that value).
   */
  saveStep?(lease: Lease, name: string, value: string, ttlSeconds: number): Promise<StepSave>;
  /** Frees the store's own resources (not the Redis clients you passed in). */
  close(): Promise<void>;
  /**
   * Admin (optional: the middleware never calls it; `idempotency.inspect` needs it). What is stored
   * for `id`: record, lock and steps.
   */
  inspect?(id: string): Promise<StoredState>;
  /**
   * Admin (optional, for `idempotency.forget`). Deletes the record and its steps, unless a call holds
   * the lock; with `force`, deletes the lock too and wakes the waiters.
   */
  forget?(id: string, force: boolean): Promise<ForgetOutcome>;
  /** Admin (optional, for `idempotency.list`). Locks held now, at most `limit`, by a bounded scan. */
  locks?(limit: number): Promise<LockListing>;
}

/** Runtime check used by option validation. */
export function isStore(value: unknown): value is IdempotencyStore {
  const s = value as Partial<IdempotencyStore> | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.claim === 'function' &&
    typeof s.complete === 'function' &&
    typeof s.extend === 'function' &&
    typeof s.release === 'function' &&
    typeof s.watch === 'function'
  );
}

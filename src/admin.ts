import { type AnonymousOption, isUserId } from './anonymous';
import { decodeStepValue, splitFingerprint, stepSealing } from './durable/codec';
import type { Cipher } from './encryption';
import {
  adminNotSupported,
  adminRecordUnreadable,
  callRefInvalid,
  forgetWhileRunning,
  storeUnavailable,
} from './errors';
import { parseKey, scopeKey, type UserId } from './key';
import { openRecord, RecordUnreadableError, recordSealing, type StoredRecord, storedError } from './record';
import type { IdempotencyStore, LockListing, StoredState } from './store/store';
import type { SuperJSONLike } from './superjson';

/**
 * Which call: as its caller sent it (`userId` as `getUserId` returns it, the procedure path, the
 * raw key), or by its record id, which `onEvent` logs as `key`.
 */
export type CallRef = { userId: UserId; path: string; key: string } | { id: string };

/** What `inspect` found for a call. */
export type Inspection =
  | { state: 'none' }
  | {
      /** An attempt completed these durable steps, then failed without a record: a retry resumes after them. */
      state: 'unfinished';
      steps: Record<string, unknown>;
    }
  | {
      state: 'running';
      /** Remaining ms of its lock; a live holder renews it every third of its TTL. */
      lockTtlMs: number;
      /** Durable steps completed so far: name -> result. */
      steps: Record<string, unknown>;
    }
  | {
      state: 'done';
      /** `ok`: it succeeded; `error`: a failure `cacheErrors` kept; `unreplayable`: it succeeded, but its result could not be stored. */
      status: StoredRecord['status'];
      /** `ok`: the result; `error`: `{ code, message }`; `unreplayable`: why it could not be stored. */
      result: unknown;
      /** False when the stored result could not be decoded (a superjson custom type not registered here, or a record sealed with a key this process lacks): `result` is then its stored text. */
      decoded: boolean;
      storedAt: Date;
      expiresAt: Date;
      /** Hash of the input of the call that stored it. */
      fingerprint: string;
      /** Durable steps it completed: name -> result. */
      steps: Record<string, unknown>;
    };

/** What `list` found: calls in flight in this process, and locks held in the store. */
export interface InFlightListing {
  /**
   * In this process: `count` calls running or waiting per record id, all of them; `calls` lists the
   * oldest, at most `limit`.
   */
  process: { count: number; calls: { id: string; path: string; ageMs: number }[] };
  /**
   * In the store, by any process: locks with their remaining TTL, from a bounded scan. `count` is
   * how many it listed (at most `limit`); `complete` says whether that is all of them.
   */
  store: { count: number; complete: boolean; locks: LockListing['locks'] };
}

/** The operator's side of `createIdempotency`: for an admin procedure, a support script or a REPL. */
export interface AdminApi {
  /** What is stored for a call: `none`, `running` (with its lock's remaining TTL) or `done` (with its result). */
  inspect(ref: CallRef): Promise<Inspection>;
  /**
   * Deletes a call's record and its steps, so that the next call with its key runs again. Refuses
   * with CONFLICT while the call runs, unless `force` (then a duplicate may run alongside it).
   */
  forget(ref: CallRef, options?: { force?: boolean }): Promise<{ forgotten: boolean }>;
  /** Calls in flight in this process and locks held in the store, at most `limit` (default 100, up to 1000) of each. */
  list(options?: { limit?: number }): Promise<InFlightListing>;
}

const RECORD_ID = /^[A-Za-z0-9_-]{43}$/;

/** The record id of a call, derived as the middleware derives it. */
function recordIdOf(ref: CallRef, headerName: string, anonymous: AnonymousOption<never>): string {
  if (typeof ref !== 'object' || ref === null) throw callRefInvalid('it is not an object');
  if ('id' in ref) {
    if (typeof ref.id === 'string' && RECORD_ID.test(ref.id)) return ref.id;
    throw callRefInvalid('id is not a record id (43 base64url characters, as onEvent logs it)');
  }
  const { userId, path, key } = ref;
  if (userId === null || userId === undefined) {
    // Only `anonymous: 'shared'` puts calls without a user id in one scope that a ref can name.
    if (anonymous !== 'shared') {
      throw callRefInvalid(
        anonymous === 'reject'
          ? "userId is missing, and with anonymous: 'reject' every stored call has one"
          : 'userId is missing: calls of anonymous callers are scoped by their session; name them by { id }, as onEvent logs it',
      );
    }
  } else if (!isUserId(userId)) throw callRefInvalid('userId is not a string or number');
  if (typeof path !== 'string' || path === '') throw callRefInvalid('path is not a procedure path');
  const sent = parseKey(key, headerName);
  if (!sent) throw callRefInvalid('key is missing');
  return scopeKey(userId ?? null, path, sent.key);
}

/**
 * Every stored value an operator sees (a result, a step's result) is decoded here, and only here,
 * so that a codec over stored text (encryption) has one place to go.
 */
function decodeStored(text: string, sj: SuperJSONLike): { value: unknown; decoded: boolean } {
  try {
    return { value: sj.parse(text), decoded: true };
  } catch {
    return { value: text, decoded: false };
  }
}

function decodeSteps(
  id: string,
  steps: Record<string, string>,
  sj: SuperJSONLike,
  cipher: Cipher | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, text] of Object.entries(steps)) {
    try {
      out[name] = decodeStepValue(splitFingerprint(text).text, sj, stepSealing(cipher, id, name)); // as step() reads it
    } catch {
      out[name] = text;
    }
  }
  return out;
}

function resultOf(
  id: string,
  stored: StoredRecord,
  sj: SuperJSONLike,
  cipher: Cipher | undefined,
): { result: unknown; decoded: boolean } {
  let record: StoredRecord;
  try {
    record = openRecord(stored, recordSealing(cipher, id));
  } catch {
    return { result: stored.body, decoded: false }; // sealed with a key not given here, or tampered with
  }
  if (record.status === 'ok') {
    const { value, decoded } = decodeStored(record.body, sj);
    return { result: value, decoded };
  }
  if (record.status === 'error') {
    try {
      return { result: storedError(record.body), decoded: true };
    } catch {
      return { result: record.body, decoded: false }; // damaged in the store
    }
  }
  return { result: record.body, decoded: true };
}

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

function limitOf(limit: unknown): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  if (typeof limit === 'number' && Number.isInteger(limit) && limit >= 1 && limit <= MAX_LIMIT) return limit;
  throw callRefInvalid(`limit must be a whole number from 1 to ${MAX_LIMIT}`);
}

/** A store failure is SERVICE_UNAVAILABLE here too, as on the request path. */
async function storeCall<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (error) {
    if (error instanceof RecordUnreadableError) throw adminRecordUnreadable(error);
    throw storeUnavailable(error);
  }
}

interface AdminDeps {
  store: IdempotencyStore;
  /** The middleware's calls in flight, by record id. */
  flights: ReadonlyMap<string, { path: string; startedAt: number }>;
  headerName: string;
  superjson: SuperJSONLike;
  /** With encryption on: stored results and steps are opened with it. */
  cipher: Cipher | undefined;
  /** How the middleware scopes callers without a user id: which refs can name their calls. */
  anonymous: AnonymousOption<never>;
}

/** inspect, forget and list over a store's optional admin methods. */
export function createAdmin({ store, flights, headerName, superjson: sj, cipher, anonymous }: AdminDeps): AdminApi {
  const need = <K extends 'inspect' | 'forget' | 'locks'>(method: K): NonNullable<IdempotencyStore[K]> => {
    const fn = store[method];
    if (typeof fn !== 'function') throw adminNotSupported(method);
    return fn.bind(store) as NonNullable<IdempotencyStore[K]>;
  };

  return {
    async inspect(ref) {
      const id = recordIdOf(ref, headerName, anonymous);
      const inspect = need('inspect');
      const state: StoredState = await storeCall(() => inspect(id));
      const steps = decodeSteps(id, state.steps, sj, cipher);
      if (state.record) {
        const { record, expiresAt } = state.record;
        return {
          state: 'done',
          status: record.status,
          ...resultOf(id, record, sj, cipher),
          storedAt: new Date(record.createdAt),
          expiresAt: new Date(expiresAt),
          fingerprint: record.fingerprint,
          steps,
        };
      }
      if (state.lockTtlMs !== undefined) return { state: 'running', lockTtlMs: state.lockTtlMs, steps };
      return Object.keys(steps).length > 0 ? { state: 'unfinished', steps } : { state: 'none' };
    },

    async forget(ref, options = {}) {
      const id = recordIdOf(ref, headerName, anonymous);
      const forget = need('forget');
      const outcome = await storeCall(() => forget(id, options.force === true));
      if (outcome.status === 'running') throw forgetWhileRunning(outcome.lockTtlMs);
      return { forgotten: outcome.status === 'forgotten' };
    },

    async list(options = {}) {
      const limit = limitOf(options.limit);
      const locks = need('locks');
      const now = performance.now();
      const calls: InFlightListing['process']['calls'] = [];
      // Map order is insertion order: the oldest calls come first.
      for (const [id, flight] of flights) {
        if (calls.length === limit) break;
        calls.push({ id, path: flight.path, ageMs: Math.round(now - flight.startedAt) });
      }
      const held = await storeCall(() => locks(limit));
      return {
        process: { count: flights.size, calls },
        store: { count: held.locks.length, complete: held.complete, locks: held.locks },
      };
    },
  };
}

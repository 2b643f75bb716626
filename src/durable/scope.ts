import { createHash, randomUUID } from 'node:crypto';
import type { TRPCError } from '@trpc/server';
import { type Cipher, SealedTextError } from '../encryption';
import { stepLockLost, stepNameInvalid, stepNameReused, stepsUnsupported, storeUnavailable } from '../errors';
import type { SqlAdapter } from '../sql/adapter';
import type { IdempotencyStore, Lease, StepSave } from '../store/store';
import type { SuperJSONLike } from '../superjson';
import { decodeStepValue, encodeStepValue, splitFingerprint, stepSealing, withFingerprint } from './codec';

/**
 * `ctx.idempotency`: what the middleware hands every resolver it runs, with or without a key.
 * @see https://www.npmjs.com/package/trpc-idempotency#durable-mutations
 */
export interface IdempotencyScope {
  /** The idempotency key as the client sent it; undefined without one. */
  readonly key: string | undefined;
  /**
   * Runs `fn` once per (record id, name): its superjson result is stored once it succeeds, and any
   * later execution of the same record (after a crash, a lost lock, or an attempt that threw) gets
   * it back without running `fn`. A run that crashes before storing runs again: pass
   * {@link stepKey} to a provider that accepts its own idempotency key. Without a key, runs `fn`.
   */
  step<T>(name: string, fn: () => T | Promise<T>): Promise<T>;
  /**
   * A key for a downstream API's own idempotency key: derived from (record id, name), so stable
   * across retries; 48 visible ASCII characters. Without an idempotency key, unique per execution.
   */
  stepKey(name: string): string;
  /**
   * Runs `fn(tx)` in a SQL transaction that also inserts this step's record before COMMIT: a later
   * execution finds it and returns the stored result instead of running `fn`. Without a key, just
   * runs `fn` in a transaction. `name` defaults to `"transaction"`.
   */
  transaction<Tx, T>(adapter: SqlAdapter<Tx>, fn: (tx: Tx) => Promise<T>, name?: string): Promise<T>;
}

/** What a keyed execution's scope needs from the middleware. */
export interface ExecutionInfo {
  key: string;
  id: string;
  path: string;
  fingerprint: string;
  lease: Lease;
  store: IdempotencyStore;
  ttlSeconds: number;
  superjson: SuperJSONLike;
  /** The 422 a different input with this key gets. */
  mismatch: () => TRPCError;
  /** A store failure the call goes on after (a `store-error` event, or `not-replicated` for a step saved short of its replicas). */
  onStoreError: (error: unknown) => void;
  /** With encryption on: step values are sealed for their record id and name. */
  cipher?: Cipher | undefined;
  /** The error for a stored step value that fails to open (reported as an `integrity-error` event). */
  unreadable?: (error: unknown) => TRPCError;
}

const MAX_NAME_LENGTH = 100;
const DEFAULT_TRANSACTION_NAME = 'transaction';

function derivedKey(id: string, name: string): string {
  return `idem_${createHash('sha256')
    .update(JSON.stringify([id, name]))
    .digest('base64url')}`;
}

function checkName(path: string, name: unknown): string {
  if (typeof name !== 'string') throw stepNameInvalid(path, `it is a ${typeof name}, not a string`);
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw stepNameInvalid(path, `it is ${name.length} characters long`);
  }
  return name;
}

/** The scope of a call without an idempotency key: steps and transactions just run. */
export function keylessScope(path: string): IdempotencyScope {
  let execution: string | undefined;
  return {
    key: undefined,
    step: async (name, fn) => {
      checkName(path, name);
      return fn();
    },
    stepKey(name) {
      execution ??= randomUUID();
      return derivedKey(execution, checkName(path, name));
    },
    transaction: (adapter, fn, name = DEFAULT_TRANSACTION_NAME) => {
      checkName(path, name);
      return adapter.run(fn);
    },
  };
}

/** The scope of one execution of a keyed call, under its lease. */
export function executionScope(info: ExecutionInfo): IdempotencyScope {
  const { id, path, store, lease, ttlSeconds, superjson } = info;
  const used = new Set<string>();
  const sealing = (name: string) => stepSealing(info.cipher, id, name);
  const encoded = (value: unknown, name: string) => encodeStepValue(value, superjson, sealing(name));
  /** A stored value that fails to open is never used, and its step never runs again. */
  function decoded<T>(text: string, name: string): T {
    try {
      return decodeStepValue<T>(text, superjson, sealing(name));
    } catch (error) {
      if (error instanceof SealedTextError && info.unreadable) throw info.unreadable(error);
      throw error;
    }
  }
  let earlier: Promise<Map<string, string>> | undefined;

  /** Names are unique per execution: a second "charge" must not silently replay the first. */
  function claimName(name: unknown): string {
    const checked = checkName(path, name);
    if (used.has(checked)) throw stepNameReused(path, checked);
    used.add(checked);
    return checked;
  }

  /**
   * Earlier attempts' step results, read once per execution, on its first step: by name, their
   * encoded values, each checked once against this call's input.
   */
  function loadEarlier(read: (lease: Lease) => Promise<Map<string, string>>): Promise<Map<string, string>> {
    earlier ??= read(lease).then(
      (steps) => {
        const checked = new Map<string, string>();
        for (const [name, stored] of steps) checked.set(name, sameInput(stored));
        return checked;
      },
      (error: unknown) => {
        info.onStoreError(error);
        throw storeUnavailable(error); // before fn runs: fail closed, as a claim does
      },
    );
    return earlier;
  }

  /** A step stored by an attempt with another input under this key: 422, and this step does not run. */
  function sameInput(stored: string): string {
    const { fingerprint, text } = splitFingerprint(stored);
    if (fingerprint !== info.fingerprint) throw info.mismatch();
    return text;
  }

  return {
    key: info.key,

    async step<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
      const checked = claimName(name);
      const { readSteps, saveStep } = store;
      if (!readSteps || !saveStep) throw stepsUnsupported(path);
      const stored = (await loadEarlier(readSteps.bind(store))).get(checked);
      if (stored !== undefined) return decoded<T>(stored, checked);
      const value = await fn();
      let saved: StepSave;
      try {
        const text = withFingerprint(info.fingerprint, encoded(value, checked));
        saved = await saveStep.call(store, lease, checked, text, ttlSeconds);
      } catch (error) {
        // fn ran: go on with its value rather than fail a call whose retry would run it again.
        info.onStoreError(error);
        return value;
      }
      // Another holder took over: stop here, before this stale execution does more.
      if (saved.status === 'lost') throw stepLockLost(path);
      return saved.status === 'exists' ? decoded<T>(sameInput(saved.value), checked) : value;
    },

    stepKey: (name) => derivedKey(id, checkName(path, name)),

    async transaction<Tx, T>(adapter: SqlAdapter<Tx>, fn: (tx: Tx) => Promise<T>, name = DEFAULT_TRANSACTION_NAME) {
      const checked = claimName(name);
      let value: T | undefined;
      const recorded = await adapter.runOnce(
        { recordId: id, name: checked, fingerprint: info.fingerprint, ttlSeconds },
        async (tx) => {
          value = await fn(tx);
          return encoded(value, checked);
        },
      );
      if (recorded.fingerprint !== info.fingerprint) throw info.mismatch();
      // fn's own value when it committed; otherwise the committed one (fn did not run, or rolled back).
      return recorded.ran ? (value as T) : decoded<T>(recorded.result, checked);
    },
  };
}

/** Options of {@link createIdempotencyKeyHolder}. */
export interface IdempotencyKeyHolderOptions {
  /** Makes a new key. Default `crypto.randomUUID()` (browsers: secure contexts only). */
  generateKey?: () => string;
}

/**
 * One key per user action, for any UI framework: the same key on every read until the action is
 * done, then a new one. `subscribe` follows the Svelte store contract (the listener gets the current
 * key at once, then each new one), which also suits React's `useSyncExternalStore` and a Vue `ref`.
 */
export interface IdempotencyKeyHolder {
  /** The current action's key, minted on the first read (so never at import or on a server that never reads it). */
  get(): string;
  /** Starts a new action: the next {@link get} returns a new key. */
  reset(): void;
  /**
   * The action that sent `key` succeeded: start a new one, unless `key` is no longer current. An
   * older call that finishes late must not retire the key of the action that followed it.
   */
  finish(key: string): void;
  /** Calls `listener` with the current key now and with every new key; returns the unsubscribe function. */
  subscribe(listener: (key: string) => void): () => void;
}

const randomKey = () => globalThis.crypto.randomUUID();

/**
 * Creates a framework-neutral {@link IdempotencyKeyHolder}; `useIdempotencyKey` from
 * `trpc-idempotency/react` is a thin React layer over it.
 * @see https://www.npmjs.com/package/trpc-idempotency#react
 */
export function createIdempotencyKeyHolder(options: IdempotencyKeyHolderOptions = {}): IdempotencyKeyHolder {
  const generateKey = options.generateKey ?? randomKey;
  const listeners = new Set<(key: string) => void>();
  let current: string | undefined;

  const get = (): string => {
    if (current === undefined) {
      const key = generateKey();
      if (typeof key !== 'string' || key === '') {
        throw new TypeError(`generateKey returned ${JSON.stringify(key)}; return a non-empty string`);
      }
      current = key;
    }
    return current;
  };

  const reset = (): void => {
    current = undefined;
    // Only listeners make the new key exist now; without them it waits for the next read.
    if (listeners.size === 0) return;
    const key = get();
    for (const listener of [...listeners]) listener(key);
  };

  return {
    get,
    reset,
    finish(key) {
      if (key === current) reset();
    },
    subscribe(listener) {
      listeners.add(listener);
      listener(get());
      return () => {
        listeners.delete(listener);
      };
    },
  };
}

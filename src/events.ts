/**
 * What `onEvent` receives. `key` is the scoped record id (a hash of user, path and key: safe to log).
 * - `miss`: first execution, the resolver ran;
 * - `hit`: replayed from a stored record;
 * - `wait`: waited for a concurrent first call, then replayed its result;
 * - `conflict`: gave up waiting after `waitTimeoutMs` (CONFLICT);
 * - `mismatch`: the key was used with a different input (UNPROCESSABLE_CONTENT);
 * - `store-error`: the store failed; `error` says how;
 * - `lock-lost`: the lock expired or was taken while the resolver ran: the at-least-once window.
 */
export interface IdempotencyEvent {
  /** What happened; see the list above. */
  type: 'hit' | 'miss' | 'wait' | 'conflict' | 'mismatch' | 'store-error' | 'lock-lost';
  /** The procedure path, such as `orders.create`. */
  path: string;
  /** The scoped record id: a hash of user, path and key, safe to log. */
  key: string;
  /** Time since the middleware started for this call, in ms. */
  durationMs: number;
  /** For `wait` and `conflict`: how long this call waited, in ms. */
  waitedMs?: number;
  /** For `store-error` and `lock-lost`: what went wrong. */
  error?: unknown;
  /** The time this library added to the call, in ms: `durationMs` less the resolver's run and any wait. */
  overheadMs?: number;
  /**
   * Store operations this call awaited so far (claims, completion, release, opening a watch): one
   * Redis round trip each on a single node or Cluster, except a replay from the record cache (none).
   */
  storeCalls?: number;
}

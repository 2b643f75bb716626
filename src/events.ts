/**
 * What `onEvent` receives. `key` is the scoped record id (a hash of user, path and key: safe to log).
 * - `miss`: first execution, the resolver ran;
 * - `hit`: replayed from a stored record;
 * - `wait`: waited for a concurrent first call, then replayed its result;
 * - `conflict`: gave up waiting after `waitTimeoutMs` (CONFLICT);
 * - `mismatch`: the key was used with a different input (UNPROCESSABLE_CONTENT);
 * - `store-error`: the store failed; `error` says how;
 * - `lock-lost`: the lock expired or was taken while the resolver ran: the at-least-once window;
 * - `integrity-error`: a stored record failed to open (tampered with, or an unknown encryption
 *   key): it was neither replayed nor run again; `error` says why;
 * - `not-replicated`: the resolver ran and its record (or a durable step its result) was stored,
 *   but fewer replicas than `redisStore`'s `replicas.count` acknowledged it in time: a failover now
 *   could lose it.
 */
export interface IdempotencyEvent {
  /** What happened; see the list above. */
  type:
    | 'hit'
    | 'miss'
    | 'wait'
    | 'conflict'
    | 'mismatch'
    | 'store-error'
    | 'lock-lost'
    | 'integrity-error'
    | 'not-replicated';
  /** The procedure path, such as `orders.create`. */
  path: string;
  /** The scoped record id: a hash of user, path and key, safe to log. */
  key: string;
  /** Time since the middleware started for this call, in ms. */
  durationMs: number;
  /** For `wait` and `conflict`: how long this call waited, in ms. */
  waitedMs?: number;
  /** For `store-error`, `lock-lost` and `integrity-error`: what went wrong. */
  error?: unknown;
  /** The time this library added to the call, in ms: `durationMs` less the resolver's run and any wait. */
  overheadMs?: number;
  /**
   * Store operations this call awaited so far (claims, completion, release, opening a watch): one
   * Redis round trip each on a single node or Cluster, except a replay from the record cache (none).
   */
  storeCalls?: number;
}

/** What an event says of its call: which one, and where its time went. */
export interface MeasuredCall {
  id: string;
  path: string;
  /** performance.now() when the middleware took the call. */
  startedAt: number;
  resolverMs: number;
  storeCalls: number;
}

interface EventSinks {
  onEvent?: ((event: IdempotencyEvent) => void) | undefined;
  telemetry?: { record(event: IdempotencyEvent): void } | undefined;
}

/** `emit(call, type, extra)`: one event to `onEvent` and to telemetry; neither may change the call's outcome. */
export function eventEmitter(sinks: EventSinks) {
  return function emit(call: MeasuredCall, type: IdempotencyEvent['type'], extra?: Partial<IdempotencyEvent>): void {
    if (!sinks.onEvent && !sinks.telemetry) return;
    const durationMs = performance.now() - call.startedAt;
    const event: IdempotencyEvent = {
      type,
      path: call.path,
      key: call.id,
      durationMs,
      overheadMs: Math.max(0, durationMs - call.resolverMs - (extra?.waitedMs ?? 0)),
      storeCalls: call.storeCalls,
      ...extra,
    };
    try {
      sinks.onEvent?.(event);
    } catch {
      // A logging hook must not change the outcome of a call.
    }
    try {
      sinks.telemetry?.record(event);
    } catch {
      // Nor may telemetry.
    }
  };
}

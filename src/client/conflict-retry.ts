import type { Operation, OperationLink, OperationResultEnvelope, TRPCClientError } from '@trpc/client';
import type { AnyRouter } from '@trpc/server';
import { observable } from '@trpc/server/observable';
import { CONFLICT_HEADER } from '../replay-header';
import { parseSfStringList } from '../structured-field';
import { responseHeaders } from './replay';

/** How `idempotencyLink({ retryConflict })` asks again after a CONFLICT. */
export interface ConflictRetryOptions {
  /** How many times to ask again, at most. Default 5. */
  maxRetries?: number;
  /** The longest pause before one ask, whatever the server hints. Default 10 000 ms. */
  maxDelayMs?: number;
  /** The pause when the server gives no hint (an older server, or a hidden Retry-After). Default 1000 ms. */
  defaultDelayMs?: number;
}

interface ErrorLike {
  data?: { code?: unknown; retryAfterMs?: unknown } | null;
  meta?: unknown;
}

/**
 * When to ask again after `error`, or undefined when it is not the CONFLICT of a duplicate that
 * outwaited the first call. An app's own CONFLICT (a taken username) carries neither the
 * `retryAfterMs` of `idempotencyErrorData` nor a `Retry-After` header, so it is never retried; nor
 * is any other error (a 400 or 422 would fail the same way again). In a batch, which shares one
 * `Retry-After`, the server names its own CONFLICTs by key (`Idempotent-Conflict`): pass the
 * operation's `key`, and a CONFLICT the server did not name is not retried.
 */
export function conflictRetryDelay(error: unknown, defaultDelayMs = 1000, key?: string): number | undefined {
  const { data } = (error ?? {}) as ErrorLike;
  if (data?.code !== 'CONFLICT') return undefined;
  if (typeof data.retryAfterMs === 'number' && data.retryAfterMs >= 0) return data.retryAfterMs;
  const headers = responseHeaders(error);
  const header = headers?.get('Retry-After');
  if (header === null || header === undefined) return undefined;
  const named = headers?.get(CONFLICT_HEADER);
  if (named !== null && named !== undefined && (key === undefined || !parseSfStringList(named)?.includes(key)))
    return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? defaultDelayMs : Math.max(0, date - Date.now());
}

const keyOf = (op: Operation) =>
  typeof op.context.idempotencyKey === 'string' ? op.context.idempotencyKey : undefined;

type Next<TRouter extends AnyRouter> = Parameters<OperationLink<TRouter>>[0]['next'];

/**
 * Sends `op` through `next`, and on a CONFLICT of the idempotency middleware waits as the server
 * hints and sends the same operation again: the same key, so the caller ends with the first
 * call's result. Bounded by `maxRetries` and `maxDelayMs`; stops when the caller unsubscribes.
 */
export function retryingConflicts<TRouter extends AnyRouter>(
  op: Operation,
  next: Next<TRouter>,
  options: ConflictRetryOptions,
) {
  const maxRetries = options.maxRetries ?? 5;
  const maxDelayMs = options.maxDelayMs ?? 10_000;
  return observable<OperationResultEnvelope<unknown, TRPCClientError<TRouter>>, TRPCClientError<TRouter>>(
    (observer) => {
      let retries = 0;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let current: { unsubscribe(): void } | undefined;
      const attempt = () => {
        let answered = false;
        current = next(op).subscribe({
          next(envelope) {
            answered = true;
            observer.next(envelope);
          },
          error(error) {
            const delay = answered ? undefined : conflictRetryDelay(error, options.defaultDelayMs, keyOf(op));
            if (delay === undefined || retries >= maxRetries) {
              observer.error(error);
              return;
            }
            retries += 1;
            timer = setTimeout(attempt, Math.min(delay, maxDelayMs));
          },
          complete() {
            observer.complete();
          },
        });
      };
      attempt();
      return () => {
        clearTimeout(timer);
        current?.unsubscribe();
      };
    },
  );
}

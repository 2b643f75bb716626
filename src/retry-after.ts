import { TRPCError } from '@trpc/server';
import { setResponseHeader } from './replay-header';

/**
 * How long a duplicate that got CONFLICT should pause before asking again. Short on purpose: the
 * server has just waited `waitTimeoutMs`, and asking again with the same key starts a new wait
 * there, so the pause only spaces the asks out.
 */
export const CONFLICT_RETRY_AFTER_MS = 1000;

/** The response header that carries the hint, in whole seconds (RFC 9110). */
const RETRY_AFTER_HEADER = 'Retry-After';

/**
 * Sets `Retry-After` on the HTTP response, as `markReplayed` sets its header. Best effort: once a
 * streaming response has sent its headers it is too late, and the error's data carries the same hint.
 */
export function setRetryAfter(ctx: unknown, retryAfterMs: number): void {
  setResponseHeader(ctx, RETRY_AFTER_HEADER, String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
}

/** What {@link idempotencyErrorData} adds to an error's `data`. */
export interface IdempotencyErrorData {
  /** On the CONFLICT of a duplicate that outwaited `waitTimeoutMs`: ask again with the same key after this long. */
  retryAfterMs?: number;
}

/**
 * The hints this library's errors carry, for your `errorFormatter`, so that clients read them in
 * `error.data` (cross-origin too, where `Retry-After` is not exposed):
 * `errorFormatter: ({ shape, error }) => ({ ...shape, data: { ...shape.data, ...idempotencyErrorData(error) } })`.
 * Returns `{}` for every other error.
 * @see https://www.npmjs.com/package/trpc-idempotency#errors
 */
export function idempotencyErrorData(error: unknown): IdempotencyErrorData {
  const retryAfterMs = error instanceof TRPCError ? (error as { retryAfterMs?: unknown }).retryAfterMs : undefined;
  return typeof retryAfterMs === 'number' ? { retryAfterMs } : {};
}

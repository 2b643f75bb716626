/** How many times {@link retryTransientFailures} retries one call. */
const MAX_RETRIES = 3;

/**
 * A React Query `retry` for keyed mutations: up to 3 retries when no answer came back (the
 * connection dropped, perhaps after the server ran the call: the same key makes the retry a
 * replay) or the idempotency store was unavailable (`SERVICE_UNAVAILABLE`: the call did not run).
 * Never an error the server answered otherwise: a 400 or 422 would fail again, and a resolver's
 * own error is the action's outcome. CONFLICT is `idempotencyLink({ retryConflict })`'s job.
 */
export function retryTransientFailures(failureCount: number, error: unknown): boolean {
  if (failureCount >= MAX_RETRIES) return false;
  const { name, data } = (error ?? {}) as { name?: unknown; data?: { code?: unknown } | null };
  // Only tRPC's client error: a TypeError thrown before sending (a bad key) is a bug, not a blip.
  if (name !== 'TRPCClientError') return false;
  return data === undefined || data === null || data.code === 'SERVICE_UNAVAILABLE';
}

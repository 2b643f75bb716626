/** Response header set on every replayed call. */
export const REPLAY_HEADER = 'Idempotent-Replayed';

interface NodeResponseLike {
  headersSent?: boolean;
  setHeader(name: string, value: string): unknown;
}

/**
 * Marks the HTTP response as a replay through `ctx.resHeaders` (fetch adapter) or `ctx.res`
 * (node adapters). Best effort: once a streaming response has sent its headers it is too late,
 * and a header must never turn a successful call into an error.
 */
export function markReplayed(ctx: unknown): void {
  const { resHeaders, res } = (ctx ?? {}) as { resHeaders?: Headers; res?: NodeResponseLike };
  try {
    if (resHeaders && typeof resHeaders.set === 'function') {
      resHeaders.set(REPLAY_HEADER, 'true');
    } else if (res && typeof res.setHeader === 'function' && !res.headersSent) {
      res.setHeader(REPLAY_HEADER, 'true');
    }
  } catch {
    // Headers already sent or frozen: the replay itself is still correct.
  }
}

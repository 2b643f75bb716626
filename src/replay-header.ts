import { sfString } from './structured-field';

/**
 * Response header set on every replayed call: `true`, or, for the calls of a batch that sent a list
 * of keys, the replayed calls' keys as an RFC 8941 list (`"k1", "k3"`).
 */
export const REPLAY_HEADER = 'Idempotent-Replayed';

interface NodeResponseLike {
  headersSent?: boolean;
  getHeader?(name: string): unknown;
  setHeader(name: string, value: string): unknown;
}

/**
 * Response header set when calls of a batch that sent a list of keys got this library's CONFLICT
 * (the first call still runs): their keys, as an RFC 8941 list. The batch shares one `Retry-After`,
 * so this says which of its CONFLICTs that hint is for; an app's own CONFLICT is never named.
 */
export const CONFLICT_HEADER = 'Idempotent-Conflict';

/**
 * Marks the HTTP response as a replay through `ctx.resHeaders` (fetch adapter) or `ctx.res`
 * (node adapters). `listedKey` is the call's key when it came from a batch's list: the header then
 * names each replayed call of the batch, not the whole response. Best effort: once a streaming
 * response has sent its headers it is too late, and a header must never turn a successful call
 * into an error.
 */
export function markReplayed(ctx: unknown, listedKey?: string): void {
  mark(ctx, REPLAY_HEADER, listedKey);
}

/** Names a batched call (by its listed key) among those that got this library's CONFLICT. */
export function markConflict(ctx: unknown, listedKey: string): void {
  mark(ctx, CONFLICT_HEADER, listedKey);
}

function mark(ctx: unknown, header: string, listedKey: string | undefined): void {
  if (listedKey === undefined) setResponseHeader(ctx, header, 'true');
  else setResponseHeader(ctx, header, sfString(listedKey), { append: true });
}

/**
 * Sets a response header through `ctx.resHeaders` (fetch adapter) or `ctx.res` (node adapters);
 * `append` adds to a list already there (RFC 8941 syntax: values joined with ", "). Best effort:
 * once a streaming response has sent its headers it is too late, and a header must never turn a
 * call's answer into an error.
 */
export function setResponseHeader(ctx: unknown, header: string, value: string, options?: { append: boolean }): void {
  const { resHeaders, res } = (ctx ?? {}) as { resHeaders?: Headers; res?: NodeResponseLike };
  try {
    if (resHeaders && typeof resHeaders.set === 'function') {
      // Headers joins appended values with ", ", which is RFC 8941 list syntax.
      if (options?.append) resHeaders.append(header, value);
      else resHeaders.set(header, value);
    } else if (res && typeof res.setHeader === 'function' && !res.headersSent) {
      const before = options?.append ? res.getHeader?.(header) : undefined;
      res.setHeader(header, typeof before === 'string' && before !== '' ? `${before}, ${value}` : value);
    }
  } catch {
    // Headers already sent or frozen: the answer itself is still correct.
  }
}

import type { Operation, OperationContext, TRPCLink } from '@trpc/client';
import type { AnyRouter } from '@trpc/server';
import { observable } from '@trpc/server/observable';
import { REPLAY_HEADER } from '../replay-header';
import { parseSfStringList } from '../structured-field';

export interface HeadersReader {
  get(name: string): string | null;
}

/** The fetch `Response` an HTTP link left in a result's context or an error's `meta`, if any. */
export function responseHeaders(source: unknown): HeadersReader | undefined {
  const holder = source as
    | { response?: { headers?: HeadersReader }; meta?: { response?: { headers?: HeadersReader } } }
    | null
    | undefined;
  // httpLink and httpBatchLink put the Response at `context.response` (results) and `meta.response` (errors).
  const headers = holder?.response?.headers ?? holder?.meta?.response?.headers;
  return headers && typeof headers.get === 'function' ? headers : undefined;
}

/**
 * Whether the server answered from its store (`Idempotent-Replayed`). Pass a result's `context` in a
 * custom link, or a `TRPCClientError` (a replayed cached error), and the operation's key
 * (`op.context.idempotencyKey`; a link placed after `idempotencyLink` sees generated keys too). In a
 * batch sent with {@link idempotencyBatchHeaders}, the server names each replayed call by its key,
 * so only those are true, and a call whose key is not given never is: the response it shared may
 * name others. False when the link exposes no response (e.g. `wsLink`).
 */
export function isReplayed(contextOrError: OperationContext | Error | null | undefined, key?: string): boolean {
  const value = responseHeaders(contextOrError)?.get(REPLAY_HEADER)?.trim();
  if (!value) return false;
  if (value.toLowerCase() === 'true') return true;
  const replayed = parseSfStringList(value);
  if (!replayed) return false;
  return key !== undefined && replayed.includes(key);
}

/** What {@link idempotentReplayLink} reports for each replayed operation. */
export interface ReplayInfo {
  /** The operation, with its `context.idempotencyKey`. */
  op: Operation;
  /** The replayed outcome: a stored result, or a stored error (`cacheErrors` on the server). */
  outcome: 'result' | 'error';
}

/** Options of {@link idempotentReplayLink}. */
export interface IdempotentReplayLinkOptions {
  /** Called once per operation the server replayed instead of running it. */
  onReplay: (info: ReplayInfo) => void;
}

/**
 * Reports replays to the client: calls `onReplay` for each operation the server answered from its
 * store (see {@link isReplayed}), batched ones included. Put it after `idempotencyLink`, which
 * gives the operation the key it reads (before it, a batched call with a generated key is never
 * reported), and before the terminating HTTP link; before `retryLink` it reports only the final
 * attempt.
 */
export function idempotentReplayLink<TRouter extends AnyRouter = AnyRouter>(
  options: IdempotentReplayLinkOptions,
): TRPCLink<TRouter> {
  return () =>
    ({ op, next }) =>
      observable((observer) => {
        let reported = false;
        const report = (outcome: ReplayInfo['outcome'], source: OperationContext | Error | undefined) => {
          if (reported || !isReplayed(source, op.context.idempotencyKey)) return;
          reported = true;
          try {
            options.onReplay({ op, outcome });
          } catch {
            // A reporting hook must not change the outcome of the call.
          }
        };
        return next(op).subscribe({
          next(envelope) {
            report('result', envelope.context);
            observer.next(envelope);
          },
          error(error) {
            report('error', error);
            observer.error(error);
          },
          complete() {
            observer.complete();
          },
        });
      });
}

import type { Operation, OperationContext, TRPCLink } from '@trpc/client';
import type { AnyRouter } from '@trpc/server';
import { observable } from '@trpc/server/observable';
import { REPLAY_HEADER } from '../replay-header';

interface HeadersReader {
  get(name: string): string | null;
}

/** The fetch `Response` an HTTP link left in a result's context or an error's `meta`, if any. */
function responseHeaders(source: unknown): HeadersReader | undefined {
  const holder = source as
    | { response?: { headers?: HeadersReader }; meta?: { response?: { headers?: HeadersReader } } }
    | null
    | undefined;
  // httpLink and httpBatchLink put the Response at `context.response` (results) and `meta.response` (errors).
  const headers = holder?.response?.headers ?? holder?.meta?.response?.headers;
  return headers && typeof headers.get === 'function' ? headers : undefined;
}

/**
 * Whether the server answered from its store (`Idempotent-Replayed: true`). Pass a result's
 * `context` in a custom link, or a `TRPCClientError` (a replayed cached error). False when the link
 * exposes no response (e.g. `wsLink`). In a batch the header covers the whole HTTP request: true
 * when any call of the batch was replayed.
 */
export function isReplayed(contextOrError: OperationContext | Error | null | undefined): boolean {
  return responseHeaders(contextOrError)?.get(REPLAY_HEADER)?.trim().toLowerCase() === 'true';
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
 * Reports replays to the client: calls `onReplay` when a response carries
 * `Idempotent-Replayed: true`. Put it anywhere before the terminating HTTP link; before `retryLink`
 * it reports only the final attempt.
 */
export function idempotentReplayLink<TRouter extends AnyRouter = AnyRouter>(
  options: IdempotentReplayLinkOptions,
): TRPCLink<TRouter> {
  return () =>
    ({ op, next }) =>
      observable((observer) => {
        let reported = false;
        const report = (outcome: ReplayInfo['outcome'], source: OperationContext | Error | undefined) => {
          if (reported || !isReplayed(source)) return;
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

import { deadline } from './deadline';
import type { IdempotencyStore, Watch } from './store/store';

/** How long a duplicate may wait, and for whom. */
export interface WaitBounds {
  /** performance.now() after which it stops waiting. */
  deadline: number;
  /** Aborts when its client goes away. */
  signal: AbortSignal | undefined;
}

/** The errors a wait ends with when it is cut short. */
export interface WaitFailures<C> {
  /** The deadline passed first (the first call still runs). */
  deadline(call: C): Error;
  /** The client went away. */
  clientGone(call: C): Error;
}

/**
 * Waits for `promise`, but no longer than the call's deadline or its client. One promise, settled
 * directly (no Promise.race and finally): a woken duplicate then returns in as few microtask turns
 * as the call that woke it.
 */
export function waitWithin<T, C extends WaitBounds>(call: C, promise: Promise<T>, fail: WaitFailures<C>): Promise<T> {
  const { signal } = call;
  if (signal?.aborted) return Promise.reject(fail.clientGone(call));
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = (finish: () => void) => {
      // The deadline's callback can still run once the timer fired, after the promise won.
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      finish();
    };
    const onAbort = () => settle(() => reject(fail.clientGone(call)));
    // A record that arrived while the event loop was blocked still beats the deadline.
    const timer = deadline(Math.max(0, call.deadline - performance.now()), () =>
      settle(() => reject(fail.deadline(call))),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => settle(() => resolve(value)),
      (error: unknown) => settle(() => reject(error)),
    );
  });
}

/**
 * Subscribes to the completion of record `id`, but waits no longer than `remaining` ms: a
 * subscription that opens late is closed. Without one, waiters fall back to re-checking on the
 * lock's TTL.
 */
export async function openWatch(store: IdempotencyStore, id: string, remaining: number): Promise<Watch> {
  const opening = store.watch(id);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = deadline(remaining, () => resolve(undefined));
  });
  const opened = await Promise.race([opening.catch(() => sleepOnly), late]).finally(() => clearTimeout(timer));
  if (opened) return opened;
  opening.then(
    (w) => w.close(),
    () => {},
  );
  return sleepOnly;
}

/** Used when a subscription cannot be opened: fall back to re-checking on the lock's TTL. */
const sleepOnly: Watch = {
  next: (ms) => new Promise((resolve) => setTimeout(() => resolve(undefined), ms)),
  close() {},
};

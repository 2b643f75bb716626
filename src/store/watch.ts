import type { Watch } from './store';

/**
 * A {@link Watch} fed by `wake()`. A notice that arrives between two `next()` calls is kept, so
 * a completion published while the waiter was busy re-checking is not missed.
 */
export function signalWatch<T>(onClose: (watch: SignalWatch<T>) => void): SignalWatch<T> {
  let pending = false;
  let carried: T | undefined;
  let resolveNext: (() => void) | undefined;
  const watch: SignalWatch<T> = {
    wake(value) {
      pending = true;
      carried = value ?? carried;
      resolveNext?.();
    },
    next: (ms) =>
      new Promise<T | undefined>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          const value = carried;
          resolveNext = undefined;
          pending = false;
          carried = undefined;
          resolve(value);
        };
        const timer = setTimeout(done, ms);
        resolveNext = done;
        if (pending) done();
      }),
    close: () => onClose(watch),
  };
  return watch;
}

export interface SignalWatch<T> {
  /** Wakes the waiter; `value` is what the notice carried, if anything. */
  wake(value?: T): void;
  next(ms: number): Promise<T | undefined>;
  close(): void;
}

/** Adapts a watch whose notices carry raw values into the store's {@link Watch}. */
export function mapWatch<T, U>(watch: SignalWatch<T>, map: (value: T) => U | undefined): Watch<U> {
  return {
    next: async (ms) => {
      const value = await watch.next(ms);
      return value === undefined ? undefined : map(value);
    },
    close: () => watch.close(),
  };
}

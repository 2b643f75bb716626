import type { Watch } from './store';

/**
 * A {@link Watch} fed by `wake()`. A notice that arrives between two `next()` calls is kept, so
 * a completion published while the waiter was busy re-checking is not missed.
 */
export function signalWatch(onClose: (watch: SignalWatch) => void): SignalWatch {
  let pending = false;
  let resolveNext: (() => void) | undefined;
  const watch: SignalWatch = {
    wake() {
      pending = true;
      resolveNext?.();
    },
    next: (ms) =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          resolveNext = undefined;
          pending = false;
          resolve();
        };
        const timer = setTimeout(done, ms);
        resolveNext = done;
        if (pending) done();
      }),
    close: () => onClose(watch),
  };
  return watch;
}

export interface SignalWatch extends Watch {
  wake(): void;
}

import { deadline } from '../deadline';

/** A store operation that did not answer in time or could not be sent. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

/**
 * Bounds a store promise by `ms`, whatever the client's own retry and offline-queue settings
 * (ioredis' defaults queue a command for about 73 s while Redis is down).
 */
export function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = deadline(ms, () => reject(timedOut(what, ms)));
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

export function timedOut(what: string, ms: number): StoreUnavailableError {
  return new StoreUnavailableError(`${what} did not answer within ${Math.round(ms)} ms`);
}

/** The ioredis connection states in which a command would only wait in the offline queue. */
const DOWN = new Set(['reconnecting', 'close', 'end']);

interface ConnectingClient {
  status: string;
  connect(): Promise<unknown>;
  once(event: 'ready', listener: () => void): unknown;
}

/** One 'ready' listener per connecting client, however many calls wait for it. */
const readiness = new WeakMap<ConnectingClient, Promise<void>>();

function readyOf(client: ConnectingClient): Promise<void> {
  let ready = readiness.get(client);
  if (!ready) {
    ready = new Promise<void>((resolve) => {
      client.once('ready', () => {
        readiness.delete(client);
        resolve();
      });
    });
    readiness.set(client, ready);
  }
  return ready;
}

/**
 * Waits, at most `ms`, for a client that is still connecting (at startup, or `lazyConnect`), so that
 * a first call behaves the same with the offline queue on or off. Fails at once when it is down.
 * Concurrent callers share one listener on the client (a burst of first calls would otherwise
 * trip Node's MaxListenersExceededWarning).
 */
export async function whenReady(client: ConnectingClient, ms: number, what: string): Promise<void> {
  if (client.status === 'ready') return;
  assertConnected(client, what);
  const ready = readyOf(client);
  if (client.status === 'wait') client.connect().catch(() => {}); // lazyConnect: nothing has started it
  await bounded(ready, ms, `${what} (waiting for the connection)`);
}

/** Fails at once, instead of queueing, when the client already knows its connection is down. */
export function assertConnected(client: { status: string }, what: string): void {
  if (DOWN.has(client.status)) {
    throw new StoreUnavailableError(`${what}: the Redis connection is ${client.status}`);
  }
}

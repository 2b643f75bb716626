import type { StoredRecord } from './record';

/** What a flight's waiters get: a record, nothing, or (replyBeforeStored) a record still being stored. */
export type Shared = StoredRecord | null | Promise<StoredRecord | null>;

/**
 * A call in this process that others with the same record id wait on instead of asking the store.
 * Its promise is made when the first of them joins: most calls have no duplicate to wait for them.
 */
export interface Flight {
  /** For listing: the procedure, and when its call started (performance.now()). */
  path: string;
  startedAt: number;
  /** The record the call stored (or meant to), or null when there is nothing to replay. */
  done?: Promise<StoredRecord | null>;
  settle?: (record: StoredRecord | null) => void;
}

/**
 * The calls in flight in this process, by record id (single flight): one asks the store, and its
 * duplicates here wait for what it gets.
 */
export class Flights {
  private readonly byId = new Map<string, Flight>();

  /** For `list`: what is in flight, by record id. */
  get calls(): ReadonlyMap<string, { path: string; startedAt: number }> {
    return this.byId;
  }

  get size(): number {
    return this.byId.size;
  }

  /** What the call in flight with this id leaves to replay, or undefined when none is in flight. */
  join(id: string): Promise<StoredRecord | null> | undefined {
    const flight = this.byId.get(id);
    if (!flight) return undefined;
    flight.done ??= new Promise((resolve) => {
      flight.settle = resolve;
    });
    return flight.done;
  }

  start(id: string, path: string, startedAt: number): Flight {
    const flight: Flight = { path, startedAt };
    this.byId.set(id, flight);
    return flight;
  }

  /** Lands a flight with what its waiters get; a record still being stored keeps it until it is. */
  end(id: string, flight: Flight, shared: Shared): void {
    if (shared instanceof Promise) shared.then((record) => this.land(id, flight, record));
    else this.land(id, flight, shared);
  }

  private land(id: string, flight: Flight, record: StoredRecord | null): void {
    this.byId.delete(id);
    flight.settle?.(record);
  }
}

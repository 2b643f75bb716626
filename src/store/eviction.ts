/**
 * Takes the oldest entries out of a Map (insertion order), at O(1) per eviction over time.
 * Starting a fresh iteration for every eviction would walk past every entry deleted since V8 last
 * compacted the table: thousands per call once a bounded map is full. This keeps one live iterator
 * instead. Everything it has passed was either evicted by it, or deleted (and perhaps set again,
 * which appends): what it yields next is always the oldest entry still in the map.
 */
export class EvictionCursor<K, V> {
  private cursor: IterableIterator<[K, V]>;

  constructor(private readonly map: Map<K, V>) {
    this.cursor = map.entries();
  }

  /** Deletes the oldest entry and returns it; undefined when the map is empty. */
  evict(): [K, V] | undefined {
    let next = this.cursor.next();
    if (next.done) {
      // An exhausted iterator stays exhausted, even once the map grows again.
      this.cursor = this.map.entries();
      next = this.cursor.next();
      if (next.done) return undefined;
    }
    this.map.delete(next.value[0]);
    return next.value;
  }
}

import type { StoredRecord } from '../record';

interface Entry {
  record: StoredRecord;
  expiresAt: number;
  bytes: number;
}

/**
 * Completed records this process has replayed, kept until they expire in Redis. A completed record
 * never changes, so a replay served from here is as correct as one read from Redis, at no round trip.
 * Bounded by entries and by bytes; the least recently used go first.
 */
export class RecordCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  /**
   * A live iterator at the oldest entry. Restarting iteration at the front on every eviction would
   * walk past every entry deleted since V8 last compacted the table: thousands per call when full.
   */
  private oldest = this.entries.entries();

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}

  get(id: string): StoredRecord | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    this.entries.delete(id);
    if (entry.expiresAt <= Date.now()) {
      this.bytes -= entry.bytes;
      return undefined;
    }
    this.entries.set(id, entry); // most recently used last
    return entry.record;
  }

  set(id: string, record: StoredRecord, ttlMs: number): void {
    if (ttlMs <= 0 || this.maxEntries === 0) return;
    const bytes = record.body.length * 2 + 64; // UTF-16 string plus the envelope, roughly
    if (bytes > this.maxBytes) return;
    const previous = this.entries.get(id);
    if (previous) {
      this.entries.delete(id);
      this.bytes -= previous.bytes;
    }
    this.entries.set(id, { record, expiresAt: Date.now() + ttlMs, bytes });
    this.bytes += bytes;
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) this.evictOldest();
  }

  private evictOldest(): void {
    let next = this.oldest.next();
    if (next.done) {
      // An exhausted iterator stays exhausted, even once the map grows again.
      this.oldest = this.entries.entries();
      next = this.oldest.next();
      if (next.done) return;
    }
    // Everything the iterator has passed was evicted, or deleted and set again (so it is behind us
    // no longer): what it yields next is always the least recently used entry.
    const [id, entry] = next.value;
    this.entries.delete(id);
    this.bytes -= entry.bytes;
  }

  get size(): number {
    return this.entries.size;
  }
}

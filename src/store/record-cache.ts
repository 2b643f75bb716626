import type { StoredRecord } from '../record';
import { EvictionCursor } from './eviction';

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
  private readonly oldest = new EvictionCursor(this.entries);

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
    const evicted = this.oldest.evict();
    if (evicted) this.bytes -= evicted[1].bytes;
  }

  get size(): number {
    return this.entries.size;
  }
}

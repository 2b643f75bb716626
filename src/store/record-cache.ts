import { decodeRecord, type StoredRecord } from '../record';
import { EvictionCursor } from './eviction';

/**
 * The record as stored in Redis, decoded on a hit: one string per entry, not a record object and
 * its strings, so the many entries that are never hit cost the garbage collector little.
 */
interface Entry {
  text: string;
  expiresAt: number;
}

/** Roughly: the UTF-16 string plus the entry and its map slot. */
const sizeOf = (entry: Entry) => entry.text.length * 2 + 48;

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
      this.bytes -= sizeOf(entry);
      return undefined;
    }
    this.entries.set(id, entry); // most recently used last
    return decodeRecord(entry.text);
  }

  set(id: string, text: string, ttlMs: number): void {
    if (ttlMs <= 0 || this.maxEntries === 0) return;
    const bytes = text.length * 2 + 48;
    if (bytes > this.maxBytes) return;
    const previous = this.entries.get(id);
    if (previous) {
      this.entries.delete(id);
      this.bytes -= sizeOf(previous);
    }
    this.entries.set(id, { text, expiresAt: Date.now() + ttlMs });
    this.bytes += bytes;
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) this.evictOldest();
  }

  /** Drops a record that was deleted from Redis (`forget`), so that this process stops replaying it. */
  delete(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    this.bytes -= sizeOf(entry);
  }

  private evictOldest(): void {
    const evicted = this.oldest.evict();
    if (evicted) this.bytes -= sizeOf(evicted[1]);
  }

  get size(): number {
    return this.entries.size;
  }
}

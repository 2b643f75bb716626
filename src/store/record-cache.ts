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

/** Forget marks kept at most (see `RecordCache.forgotten`). */
const MAX_FORGOTTEN = 1000;

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
  /**
   * Ids forgotten lately, and when (performance.now()). A replay that read its record before that
   * must not cache it: its reply and the notice of the forget come on different connections, in
   * either order.
   */
  private readonly forgotten = new Map<string, number>();
  private readonly oldestForgotten = new EvictionCursor(this.forgotten);

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

  /** Caches `text`, read from Redis at `readAt` (performance.now()), unless it was forgotten since. */
  set(id: string, text: string, ttlMs: number, readAt: number): void {
    if (ttlMs <= 0 || this.maxEntries === 0) return;
    if ((this.forgotten.get(id) ?? Number.NEGATIVE_INFINITY) >= readAt) return;
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

  /**
   * Drops a record that was deleted from Redis (`forget`, here or in another process), so that this
   * process stops replaying it, and keeps a replay already reading it from caching it again.
   */
  forget(id: string): void {
    const entry = this.entries.get(id);
    if (entry) {
      this.entries.delete(id);
      this.bytes -= sizeOf(entry);
    }
    this.forgotten.delete(id);
    this.forgotten.set(id, performance.now());
    // A mark only matters to reads in flight (a command timeout at most): the oldest can go.
    if (this.forgotten.size > MAX_FORGOTTEN) this.oldestForgotten.evict();
  }

  /** Drops every entry: the notices of forgets may have been missed. */
  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  private evictOldest(): void {
    const evicted = this.oldest.evict();
    if (evicted) this.bytes -= sizeOf(evicted[1]);
  }

  get size(): number {
    return this.entries.size;
  }
}

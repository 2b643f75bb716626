/// <reference path="./redlock.d.ts" />
import type { Cluster, Redis } from 'ioredis';
import Redlock, { Lock } from 'redlock';
import { assertConnected, bounded, StoreUnavailableError } from './bounded';
import { EXTEND } from './scripts';

export type QuorumAcquire = { status: 'acquired'; lock: Lock } | { status: 'busy'; retryAfterMs: number };

/** After a split vote nobody holds the lock: retry soon, with jitter so contenders spread out. */
const SPLIT_VOTE_RETRY_MS = 10;

function unavailable(error: unknown): StoreUnavailableError {
  return error instanceof StoreUnavailableError
    ? error
    : new StoreUnavailableError(`Redlock could not reach a quorum: ${(error as Error).message}`);
}

/**
 * A Redlock quorum over independent masters, through the redlock package's acquire, extend and
 * release. Every call is bounded here: redlock itself waits for votes as long as the clients do,
 * and its error classes differ between its CJS and ESM builds, so failures are classified by
 * probing the masters rather than by `instanceof`.
 */
export class QuorumLock {
  private readonly redlock: Redlock;
  private readonly quorum: number;

  constructor(
    private readonly clients: (Redis | Cluster)[],
    private readonly timeoutMs: number,
  ) {
    // No retries: waiting is done on notifications, never by redlock polling every 200 ms.
    // redlock 5.0.0-beta.2 applies a custom script only when given as a function (a string is ignored).
    this.redlock = new Redlock(clients, { retryCount: 0, retryJitter: 0 }, { extendScript: () => EXTEND.source });
    this.quorum = Math.floor(clients.length / 2) + 1;
  }

  /** Fails at once when fewer than a quorum of masters are even connected. */
  private assertQuorumConnected(): void {
    const down = this.clients.filter((c) => {
      try {
        assertConnected(c, 'lock client');
        return false;
      } catch {
        return true;
      }
    }).length;
    if (this.clients.length - down < this.quorum) {
      throw new StoreUnavailableError(`${down} of ${this.clients.length} lock masters are disconnected`);
    }
  }

  async acquire(lockKey: string, ttlMs: number): Promise<QuorumAcquire> {
    this.assertQuorumConnected();
    const acquiring = this.redlock.acquire([lockKey], ttlMs);
    try {
      const lock = await bounded(acquiring, this.timeoutMs, 'Redlock acquire');
      return { status: 'acquired', lock };
    } catch (error) {
      // Votes that answer after our deadline can still win the lock, for nobody: give it back.
      acquiring.then((lock) => this.redlock.release(lock)).catch(() => {});
      const probe = await this.probe(lockKey, ttlMs);
      if (probe.reachable < this.quorum) throw unavailable(error);
      const retryAfterMs = probe.locked
        ? probe.retryAfterMs
        : SPLIT_VOTE_RETRY_MS + Math.floor(Math.random() * SPLIT_VOTE_RETRY_MS);
      return { status: 'busy', retryAfterMs };
    }
  }

  /**
   * Asks every master for the lock's PTTL. The lock can be taken again once a quorum no longer
   * holds it: after the quorum-th smallest remaining TTL.
   */
  private async probe(lockKey: string, ttlMs: number) {
    const answers = await Promise.all(
      this.clients.map(async (c) => {
        try {
          assertConnected(c, 'lock client');
          return await bounded(c.pttl(lockKey), this.timeoutMs, 'PTTL');
        } catch {
          return undefined;
        }
      }),
    );
    const ttls = answers.filter((t): t is number => t !== undefined).map((t) => (t === -1 ? ttlMs : Math.max(t, 0)));
    const sorted = [...ttls].sort((a, b) => a - b);
    return {
      reachable: ttls.length,
      locked: ttls.some((t) => t > 0),
      retryAfterMs: sorted[this.quorum - 1] ?? ttlMs,
    };
  }

  /** Wraps a lock already taken by the fused claim script on a one-member quorum. */
  adopt(lockKey: string, token: string, expiresAt: number): Lock {
    return new Lock(this.redlock, [lockKey], token, [], expiresAt);
  }

  /**
   * The extended lock, or null when it is lost: a quorum of masters answer that they do not hold its
   * token. Any other failure (a slow reply, masters out of reach) throws, and the caller tries
   * again: a late answer is not a lost lock.
   */
  async extend(lock: Lock, ttlMs: number): Promise<Lock | null> {
    // Past its validity here, the lock may still be ours: extensions that timed out here can have
    // run late on the masters. redlock refuses to extend an expired Lock, so ask with a copy; the
    // extend script votes against wherever another token holds the key, and takes it where nobody does.
    const asked =
      lock.expiration < Date.now() ? new Lock(this.redlock, lock.resources, lock.value, [], Date.now() + ttlMs) : lock;
    try {
      return await bounded(this.redlock.extend(asked, ttlMs), this.timeoutMs, 'Redlock extend');
    } catch (error) {
      if ((await this.mastersWithout(lock)) >= this.quorum) return null;
      throw unavailable(error);
    }
  }

  /** How many masters answer that they do not hold the lock's token (unanswered ones are not counted). */
  private async mastersWithout(lock: Lock): Promise<number> {
    const key = lock.resources[0] ?? '';
    const answers = await Promise.all(
      this.clients.map(async (c) => {
        try {
          assertConnected(c, 'lock client');
          return { value: await bounded(c.get(key), this.timeoutMs, 'GET lock') };
        } catch {
          return undefined;
        }
      }),
    );
    return answers.filter((a) => a !== undefined && a.value !== lock.value).length;
  }

  async release(lock: Lock): Promise<void> {
    await bounded(this.redlock.release(lock), this.timeoutMs, 'Redlock release');
  }
}

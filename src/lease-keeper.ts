import type { Lease } from './store/store';

/** What a held lease reports: its lock was lost, or an extension could not reach the store. */
export type LeaseTrouble = 'lock-lost' | 'store-error';

/** A lease being kept alive; `release` it once the resolver is done. */
export interface HeldLease {
  release(): void;
}

type Extend = (lease: Lease, lockTtlMs: number) => Promise<boolean>;
type Report<Owner> = (owner: Owner, trouble: LeaseTrouble, error: Error | unknown) => void;

class Held<Owner> implements HeldLease {
  released = false;

  constructor(
    readonly lease: Lease,
    readonly owner: Owner,
    private readonly queue: TtlQueue<Owner>,
  ) {}

  release(): void {
    this.released = true;
    this.queue.forget(this);
  }
}

/**
 * The leases of one lock TTL, extended every third of it by one timer. They share one interval,
 * so the map's insertion order is the order in which they fall due, and the timer only ever waits
 * for the first.
 */
class TtlQueue<Owner> {
  /** Held leases not being extended right now, and when each is next due, earliest first. */
  private readonly due = new Map<Held<Owner>, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly lockTtlMs: number,
    private readonly extend: Extend,
    private readonly report: Report<Owner>,
  ) {}

  schedule(held: Held<Owner>): void {
    this.due.set(held, performance.now() + this.lockTtlMs / 3);
    if (!this.timer) this.arm(this.lockTtlMs / 3);
  }

  forget(held: Held<Owner>): void {
    // The timer stays armed: it finds nothing due and stops. Clearing it here would cost each
    // call a timer again when calls come one at a time.
    this.due.delete(held);
  }

  private arm(ms: number): void {
    // Unref'd: a running call keeps the process alive by itself, and an idle keeper must not.
    this.timer = setTimeout(this.sweep, Math.max(0, ms)).unref();
  }

  private readonly sweep = (): void => {
    this.timer = undefined;
    const now = performance.now();
    for (const [held, at] of this.due) {
      if (at > now) {
        this.arm(at - now);
        return;
      }
      this.due.delete(held);
      void this.extendOne(held);
    }
  };

  /** One extension at a time per lease; the next falls due a third of the TTL after it returns. */
  private async extendOne(held: Held<Owner>): Promise<void> {
    try {
      if (!(await this.extend(held.lease, this.lockTtlMs))) {
        // Once released, the completion itself may have dropped the lock: that is no loss.
        if (!held.released) {
          this.report(held.owner, 'lock-lost', new Error('the lock expired or was taken while the resolver ran'));
        }
        return;
      }
    } catch (error) {
      this.report(held.owner, 'store-error', error);
    }
    if (!held.released) this.schedule(held);
  }
}

/**
 * Extends the locks of running calls every third of their TTL, with one timer per lock TTL in use
 * (one per procedure setting, not one per call): a call that finishes within that third (nearly
 * all) then costs a map entry, not a timer set and cleared.
 */
export class LeaseKeeper<Owner> {
  private readonly queues = new Map<number, TtlQueue<Owner>>();

  constructor(
    private readonly extend: Extend,
    /** Told about a lost lock (then no longer extended) or a failed extension (tried again later). */
    private readonly report: Report<Owner>,
  ) {}

  /** Keeps `lease` alive, extending it to `lockTtlMs` each time, until released. */
  hold(lease: Lease, owner: Owner, lockTtlMs: number): HeldLease {
    let queue = this.queues.get(lockTtlMs);
    if (!queue) {
      queue = new TtlQueue(lockTtlMs, this.extend, this.report);
      this.queues.set(lockTtlMs, queue);
    }
    const held = new Held(lease, owner, queue);
    queue.schedule(held);
    return held;
  }
}

import type { Lease } from './store/store';

/** What a held lease reports: its lock was lost, or an extension could not reach the store. */
export type LeaseTrouble = 'lock-lost' | 'store-error';

/** A lease being kept alive; `release` it once the resolver is done. */
export interface HeldLease {
  release(): void;
}

class Held<Owner> implements HeldLease {
  released = false;

  constructor(
    readonly lease: Lease,
    readonly owner: Owner,
    private readonly keeper: LeaseKeeper<Owner>,
  ) {}

  release(): void {
    this.released = true;
    this.keeper.forget(this);
  }
}

/**
 * Extends the locks of running calls every third of their TTL, with one timer for all of them
 * instead of one per call: a call that finishes within that third (nearly all) then costs a map
 * entry, not a timer set and cleared. Every lease here shares one interval, so the map's insertion
 * order is the order in which they fall due, and the timer only ever waits for the first.
 */
export class LeaseKeeper<Owner> {
  /** Held leases not being extended right now, and when each is next due, earliest first. */
  private readonly due = new Map<Held<Owner>, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly lockTtlMs: number,
    private readonly extend: (lease: Lease, lockTtlMs: number) => Promise<boolean>,
    /** Told about a lost lock (then no longer extended) or a failed extension (tried again later). */
    private readonly report: (owner: Owner, trouble: LeaseTrouble, error: Error | unknown) => void,
  ) {}

  /** Keeps `lease` alive until released; troubles are reported with `owner`. */
  hold(lease: Lease, owner: Owner): HeldLease {
    const held = new Held(lease, owner, this);
    this.schedule(held);
    return held;
  }

  /** @internal by Held.release */
  forget(held: Held<Owner>): void {
    // The timer stays armed: it finds nothing due and stops. Clearing it here would cost each
    // call a timer again when calls come one at a time.
    this.due.delete(held);
  }

  private get intervalMs(): number {
    return this.lockTtlMs / 3;
  }

  private schedule(held: Held<Owner>): void {
    this.due.set(held, performance.now() + this.intervalMs);
    if (!this.timer) this.arm(this.intervalMs);
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

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LeaseKeeper, type LeaseTrouble } from '../../src/lease-keeper';
import type { Lease } from '../../src/store/store';

const lease = (id: string): Lease => ({ id, token: `t-${id}` });

/** A keeper over an `extend` that answers from `answers` per lease id (default: kept). */
function keeper(answers: Record<string, () => Promise<boolean>> = {}) {
  const extended: string[] = [];
  const reports: [string, LeaseTrouble][] = [];
  const keeper = new LeaseKeeper<string>(
    (l) => {
      extended.push(l.id);
      return answers[l.id]?.() ?? Promise.resolve(true);
    },
    (owner, trouble) => reports.push([owner, trouble]),
  );
  // Every lease here takes a 300 ms lock, extended every 100 ms, unless a test says otherwise.
  const keep = { hold: (l: Lease, owner: string, ttlMs = 300) => keeper.hold(l, owner, ttlMs) };
  return { keep, extended, reports };
}

describe('LeaseKeeper', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('extends every held lease each third of the TTL, with one timer for all, until released', async () => {
    const { keep, extended } = keeper();
    const a = keep.hold(lease('a'), 'a');
    await vi.advanceTimersByTimeAsync(50);
    const b = keep.hold(lease('b'), 'b');
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(60); // a is due at 100, b at 150
    expect(extended).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(50);
    expect(extended).toEqual(['a', 'b']);
    await vi.advanceTimersByTimeAsync(100);
    expect(extended).toEqual(['a', 'b', 'a', 'b']);
    a.release();
    await vi.advanceTimersByTimeAsync(200);
    expect(extended.filter((id) => id === 'a')).toHaveLength(2);
    expect(extended.filter((id) => id === 'b')).toHaveLength(4);
    b.release();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(extended).toHaveLength(6);
    expect(vi.getTimerCount()).toBe(0); // the last sweep found nothing held and did not re-arm
  });

  it('extends leases of different TTLs each on its own schedule (per-procedure lockTtlMs)', async () => {
    const { keep, extended } = keeper();
    const short = keep.hold(lease('short'), 'short', 300);
    const long = keep.hold(lease('long'), 'long', 3_000);
    await vi.advanceTimersByTimeAsync(1_050);
    expect(extended.filter((id) => id === 'short')).toHaveLength(10);
    expect(extended.filter((id) => id === 'long')).toHaveLength(1);
    short.release();
    long.release();
  });

  it('costs a call that ends within the first third no extension at all', async () => {
    const { keep, extended } = keeper();
    for (let i = 0; i < 100; i++) keep.hold(lease(`k${i}`), `k${i}`).release();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(extended).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('reports a lost lock once and stops extending it; the others go on', async () => {
    const { keep, extended, reports } = keeper({ lost: async () => false });
    keep.hold(lease('lost'), 'lost');
    keep.hold(lease('kept'), 'kept');
    await vi.advanceTimersByTimeAsync(350);
    expect(reports).toEqual([['lost', 'lock-lost']]);
    expect(extended.filter((id) => id === 'lost')).toHaveLength(1);
    expect(extended.filter((id) => id === 'kept')).toHaveLength(3);
  });

  it('reports a failed extension as a store error and tries again a third of the TTL later', async () => {
    let fail = true;
    const { keep, extended, reports } = keeper({
      flaky: async () => {
        if (fail) throw new Error('store down');
        return true;
      },
    });
    const held = keep.hold(lease('flaky'), 'flaky');
    await vi.advanceTimersByTimeAsync(100);
    expect(reports).toEqual([['flaky', 'store-error']]);
    fail = false;
    await vi.advanceTimersByTimeAsync(100);
    expect(extended).toEqual(['flaky', 'flaky']);
    expect(reports).toHaveLength(1);
    held.release();
  });

  it('says nothing of a lock lost after release: the completion may have dropped it', async () => {
    let answer: (kept: boolean) => void = () => {};
    const { keep, reports } = keeper({ late: () => new Promise((resolve) => (answer = resolve)) });
    const held = keep.hold(lease('late'), 'late');
    await vi.advanceTimersByTimeAsync(100); // the extension is on its way
    held.release();
    answer(false);
    await vi.advanceTimersByTimeAsync(500);
    expect(reports).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('LeaseKeeper timer', () => {
  it('keeps no process alive: its one timer is unref’d', () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const keep = new LeaseKeeper<string>(
      async () => true,
      () => {},
    );
    const held = keep.hold(lease('a'), 'a', 60_000);
    expect(timers()).toBe(before);
    held.release();
  });
});

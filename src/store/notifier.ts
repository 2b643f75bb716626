import type { Cluster, Redis } from 'ioredis';
import { bounded } from './bounded';
import { type SignalWatch, signalWatch } from './watch';

interface Channel {
  listeners: Set<(message: string) => void>;
  /** Settles when SUBSCRIBE was acknowledged; later watchers of the channel wait on it too. */
  subscribed: Promise<unknown>;
}

/**
 * The connection a Cluster subscribes on. ioredis keeps it to itself (`Cluster#subscriber`, a
 * ClusterSubscriber, in ioredis 5) and replaces it, re-subscribing, when it ends, with no event on
 * the Cluster. Undefined where that internal is not found.
 */
function clusterSubscriberOf(cluster: Cluster): { once(event: 'end', listener: () => void): unknown } | undefined {
  const internal = (cluster as unknown as { subscriber?: { getInstance?(): unknown } }).subscriber;
  const connection = internal?.getInstance?.() as { once?: unknown } | null | undefined;
  return typeof connection?.once === 'function'
    ? (connection as { once(event: 'end', listener: () => void): unknown })
    : undefined;
}

/**
 * Completion notices over Redis pub/sub, on one subscriber connection per store.
 * Channels are reference-counted: one SUBSCRIBE however many local waiters share a record id.
 * A channel whose last waiter left is unsubscribed after the current I/O phase, in one UNSUBSCRIBE
 * with every other channel left in it: a woken waiter returns its result first, without paying
 * for a socket write, and a busy process sends one command rather than one per record.
 */
export class Notifier {
  private connection: Redis | Cluster | undefined;
  private readonly channels = new Map<string, Channel>();
  /** Channels listened to for the store's lifetime (see `listen`), never swept. */
  private readonly standing = new Map<string, (message: string) => void>();
  /** Channels whose last listener left; unsubscribed by `sweep` unless a new waiter came first. */
  private readonly idle = new Set<string>();
  private sweepScheduled = false;

  constructor(
    private readonly source: Redis | Cluster,
    private readonly timeoutMs: number,
  ) {}

  private subscriber(): Redis | Cluster {
    if (!this.connection) {
      // A connection in subscriber mode can send nothing else, so it has to be our own.
      // Our own connection keeps an offline queue whatever the user's options: a SUBSCRIBE sent while
      // it connects waits for it (bounded by the caller) rather than failing. Redis and Cluster take
      // their overrides in different places.
      const override = { enableOfflineQueue: true };
      const sub = (this.source as Cluster).isCluster
        ? (this.source as Cluster).duplicate(undefined, override)
        : (this.source as Redis).duplicate(override);
      // Failures surface as timeouts on the request path; this only keeps ioredis from logging them.
      sub.on('error', () => {});
      sub.on('message', (channel: string, message: string) => {
        this.standing.get(channel)?.(message);
        for (const wake of this.channels.get(channel)?.listeners ?? []) wake(message);
      });
      this.connection = sub;
      return sub;
    }
    return this.connection;
  }

  /** Watches a channel; `next()` resolves with the message that woke it. */
  async watch(channelName: string): Promise<SignalWatch<string>> {
    let channel = this.channels.get(channelName);
    if (!channel) {
      const subscribed = bounded(this.subscriber().subscribe(channelName), this.timeoutMs, 'SUBSCRIBE');
      channel = { listeners: new Set(), subscribed };
      this.channels.set(channelName, channel);
    }
    const watch = signalWatch<string>((w) => {
      const current = this.channels.get(channelName);
      if (!current?.listeners.delete(w.wake) || current.listeners.size > 0) return;
      this.idle.add(channelName);
      if (!this.sweepScheduled) {
        this.sweepScheduled = true;
        setImmediate(this.sweep);
      }
    });
    channel.listeners.add(watch.wake);
    try {
      await channel.subscribed;
    } catch (error) {
      // Not reused: the next waiter of this id subscribes afresh. The UNSUBSCRIBE goes now, ahead
      // of that SUBSCRIBE, in case the timed-out SUBSCRIBE still reaches Redis.
      if (this.channels.get(channelName) === channel) {
        this.channels.delete(channelName);
        this.connection?.unsubscribe(channelName).catch(() => {});
      }
      watch.close();
      throw error;
    }
    return watch;
  }

  /**
   * Listens to `channelName` for as long as the store lives. Pub/sub delivers at most once: a message
   * published while the subscriber is away is lost. So `onLost` runs whenever the subscription may
   * have missed one (its connection ended), and `onLive` once the subscription is acknowledged
   * again, which is also the first time.
   */
  listen(channelName: string, handlers: { onMessage(message: string): void; onLive(): void; onLost(): void }): void {
    if (this.standing.has(channelName)) return;
    this.standing.set(channelName, handlers.onMessage);
    const sub = this.subscriber();
    // Each (re)subscription supersedes the one before: only the latest may report the channel live.
    let attempt = 0;
    const subscribe = () => {
      const mine = ++attempt;
      // ioredis re-subscribes by itself after a reconnect; ours is acknowledged after its own, so
      // once it is, nothing published from then on is missed.
      bounded(sub.subscribe(channelName), this.timeoutMs, 'SUBSCRIBE').then(
        () => {
          if (mine !== attempt || this.connection !== sub) return;
          if ((sub as Cluster).isCluster) {
            // A Cluster swaps its subscriber connection by itself: hear that one end.
            const connection = clusterSubscriberOf(sub as Cluster);
            if (!connection) return; // cannot be watched: never live
            if (!watched.has(connection)) {
              watched.add(connection);
              connection.once('end', () => {
                down();
                subscribe(); // on the connection the Cluster chose in its place
              });
            }
          }
          handlers.onLive();
        },
        () => {
          // Timed out on a live connection: no 'ready' will come to try again, so try later.
          if (mine === attempt && this.connection === sub) setTimeout(subscribe, this.timeoutMs).unref();
        },
      );
    };
    const down = () => {
      attempt++;
      handlers.onLost();
    };
    const watched = new WeakSet<object>();
    sub.on('close', down);
    sub.on('ready', subscribe); // after each reconnect
    subscribe(); // now: also what connects a lazy connection (a second SUBSCRIBE on 'ready' is harmless)
  }

  private readonly sweep = (): void => {
    this.sweepScheduled = false;
    const left: string[] = [];
    for (const name of this.idle) {
      if (this.channels.get(name)?.listeners.size !== 0) continue; // gone already, or watched again
      this.channels.delete(name);
      left.push(name);
    }
    this.idle.clear();
    if (left.length > 0) this.connection?.unsubscribe(...left).catch(() => {});
  };

  async close(): Promise<void> {
    this.channels.clear();
    this.standing.clear();
    this.idle.clear();
    this.connection?.disconnect();
    this.connection = undefined;
  }
}

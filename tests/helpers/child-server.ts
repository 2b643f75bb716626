/**
 * A tRPC standalone HTTP server with the idempotency middleware on redisStore, run as a child
 * process by tests (see server-pool.ts): `node --import tsx tests/helpers/child-server.ts`.
 * Config comes as JSON in IDEM_CHILD_CONFIG; it reports on the IPC channel:
 *   -> { type: 'ready', port }   -> { type: 'event', event }   -> { type: 'stats', ... } on request
 *   <- { type: 'stats', id }     <- { type: 'close' }
 */
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { Cluster, Redis } from 'ioredis';
import { createIdempotency, type IdempotencyEvent, redisStore } from '../../src';
import { type ChildContext, makeChildRouter } from './child-app';

export interface ChildConfig {
  /** Where records live: one node, or the startup nodes of a Redis Cluster. */
  redis: { url: string } | { cluster: { host: string; port: number }[] };
  /** Redlock masters; omitted: the fused single-node lock. */
  lockUrls?: string[];
  /** The Redis the resolver counts its executions on; never faulted by tests. */
  ledgerUrl: string;
  lockTtlMs?: number;
  waitTimeoutMs?: number;
  commandTimeoutMs?: number;
  maxResultBytes?: number;
  /** Base64 AES-256 keys for `encryption` (current first); omitted: records in clear. */
  encryptionKeys?: string[];
  /** redisStore's record cache; omitted: its default. */
  cache?: { maxEntries: number };
}

/** Serializable copy of an event for the parent (errors become their message). */
export interface ChildEvent extends Omit<IdempotencyEvent, 'error'> {
  pid: number;
  error?: string;
}

export interface ChildStats {
  type: 'stats';
  id: number;
  pid: number;
  inFlight: number;
  resources: string[];
  rssBytes: number;
  /** V8 heap in use right after a forced full GC: what a leak grows, unlike RSS. */
  heapUsedAfterGcBytes: number;
  /** Listener counts on every ioredis client this process made, summed by event name. */
  redisListeners: Record<string, number>;
}

const config = JSON.parse(process.env.IDEM_CHILD_CONFIG ?? '{}') as ChildConfig;
const send = (message: unknown) => {
  if (process.connected) process.send?.(message);
};

// Every client on ioredis' DEFAULT options: the library must bound its calls by itself.
const redis: Redis | Cluster =
  'cluster' in config.redis ? new Cluster(config.redis.cluster) : new Redis(config.redis.url);
const lockClients = config.lockUrls?.map((url) =>
  url === ('url' in config.redis ? config.redis.url : '') ? redis : new Redis(url),
);
const ledger = new Redis(config.ledgerUrl);
const clients = [redis, ledger, ...(lockClients ?? []).filter((c) => c !== redis)];
// ioredis logs unhandled 'error' events; outages are expected here.
for (const c of clients) c.on('error', () => {});

const store = redisStore({
  redis,
  ...(lockClients ? { lockClients } : {}),
  ...(config.commandTimeoutMs ? { commandTimeoutMs: config.commandTimeoutMs } : {}),
  ...(config.cache ? { cache: config.cache } : {}),
});
const idempotency = createIdempotency<ChildContext>({
  store,
  // Calls without x-user share one anonymous scope, as the multi-process tests mean.
  anonymous: 'shared',
  ...(config.lockTtlMs ? { lockTtlMs: config.lockTtlMs } : {}),
  ...(config.waitTimeoutMs ? { waitTimeoutMs: config.waitTimeoutMs } : {}),
  ...(config.maxResultBytes ? { maxResultBytes: config.maxResultBytes } : {}),
  ...(config.encryptionKeys ? { encryption: { keys: config.encryptionKeys } } : {}),
  onEvent: (event) => {
    const { error, ...rest } = event;
    const copy: ChildEvent = { ...rest, pid: process.pid };
    if (error !== undefined) copy.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    send({ type: 'event', event: copy });
  },
});

const server = createHTTPServer({
  router: makeChildRouter(idempotency, ledger),
  createContext: ({ req, res }): ChildContext => {
    const user = req.headers['x-user'];
    return { headers: req.headers, user: typeof user === 'string' && user !== '' ? { id: user } : null, res };
  },
});
server.keepAliveTimeout = 1_000;

// Full GCs on demand without --expose-gc on the command line (which tsx's loader would not pass on).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
function heapAfterGc(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

function listenerCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const c of clients) {
    for (const name of c.eventNames()) {
      counts[String(name)] = (counts[String(name)] ?? 0) + c.listenerCount(name);
    }
  }
  return counts;
}

process.on('message', (message: { type: string; id?: number }) => {
  if (message.type === 'stats') {
    const stats: ChildStats = {
      type: 'stats',
      id: message.id ?? 0,
      pid: process.pid,
      inFlight: idempotency.inFlight,
      resources: process.getActiveResourcesInfo(),
      rssBytes: process.memoryUsage().rss,
      heapUsedAfterGcBytes: heapAfterGc(),
      redisListeners: listenerCounts(),
    };
    send(stats);
  } else if (message.type === 'close') {
    server.closeAllConnections();
    server.close();
    void store.close().finally(() => {
      for (const c of clients) c.disconnect();
      process.exit(0);
    });
  }
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  send({ type: 'ready', port: (server.address() as AddressInfo).port });
});

import { Cluster, Redis } from 'ioredis';
import { type IdempotencyStore, redisStore } from '../../src';
import { startCluster } from './cluster';
import { startRedis } from './redis-server';

/** A redisStore on servers of its own, as the store suites take it; `teardown` stops them all. */
export interface RedisSetup {
  store: IdempotencyStore;
  /** The client holding records, where a test can read and write keys directly. */
  records: Redis | Cluster;
  /** The same store as another process has it: its own connections, and its own record cache. */
  peer(): { store: IdempotencyStore; close(): Promise<void> };
  teardown(): Promise<void>;
}

/** The store over `connect()`'s clients (the first holds records; several are a Redlock quorum). */
function storeOver(connect: () => (Redis | Cluster)[]) {
  const clients = connect();
  const store = redisStore({ redis: clients[0]!, ...(clients.length > 1 && { lockClients: clients }) });
  return {
    store,
    records: clients[0]!,
    close: async () => {
      await store.close();
      for (const c of clients) c.disconnect();
    },
  };
}

function setupOver(connect: () => (Redis | Cluster)[], stopServers: () => Promise<unknown>): RedisSetup {
  const { store, records, close } = storeOver(connect);
  return {
    store,
    records,
    peer: () => storeOver(connect),
    teardown: async () => {
      await close();
      await stopServers();
    },
  };
}

/** One redis-server. */
export async function singleNodeSetup(): Promise<RedisSetup> {
  const server = await startRedis();
  return setupOver(
    () => [new Redis(server.url)],
    () => server.stop(),
  );
}

/** Three independent masters: records on the first, locks on all three. */
export async function quorumSetup(): Promise<RedisSetup> {
  const servers = await Promise.all([startRedis(), startRedis(), startRedis()]);
  return setupOver(
    () => servers.map((s) => new Redis(s.url)),
    () => Promise.all(servers.map((s) => s.stop())),
  );
}

/** A Redis Cluster of three masters. */
export async function clusterSetup(): Promise<RedisSetup> {
  const cluster = await startCluster(3);
  return setupOver(
    () => [new Cluster(cluster.startupNodes)],
    () => cluster.stop(),
  );
}

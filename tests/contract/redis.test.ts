import { Redis } from 'ioredis';
import { redisStore } from '../../src';
import { startRedis } from '../helpers/redis-server';
import { describeStoreContract } from './store-contract';

describeStoreContract('redisStore (single node)', async () => {
  const server = await startRedis();
  const redis = new Redis(server.url);
  const store = redisStore({ redis });
  return {
    store,
    teardown: async () => {
      await store.close();
      redis.disconnect();
      await server.stop();
    },
  };
});

describeStoreContract('redisStore (Redlock quorum of 3 masters)', async () => {
  const servers = await Promise.all([startRedis(), startRedis(), startRedis()]);
  const clients = servers.map((s) => new Redis(s.url));
  const store = redisStore({ redis: clients[0]!, lockClients: clients });
  return {
    store,
    teardown: async () => {
      await store.close();
      for (const c of clients) c.disconnect();
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
});

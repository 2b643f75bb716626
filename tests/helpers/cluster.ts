import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort, type RedisServer, startRedis } from './redis-server';

const run = promisify(execFile);

/** A throwaway Redis Cluster of masters only, started by a test; only its own pids are signalled. */
export interface RedisClusterServers {
  readonly nodes: RedisServer[];
  /** Startup nodes for ioredis `new Cluster(...)`. */
  readonly startupNodes: { host: string; port: number }[];
  stop(): Promise<void>;
}

async function clusterInfo(port: number): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'cluster', 'info']);
  return stdout;
}

/** Starts `masters` cluster-enabled redis-servers, joins them with `redis-cli --cluster create`, waits for cluster_state:ok. */
export async function startCluster(masters = 3): Promise<RedisClusterServers> {
  const ports = await Promise.all(Array.from({ length: masters }, () => freePort()));
  const nodes = await Promise.all(
    ports.map((port) =>
      startRedis(
        ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000'],
        port,
      ),
    ),
  );
  try {
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], {
      timeout: 20_000,
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const infos = await Promise.all(ports.map(clusterInfo));
      if (infos.every((info) => info.includes('cluster_state:ok'))) break;
      if (Date.now() > deadline) throw new Error(`cluster did not reach cluster_state:ok:\n${infos.join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (error) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw error;
  }
  return {
    nodes,
    startupNodes: ports.map((port) => ({ host: '127.0.0.1', port })),
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';

/** A throwaway redis-server started by a test; only its own pid is ever signalled. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** SIGKILL and wait for the exit: an outage, not a shutdown. */
  kill(): Promise<void>;
  /** Start again on the same port, empty (nothing is persisted). */
  restart(): Promise<void>;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

const started = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of started) child.kill('SIGKILL');
});

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.setTimeout(200);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function waitForPing(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server on ${port} exited with ${child.exitCode}`);
    if (await ping(port)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`redis-server on ${port} did not answer PING`);
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startRedis(extraArgs: string[] = [], port?: number): Promise<RedisServer> {
  const chosen = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'trpc-idem-redis-'));
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs],
      { stdio: 'ignore' },
    );
    started.add(child);
    child.once('exit', () => started.delete(child));
    await waitForPing(chosen, child);
  };
  await launch();
  const kill = async () => {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited(child);
  };
  return {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}`,
    get pid() {
      return child.pid ?? -1;
    },
    kill,
    restart: launch,
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A redis-server of its own for the enclosing describe block, and a client on it: started before
 * the block's tests, both closed after them. Read `server` and `redis` inside the tests; `probe`
 * is a second client, for commands that must not queue behind the first one's. `roundTrips(run)` counts the round trips `run` makes to this server, from its INFO stats: one
 * read per round trip of any client (commands inside Lua scripts are not reads).
 */
export function redisForSuite(): {
  readonly server: RedisServer;
  readonly redis: Redis;
  readonly probe: Redis;
  roundTrips(run: () => Promise<unknown>): Promise<number>;
} {
  const readsProcessed = async () => Number(/total_reads_processed:(\d+)/.exec(await suite.probe.info('stats'))?.[1]);
  const suite = {
    async roundTrips(run: () => Promise<unknown>) {
      const before = await readsProcessed();
      await run();
      return (await readsProcessed()) - before - 1; // net of the first INFO
    },
  } as { server: RedisServer; redis: Redis; probe: Redis; roundTrips(run: () => Promise<unknown>): Promise<number> };
  beforeAll(async () => {
    suite.server = await startRedis();
    suite.redis = new Redis(suite.server.url);
    suite.probe = new Redis(suite.server.url);
    await suite.redis.ping(); // connected: no handshake in the first count
  });
  afterAll(async () => {
    suite.redis?.disconnect();
    suite.probe?.disconnect();
    await suite.server?.stop();
  });
  return suite;
}

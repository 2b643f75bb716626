import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, type RedisServer, startRedis } from '../../helpers/redis-server';

export const MASTER_NAME = 'idem-master';

/**
 * One master, one replica and three sentinels, every one a redis-server on a free port started
 * here; only their own pids are ever signalled. Sentinel declares the master down after 2 s.
 */
export interface SentinelGroup {
  master: RedisServer;
  replica: RedisServer;
  sentinels: { host: string; port: number }[];
  /** Waits until the sentinels know each other and the replica, so that a failover can happen. */
  ready(): Promise<void>;
  /** Waits until the sentinels name a master other than `port`; returns the new master's port. */
  promoted(port: number, timeoutMs: number): Promise<number>;
  /** The port of each master the first sentinel switched to (`+switch-master`), in order. */
  switches(): number[];
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function startSentinel(dir: string, masterPort: number): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const conf = join(dir, `sentinel-${port}.conf`);
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
      // Above Sentinel's 1 s ping period. At or below it, the first PING to a master just promoted
      // goes out only as down-after runs out (the new link counts from its creation), so every
      // sentinel flags it down at once: a second failover, to any replica it can promote.
      `sentinel down-after-milliseconds ${MASTER_NAME} 2000`,
      `sentinel failover-timeout ${MASTER_NAME} 3000`,
      `sentinel parallel-syncs ${MASTER_NAME} 1`,
      '',
    ].join('\n'),
  );
  const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  for (let i = 0; i < 200; i++) {
    if (
      await probe.connect().then(
        () => probe.ping().then(() => true),
        () => false,
      )
    )
      break;
    await sleep(25);
  }
  probe.disconnect();
  return { port, child };
}

export async function startSentinelGroup(): Promise<SentinelGroup> {
  const master = await startRedis();
  const replica = await startRedis(['--replicaof', '127.0.0.1', String(master.port)]);
  const dir = mkdtempSync(join(tmpdir(), 'trpc-idem-sentinel-'));
  const started = await Promise.all([0, 1, 2].map(() => startSentinel(dir, master.port)));
  const admins = started.map(({ port }) => new Redis({ port, host: '127.0.0.1' }));
  for (const a of admins) a.on('error', () => {});
  const masterAdmin = new Redis({ port: master.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  masterAdmin.on('error', () => {});
  const ask = (a: Redis, ...args: string[]) => a.call('SENTINEL', ...args) as Promise<unknown>;
  const events = new Redis({ port: started[0]?.port ?? 0, host: '127.0.0.1' });
  events.on('error', () => {});
  const switches: number[] = [];
  // "<name> <old ip> <old port> <new ip> <new port>"
  events.on('message', (_channel, message: string) => switches.push(Number(message.split(' ')[4])));
  await events.subscribe('+switch-master');

  return {
    master,
    replica,
    sentinels: started.map(({ port }) => ({ host: '127.0.0.1', port })),
    async ready() {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const views = await Promise.all(
          admins.map(async (a) => {
            const others = (await ask(a, 'SENTINELS', MASTER_NAME)) as unknown[];
            const replicas = (await ask(a, 'REPLICAS', MASTER_NAME)) as string[][];
            const flags = replicas.map((r) => r[r.indexOf('flags') + 1]);
            return others.length === 2 && flags.length === 1 && flags[0] === 'slave';
          }),
        );
        // WAIT counts only a replica that finished its initial sync.
        const info = await masterAdmin.info('replication').catch(() => '');
        if (views.every(Boolean) && info.includes('state=online')) return;
        if (Date.now() > deadline) throw new Error('the sentinels did not discover each other and the replica in 20 s');
        await sleep(100);
      }
    },
    async promoted(port, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const named = await Promise.all(
          admins.map((a) =>
            (ask(a, 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME) as Promise<[string, string]>).then(
              ([, p]) => Number(p),
              () => port,
            ),
          ),
        );
        const other = named.find((p) => p !== port);
        if (other !== undefined && named.every((p) => p === other)) return other;
        if (Date.now() > deadline) throw new Error(`no failover away from ${port} within ${timeoutMs} ms`);
        await sleep(50);
      }
    },
    switches: () => [...switches],
    async stop() {
      for (const a of [...admins, masterAdmin, events]) a.disconnect();
      await Promise.all(
        started.map(
          ({ child }) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGKILL');
            }),
        ),
      );
      await Promise.all([master.stop(), replica.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import { Redis } from 'ioredis';
import superjson from 'superjson';
import type { ChildRouter } from './child-app';
import { spawnTsxChild } from './child-process';
import type { ChildConfig, ChildEvent, ChildStats } from './child-server';
import { type RedisServer, startRedis } from './redis-server';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const entry = join(here, 'child-server.ts');

/** A child process serving the test router over HTTP; only its own pid is ever signalled. */
export interface ChildServer {
  readonly pid: number;
  readonly url: string;
  /** Every idempotency event the child emitted so far. */
  readonly events: ChildEvent[];
  /** A tRPC client that sends `Idempotency-Key: key` and `x-user: user` per call (see `call`). */
  readonly client: ReturnType<typeof makeClient>;
  stats(): Promise<ChildStats>;
  signal(signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): void;
  /** Resolves when the process has exited (after a kill or close). */
  readonly exited: Promise<void>;
  /** Graceful: close the server and the store, then exit. */
  close(): Promise<void>;
}

interface CallContext {
  key?: string | undefined;
  user?: string | undefined;
}

function makeClient(url: string) {
  return createTRPCClient<ChildRouter>({
    links: [
      httpLink({
        url,
        transformer: superjson,
        headers: ({ op }) => {
          const { key, user } = op.context as CallContext;
          const headers: Record<string, string> = {};
          if (key !== undefined) headers['idempotency-key'] = key;
          if (user !== undefined) headers['x-user'] = user;
          return headers;
        },
      }),
    ],
  });
}

export async function startChildServer(config: ChildConfig): Promise<ChildServer> {
  const { child, exited } = spawnTsxChild(entry, repoRoot, { IDEM_CHILD_CONFIG: JSON.stringify(config) });
  const events: ChildEvent[] = [];
  const pendingStats = new Map<number, (stats: ChildStats) => void>();
  let statsId = 0;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('child server did not start within 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`child server exited with ${code} before it was ready`)));
    child.on('message', (message: { type: string; port?: number; event?: ChildEvent; id?: number }) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve(message.port ?? 0);
      } else if (message.type === 'event' && message.event) {
        events.push(message.event);
      } else if (message.type === 'stats') {
        pendingStats.get(message.id ?? 0)?.(message as unknown as ChildStats);
        pendingStats.delete(message.id ?? 0);
      }
    });
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    pid: child.pid ?? -1,
    url,
    events,
    client: makeClient(url),
    exited,
    stats: () =>
      new Promise<ChildStats>((resolve, reject) => {
        const id = ++statsId;
        const timer = setTimeout(() => reject(new Error('child did not answer stats')), 5_000);
        pendingStats.set(id, (s) => {
          clearTimeout(timer);
          resolve(s);
        });
        child.send({ type: 'stats', id });
      }),
    signal: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGCONT');
      child.send({ type: 'close' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function startChildServers(n: number, config: ChildConfig): Promise<ChildServer[]> {
  return Promise.all(Array.from({ length: n }, () => startChildServer(config)));
}

/** The tRPC error code of a failed call, `'TRANSPORT'` when no tRPC answer came back at all. */
function codeOf(error: unknown): string {
  if (error instanceof TRPCClientError) {
    const code = (error.data as { code?: string } | undefined)?.code;
    return code ?? 'TRANSPORT';
  }
  return 'TRANSPORT';
}

export type Settled<T> = { ok: true; value: T; ms: number } | { ok: false; code: string; message: string; ms: number };

/** Awaits a call and records how it ended and how long it took, never throwing. */
export async function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  const started = performance.now();
  try {
    const value = await promise;
    return { ok: true, value, ms: performance.now() - started };
  } catch (error) {
    return { ok: false, code: codeOf(error), message: (error as Error).message, ms: performance.now() - started };
  }
}

/**
 * The two redis-servers most multi-process tests need: `store` for the library, and a ledger where
 * the child resolvers count their executions (kept apart so store outages never lose the counts).
 */
export async function startStoreAndLedger() {
  const [store, ledgerServer] = await Promise.all([startRedis(), startRedis()]);
  const ledger = new Redis(ledgerServer.url);
  return {
    store: store as RedisServer,
    ledger,
    ledgerUrl: ledgerServer.url,
    async stop() {
      ledger.disconnect();
      await Promise.all([store.stop(), ledgerServer.stop()]);
    },
  };
}

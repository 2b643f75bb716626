import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTRPCClient, httpLink } from '@trpc/client';
import superjson from 'superjson';
import type { DurableChildConfig } from './child-durable-server';
import { spawnTsxChild } from './child-process';
import type { DurableRouter, HoldPoint } from './durable-app';

const here = dirname(fileURLToPath(import.meta.url));
const entry = join(here, 'child-durable-server.ts');

/** A child process serving the durable router; only its own pid is ever signalled. */
export interface DurableChild {
  readonly pid: number;
  /** Sends `Idempotency-Key: key` with every call made through `call(key)`. */
  call(key: string): ReturnType<typeof makeClient>;
  /** Resolves when the child reaches `point` for the order `k`. */
  reached(point: HoldPoint, k: string): Promise<void>;
  readonly events: { type: string; error: string }[];
  signal(signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): void;
  readonly exited: Promise<void>;
  close(): Promise<void>;
}

function makeClient(url: string, key: string) {
  return createTRPCClient<DurableRouter>({
    links: [httpLink({ url, transformer: superjson, headers: () => ({ 'idempotency-key': key }) })],
  });
}

export async function startDurableChild(config: DurableChildConfig): Promise<DurableChild> {
  const { child, exited } = spawnTsxChild(entry, join(here, '..', '..'), {
    IDEM_DURABLE_CONFIG: JSON.stringify(config),
  });
  const events: { type: string; error: string }[] = [];
  const waiting = new Map<string, () => void>();
  const arrived = new Set<string>();
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('durable child did not start within 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`durable child exited with ${code} before it was ready`)));
    child.on('message', (m: { type: string; port?: number; point?: string; k?: string; event?: never }) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve(m.port ?? 0);
      } else if (m.type === 'reached') {
        const id = `${m.point}:${m.k}`;
        arrived.add(id);
        waiting.get(id)?.();
      } else if (m.type === 'event' && m.event) {
        events.push(m.event);
      }
    });
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    pid: child.pid ?? -1,
    call: (key) => makeClient(url, key),
    reached: (point, k) =>
      new Promise<void>((resolve, reject) => {
        const id = `${point}:${k}`;
        if (arrived.has(id)) return resolve();
        const timer = setTimeout(() => reject(new Error(`child never reached ${id}`)), 20_000);
        waiting.set(id, () => {
          clearTimeout(timer);
          resolve();
        });
      }),
    events,
    signal: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    exited,
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

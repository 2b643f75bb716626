import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ResolverLog } from './app';

const CHILD = fileURLToPath(new URL('./child-server.ts', import.meta.url));

/** A child process running `child-server.ts` for one contender. */
export interface ChildServer {
  url: string;
  post(path: string, body: unknown, key?: string): Promise<boolean>;
  log(): Promise<ResolverLog>;
  /** The contender's in-flight count in that process (null if it does not say). */
  inFlight(): Promise<number | null>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export async function startChild(contenderId: string, redisUrl: string): Promise<ChildServer> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', CHILD, contenderId, redisUrl], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`child server for ${contenderId} exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;

  /** A tRPC mutation over HTTP (no transformer); true when it answered 200. */
  async function post(path: string, body: unknown, key?: string): Promise<boolean> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (key !== undefined) headers['idempotency-key'] = key;
    const res = await fetch(`${url}/${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    await res.arrayBuffer();
    return res.ok;
  }

  return {
    url,
    post,
    async log() {
      const res = await fetch(`${url}/log`);
      return ((await res.json()) as { result: { data: ResolverLog } }).result.data;
    },
    async inFlight() {
      const res = await fetch(`${url}/inFlight`);
      return ((await res.json()) as { result: { data: number | null } }).result.data;
    },
    async reset() {
      await post('reset', {});
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

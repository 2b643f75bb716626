/**
 * The durable-mutations part of `npm run demo`: a holder process inserts an order, COMMITs, and is
 * SIGKILLed before the idempotency store gets its result; a retry with the same key, on another
 * server, returns the same order, and the table holds one row.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createTRPCClient, httpLink } from '@trpc/client';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import pg from 'pg';
import superjson from 'superjson';
import { createDurableOrderRouter, type DurableOrderRouter, ORDERS_TABLE, storeFor } from './durable-orders';

const client = (url: string, key: string) =>
  createTRPCClient<DurableOrderRouter>({
    links: [httpLink({ url, transformer: superjson, headers: { 'idempotency-key': key } })],
  });

/** Starts examples/durable-orders.ts as a child that stops after its COMMIT; resolves with its URL. */
function startHolder(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string; committed: Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/durable-orders.ts'], {
    env: { ...env, HOLD_AFTER_COMMIT: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let onCommit!: () => void;
  const committed = new Promise<void>((resolve) => {
    onCommit = resolve;
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the holder exited with ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const message = JSON.parse(line) as { ready?: number; committed?: string };
      if (message.ready) resolve({ child, url: `http://127.0.0.1:${message.ready}`, committed });
      if (message.committed) onCommit();
    });
  });
}

/** Runs the scenario; returns the summary line, or why it was skipped. */
export async function demoDurable(
  databaseUrl: string,
  redisUrl: string | undefined,
): Promise<{ ok: boolean; line: string }> {
  const pool = new pg.Pool({ connectionString: databaseUrl, connectionTimeoutMillis: 2_000 });
  pool.on('error', () => {});
  try {
    await pool.query(ORDERS_TABLE);
  } catch (error) {
    await pool.end();
    return { ok: true, line: `skipped: no PostgreSQL at ${databaseUrl} (${(error as Error).message})` };
  }
  const { store, close } = storeFor(redisUrl);
  const server = createHTTPServer({
    router: createDurableOrderRouter({ pool, store }),
    createContext: ({ req }) => ({ headers: req.headers }),
  });
  const retryUrl = await new Promise<string>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}`)),
  );
  const holder = await startHolder({ ...process.env, DATABASE_URL: databaseUrl, REDIS_URL: redisUrl ?? '' });
  try {
    const key = crypto.randomUUID();
    const order = { k: key, sku: 'espresso-machine' };
    const first = client(holder.url, key)
      .createOrder.mutate(order)
      .catch(() => 'no answer');
    await holder.committed;
    holder.child.kill('SIGKILL'); // after the insert's COMMIT, before the store has the result
    const lost = await first;
    const retry = await client(retryUrl, key).createOrder.mutate(order);
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM demo_orders WHERE k = $1', [key]);
    const n = rows[0]?.n ?? 0;
    const same = retry.insertedBy === holder.child.pid;
    return {
      ok: n === 1 && same && lost === 'no answer',
      line: `holder killed after COMMIT (${lost}); retry on another server: order ${retry.orderId} ${same ? 'from the dead holder' : 'INSERTED AGAIN'}; ${n} row`,
    };
  } finally {
    holder.child.kill('SIGKILL');
    server.close();
    await close();
    await pool.end();
  }
}

/**
 * `npm run demo`: starts the order service on a free port and shows what the middleware does with
 * a burst of concurrent duplicates, a sequential replay, a lost response, and a reused key.
 */
import { TRPCClientError } from '@trpc/client';
import { createOrderClient } from './client';
import { demoDurable } from './durable-demo';
import { startOrderServer } from './server';

const BURST = 20;

const server = await startOrderServer({ port: 0 });
const lines: string[] = [];
const row = (label: string, detail: string) => lines.push(`  ${label.padEnd(30)} ${detail}`);
const ms = (since: number) => `${Math.round(performance.now() - since)} ms`;
let replays = 0;
const onReplay = () => {
  replays += 1;
};

try {
  console.log(`order service on ${server.url}, idempotency store: ${server.storeName}\n`);
  // One HTTP request per call, so that the burst is 20 concurrent requests.
  const client = createOrderClient(server.url, { batch: false, onReplay });
  const idempotencyKey = crypto.randomUUID();
  const order = { sku: 'espresso-machine', qty: 1 };

  let t0 = performance.now();
  const burst = await Promise.all(
    Array.from({ length: BURST }, () => client.createOrder.mutate(order, { context: { idempotencyKey } })),
  );
  const ids = new Set(burst.map((o) => o.id));
  row(
    `burst of ${BURST} duplicates`,
    `${server.stats.executions} execution, ${ids.size} order id, ${replays} replays (waited), ${ms(t0)}`,
  );

  t0 = performance.now();
  const again = await client.createOrder.mutate(order, { context: { idempotencyKey } });
  row(
    'sequential replay',
    `${again.id === burst[0]?.id ? 'same order' : 'ANOTHER order'}, ${replays} replays so far, ${ms(t0)}`,
  );

  // The first response is lost after the server ran; retryLink resends the call with the same key.
  let lost = 0;
  const losingFetch: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    if (lost++ > 0) return response;
    await response.arrayBuffer();
    throw new TypeError('fetch failed: connection reset (simulated lost response)');
  };
  let retryReplayed = false;
  const flaky = createOrderClient(server.url, { fetch: losingFetch, onReplay: () => (retryReplayed = true) });
  const before = server.stats.executions;
  t0 = performance.now();
  await flaky.createOrder.mutate({ sku: 'grinder', qty: 1 });
  row(
    'lost response + retryLink',
    `${lost} attempts, ${server.stats.executions - before} execution, retry ${retryReplayed ? 'replayed' : 'RAN AGAIN'}, ${ms(t0)}`,
  );

  t0 = performance.now();
  const status = await client.createOrder.mutate({ ...order, qty: 2 }, { context: { idempotencyKey } }).then(
    () => 'accepted (unexpected)',
    (error: unknown) =>
      error instanceof TRPCClientError ? `${error.data?.httpStatus} ${error.data?.code}` : String(error),
  );
  row('same key, different input', `${status}, ${ms(t0)}`);

  // Durable mutations: a holder dies after its SQL COMMIT; the retry returns its order (needs PostgreSQL).
  t0 = performance.now();
  const durable = await demoDurable(
    process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    process.env.REDIS_URL,
  );
  row('crash after COMMIT + retry', `${durable.line}, ${ms(t0)}`);

  console.log('summary');
  console.log(lines.join('\n'));
  const { events } = server.stats;
  console.log(
    `\n  resolver executions: ${server.stats.executions}; middleware events: ${Object.entries(events)
      .map(([type, n]) => `${type} ${n}`)
      .join(', ')}`,
  );
  const ok = ids.size === 1 && again.id === burst[0]?.id && retryReplayed && status.startsWith('422') && durable.ok;
  console.log(ok ? '\nevery duplicate ran once.' : '\nUNEXPECTED: see above.');
  process.exitCode = ok ? 0 : 1;
} finally {
  await server.close();
}

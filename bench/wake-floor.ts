/**
 * The machine's floor for a cross-process wake, with no idempotency code at all: one process runs a
 * script that writes a key and PUBLISHes, another is subscribed. Prints how long after the
 * publisher's reply the subscriber gets the message, when the publisher then idles and when it
 * spends some CPU on the reply (as a holder does, answering its own callers).
 *
 * It runs twice. First with Redis and both processes free to share the cores, as `npm run bench`
 * runs them. Then, where `taskset` is available, with Redis on a core of its own and the publisher
 * on another: Redis writes the publisher's reply before the subscriber's message, and on shared
 * cores the publisher, woken by that reply, can take the core Redis runs on before Redis has
 * written the message. The second run shows what is left when it cannot.
 * Usage: npm run bench:wake-floor
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startRedis } from '../tests/helpers/redis-server';
import { median } from './stats';

/** Epoch milliseconds with sub-millisecond precision, comparable across processes on one machine. */
const clock = () => performance.timeOrigin + performance.now();
const SCRIPT = "redis.call('set', KEYS[1], ARGV[1]); redis.call('publish', KEYS[2], ARGV[1]); return 1";
const ROUNDS = 30;

/** Pins every thread of `pid` to `cpu`; false where taskset is missing or refuses. */
function pin(pid: number, cpu: number): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

if (process.argv[2] === 'subscriber') {
  const sub = new Redis(process.argv[3] as string);
  sub.on('message', () => process.stdout.write(`${clock()}\n`));
  await sub.subscribe('wake');
  process.stdout.write('ready\n');
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
} else {
  const server = await startRedis();
  // Spawned before any pinning, so the subscriber may always run on any core.
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'subscriber', server.url], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  await lines.next(); // ready
  const redis = new Redis(server.url);

  const measure = async (burnMs: number) => {
    const delays: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      await new Promise((resolve) => setTimeout(resolve, 150)); // idle, as a holder's resolver is
      await redis.eval(SCRIPT, 2, 'record', 'wake', String(i));
      const replied = clock();
      const until = performance.now() + burnMs;
      while (performance.now() < until); // the holder answering its own callers
      const { value } = await lines.next();
      delays.push(Number(value) - replied);
    }
    console.log(
      `  publisher busy ${burnMs} ms after its reply: subscriber gets the message ${median(delays).toFixed(2)} ms ` +
        `after that reply (median of ${ROUNDS}, max ${Math.max(...delays).toFixed(2)} ms)`,
    );
  };

  try {
    console.log('Redis and both processes share the cores (as npm run bench runs them):');
    for (const burnMs of [0, 1, 3]) await measure(burnMs);
    const last = cpus().length - 1;
    if (last < 1 || !pin(server.pid, last) || !pin(process.pid, 0)) {
      console.log('Redis on a core of its own: skipped (needs 2 cores and taskset)');
    } else {
      console.log(`Redis on a core of its own (taskset: Redis on CPU ${last}, the publisher on CPU 0):`);
      for (const burnMs of [0, 1, 3]) await measure(burnMs);
    }
  } finally {
    child.stdin?.end();
    redis.disconnect();
    await server.stop();
  }
}

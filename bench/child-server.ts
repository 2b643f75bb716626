/**
 * A standalone tRPC HTTP server running one contender, for the cross-process wake test.
 * Usage: tsx bench/child-server.ts <contender-id> <redis-url>
 * Prints one JSON line `{"port": n}` when listening; exits when stdin closes or on SIGTERM.
 */
import type { AddressInfo } from 'node:net';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { benchContext, makeBenchApp } from './app';
import { contender } from './contenders';

const [id, redisUrl] = process.argv.slice(2);
if (!id || !redisUrl) throw new Error('usage: child-server.ts <contender-id> <redis-url>');

const instance = await contender(id).create(redisUrl);
const { router } = makeBenchApp(instance.middleware, () => instance.inFlight());
const server = createHTTPServer({
  router,
  createContext: ({ req }) => benchContext(req.headers),
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  server.closeAllConnections();
  server.close();
  await instance.close().catch(() => {});
  process.exit(0);
}
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);

import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy to Redis that holds every reply back for `delayMs`, as a network with that round
 * trip would. A call's latency through it, divided by the delay, is the number of round trips
 * the caller waited for: what loopback hides, and what a real network charges.
 */
export interface SlowLink {
  url: string;
  close(): Promise<void>;
}

export async function slowLink(redisUrl: string, delayMs: number): Promise<SlowLink> {
  const target = new URL(redisUrl);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
    sockets.add(client).add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.pipe(upstream);
    // Timers of one delay fire in the order they were set, so replies keep their order.
    upstream.on('data', (chunk) => setTimeout(() => client.writable && client.write(chunk), delayMs));
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close).on('error', close);
    // Redis closing (after a QUIT) reaches the client after the replies held back before it.
    const closeLater = () => setTimeout(close, delayMs + 1);
    upstream.on('close', closeLater).on('error', closeLater);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `redis://127.0.0.1:${port}`,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import express from 'express';
import type { HttpApp } from './http-app';

/** A server listening on a free port; `close` ends its keep-alive connections too. */
export interface RunningServer {
  /** The tRPC endpoint, for httpLink's `url`. */
  url: string;
  close(): Promise<void>;
}

function listen(server: Server, path: string): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}${path}`,
        close: () =>
          new Promise<void>((done) => {
            // fetch keeps connections alive; without this, close() waits for them to time out.
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

/** `@trpc/server/adapters/standalone`, served at the root. */
export function serveStandalone(app: HttpApp): Promise<RunningServer> {
  return listen(createHTTPServer({ router: app.router, createContext: app.nodeContext }), '');
}

/** `@trpc/server/adapters/express` (express 5), mounted at /trpc. */
function serveExpress(app: HttpApp): Promise<RunningServer> {
  const server = express();
  server.use('/trpc', createExpressMiddleware({ router: app.router, createContext: app.nodeContext }));
  return listen(createServer(server), '/trpc');
}

/** The Next.js App Router route handler shape: `export { handler as GET, handler as POST }`. */
export function routeHandler(app: HttpApp): (req: Request) => Promise<Response> {
  return (req) =>
    fetchRequestHandler({ endpoint: '/api/trpc', req, router: app.router, createContext: app.fetchContext });
}

async function toRequest(req: IncomingMessage): Promise<Request> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headersDistinct)) for (const v of value ?? []) headers.append(name, v);
  const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
  return new Request(`http://${req.headers.host}${req.url}`, { method: req.method, headers, body });
}

async function writeResponse(response: Response, res: ServerResponse): Promise<void> {
  res.statusCode = response.status;
  response.headers.forEach((value, name) => {
    res.appendHeader(name, value);
  });
  if (!response.body) return void res.end();
  // Streamed chunk by chunk, so httpBatchStreamLink gets its results as they come.
  for await (const chunk of Readable.fromWeb(response.body as import('node:stream/web').ReadableStream))
    res.write(chunk);
  res.end();
}

/** `@trpc/server/adapters/fetch` behind a plain node http server, at /api/trpc (as in Next.js). */
function serveFetch(app: HttpApp): Promise<RunningServer> {
  const handler = routeHandler(app);
  const server = createServer((req, res) => {
    toRequest(req)
      .then(handler)
      .then((response) => writeResponse(response, res))
      .catch((error: unknown) => {
        res.statusCode = 500;
        res.end(String(error));
      });
  });
  return listen(server, '/api/trpc');
}

/** Every adapter under test, by name. */
export const adapters = { standalone: serveStandalone, express: serveExpress, fetch: serveFetch } as const;

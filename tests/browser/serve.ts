import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHTTPHandler, createHTTPServer } from '@trpc/server/adapters/standalone';
import type { Shop } from './shop';

/** A server on a free port of 127.0.0.1; `close` ends its keep-alive connections too. */
export interface Served {
  origin: string;
  close(): Promise<void>;
}

function listen(server: Server): Promise<Served> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        origin: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

/**
 * Loses this response after the resolver ran: the status line and headers go out, then the socket is
 * destroyed. Chrome re-sends by itself a POST whose socket closed before any response byte, so
 * the bytes must go first for the app to see the loss.
 */
function loseResponse(res: ServerResponse): void {
  const lose = () => {
    res.flushHeaders();
    setTimeout(() => res.socket?.destroy(), 50);
    return res;
  };
  res.write = lose as unknown as ServerResponse['write'];
  res.end = lose as unknown as ServerResponse['end'];
}

/** The page and the shop's tRPC API at /trpc, on one origin. */
export async function serveShop(
  shop: Shop,
  page: { html: string; js: string; ssr?: (testCase: string) => string | undefined } = { html: '', js: '' },
) {
  const trpc = createHTTPHandler({
    router: shop.router,
    basePath: '/trpc/',
    createContext: ({ req, res }) => ({ headers: req.headers, res }),
  });
  /** Ordinals (1-based, counted from `loseResponses`) of the createOrder requests whose response is lost. */
  let losing = new Set<number>();
  let seen = 0;
  const keys: (string | null)[] = [];
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    if (url === '/' || url.startsWith('/?')) {
      // A server-rendered case gets its markup inside #root, for the page to hydrate.
      const markup = page.ssr?.(new URLSearchParams(url.slice(1)).get('case') ?? '');
      const html =
        markup === undefined ? page.html : page.html.replace('<div id="root"></div>', `<div id="root">${markup}</div>`);
      res.writeHead(200, { 'content-type': 'text/html' }).end(html);
      return;
    }
    if (url === '/app.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(page.js);
      return;
    }
    if (url.startsWith('/trpc/')) {
      const key = req.headers['idempotency-key'];
      keys.push(typeof key === 'string' ? key : null);
      if (url.startsWith('/trpc/createOrder')) {
        seen += 1;
        if (losing.has(seen)) loseResponse(res);
      }
      trpc(req, res);
      return;
    }
    res.writeHead(404).end();
  };
  const served = await listen(createServer(handle));
  return {
    ...served,
    /** The Idempotency-Key of every tRPC request, in order. */
    keys,
    /** Loses the responses of these createOrder requests, counted from now (1 is the next one). */
    loseResponses(...ordinals: number[]) {
      losing = new Set(ordinals);
      seen = 0;
    },
  };
}

/** The shop's API on its own origin, with the README's CORS recipe for `allowedOrigin`. */
export async function serveShopCors(shop: Shop, allowedOrigin: string) {
  /** The Access-Control-Request-Headers of every preflight. */
  const preflights: string[] = [];
  const served = await listen(
    createHTTPServer({
      router: shop.router,
      createContext: ({ req, res }) => ({ headers: req.headers, res }),
      middleware: (req, res, next) => {
        res.setHeader('Access-Control-Allow-Origin', allowedOrigin);
        res.setHeader('Access-Control-Allow-Headers', 'Content-Type, Authorization, Idempotency-Key');
        res.setHeader('Access-Control-Expose-Headers', 'Idempotent-Replayed');
        if (req.method === 'OPTIONS') {
          preflights.push(String(req.headers['access-control-request-headers'] ?? ''));
          res.writeHead(204).end();
          return;
        }
        next();
      },
    }),
  );
  return { ...served, preflights };
}

import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { appRouter, createContext } from './server';

// A browser on another origin may send Idempotency-Key only if the preflight allows it, and can
// read Idempotent-Replayed only if the response exposes it.
createHTTPServer({
  router: appRouter,
  createContext,
  middleware: (req, res, next) => {
    res.setHeader('Access-Control-Allow-Origin', 'https://shop.example.com');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type, Authorization, Idempotency-Key');
    res.setHeader('Access-Control-Expose-Headers', 'Idempotent-Replayed');
    if (req.method === 'OPTIONS') {
      res.writeHead(204).end();
      return;
    }
    next();
  },
}).listen(3000);

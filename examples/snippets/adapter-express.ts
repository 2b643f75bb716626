import { type CreateExpressContextOptions, createExpressMiddleware } from '@trpc/server/adapters/express';
import express from 'express';
import { appRouter } from './server';

// Express: `req.headers` holds the key, `res` takes the Idempotent-Replayed header.
const createContext = ({ req, res }: CreateExpressContextOptions) => ({
  headers: req.headers,
  res,
  user: req.headers.authorization ? { id: req.headers.authorization.replace(/^Bearer /, '') } : null,
});

const app = express();
app.use('/trpc', createExpressMiddleware({ router: appRouter, createContext }));
app.listen(3000);

import { randomUUID } from 'node:crypto';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { CachePersistenceLayer } from '@aws-lambda-powertools/idempotency/cache';
import type { CacheClient } from '@aws-lambda-powertools/idempotency/cache/types';
import { Idempotency as NodeIdempotency } from '@node-idempotency/core';
import { RedisStorageAdapter } from '@node-idempotency/storage-adapter-redis';
import { createClient } from '@redis/client';
import { experimental_trpcMiddleware, TRPCError, type TRPCMiddlewareBuilder } from '@trpc/server';
import { Redis } from 'ioredis';
import { ScriptBatcher } from '../src/store/batch';
import { CLAIM, COMPLETE } from '../src/store/scripts';

/**
 * The library as users run it: the build in dist/, which `npm run bench` makes first. Run through tsx,
 * the TypeScript source would carry esbuild's `__name()` call on every closure it creates, which
 * cost about 8 % of a unique-key call in an A/B run; no installed copy pays that.
 */
const DIST = new URL('../dist/index.js', import.meta.url);
const { createIdempotency, memoryStore, redisStore } = (await import(DIST.href).catch((error: unknown) => {
  throw new Error(`bench: cannot load ${DIST.pathname}; run \`npm run build\` first (npm run bench does)`, {
    cause: error,
  });
})) as typeof import('../src');
type IdempotencyOptions<T> = import('../src').IdempotencyOptions<T>;

/** The context every contender sees: the key header, and a user to scope keys by. */
export interface BenchContext {
  headers: Record<string, string | string[] | undefined>;
  user: { id: string };
  /** Per call: set when this call ran the resolver (read by the wake benchmark). */
  trace: { ran: boolean };
}

/** Every contender is a middleware in this one position: `t.procedure.use(middleware)`. */
export type BenchMiddleware = TRPCMiddlewareBuilder<BenchContext, object, object, unknown>;

/** Ours also adds ctx.idempotency, which the bench's resolvers do not read. */
const asBench = (middleware: unknown) => middleware as BenchMiddleware;

/** One contender, set up against its own Redis. */
export interface Instance {
  middleware: BenchMiddleware | undefined;
  /** In-process calls still tracked by the contender (ours only; undefined for the others). */
  inFlight(): number | undefined;
  close(): Promise<void>;
}

export interface Contender {
  id: string;
  label: string;
  /** Talks to Redis, so its commands and round trips can be counted. */
  redis: boolean;
  /** Shares state across processes (the cross-process wake test means something). */
  shared: boolean;
  /** Ours: the targets are checked against these rows. */
  ours: boolean;
  /** A yardstick (bare, floor), neither ours nor a peer. */
  reference?: boolean;
  create(redisUrl: string): Promise<Instance>;
}

const middleware = () => experimental_trpcMiddleware<{ ctx: BenchContext }>();

const keyOf = (ctx: BenchContext): string | undefined => {
  const key = ctx.headers['idempotency-key'];
  return typeof key === 'string' ? key : undefined;
};

/**
 * The only way for a tRPC middleware to answer without calling next() is to return next()'s
 * result shape; `marker` is its runtime brand (the library's own replay path does the same).
 */
function answered<T>(data: unknown): T {
  return { ok: true, data, marker: 'middlewareMarker' } as unknown as T;
}

async function ioredis(url: string): Promise<Redis> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  await new Promise<void>((resolve, reject) => {
    redis.once('ready', resolve);
    redis.once('error', reject);
  });
  return redis;
}

/** Ours on its own ioredis; `options` go to createIdempotency, `cache` to redisStore. */
export function ours(
  id: string,
  label: string,
  { cache = true, ...options }: { cache?: boolean } & Partial<IdempotencyOptions<BenchContext>> = {},
): Contender {
  return {
    id,
    label,
    redis: true,
    shared: true,
    ours: true,
    async create(url) {
      const redis = await ioredis(url);
      const store = redisStore(cache ? { redis } : { redis, cache: false });
      const idempotency = createIdempotency<BenchContext>({ ...options, store });
      return {
        middleware: asBench(idempotency.middleware),
        inFlight: () => idempotency.inFlight,
        async close() {
          // A graceful shutdown: results still being stored behind their reply land first.
          while (idempotency.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 5));
          await store.close();
          await redis.quit();
        },
      };
    },
  };
}

/**
 * A yardstick, not an idempotency library: the two script round trips a first call of ours makes
 * (the same batched CLAIM and COMPLETE, through the same ioredis), and nothing else: no hashing, no
 * record, no cache, no waiting. Unique-key throughput cannot beat this, so it shows how much of
 * the budget is Redis and ioredis on this machine.
 */
const floor: Contender = {
  id: 'floor',
  label: 'floor: 2 script round trips',
  redis: true,
  shared: false,
  ours: false,
  reference: true,
  async create(url) {
    const redis = await ioredis(url);
    const scripts = new ScriptBatcher(redis);
    return {
      middleware: middleware().create(async (opts) => {
        const key = keyOf(opts.ctx);
        if (key === undefined) return opts.next();
        const tag = `floor:{${key}}`;
        const token = randomUUID();
        await scripts.run(CLAIM, [`${tag}:r`, `${tag}:l`], [token, 10_000], 1_000);
        const result = await opts.next();
        const text = `r1\nok\n-\n0\n${JSON.stringify(result.ok ? result.data : null)}`;
        await scripts.run(COMPLETE, [`${tag}:r`, `${tag}:l`], [token, text, 86_400, `${tag}:c`], 1_000);
        return result;
      }),
      inFlight: () => undefined,
      async close() {
        await redis.quit();
      },
    };
  },
};

/** @node-idempotency/core in wait mode: SET NX of an IN_PROGRESS marker, then polling GET. */
const nodeIdempotency: Contender = {
  id: 'node-idempotency',
  label: '@node-idempotency (wait)',
  redis: true,
  shared: true,
  ours: false,
  async create(url) {
    const storage = new RedisStorageAdapter({ url });
    await storage.connect();
    const idempotency = new NodeIdempotency(storage, { inProgressStrategy: { wait: true } });
    return {
      middleware: middleware().create(async (opts) => {
        const key = keyOf(opts.ctx);
        if (key === undefined) return opts.next();
        const req = {
          headers: { 'idempotency-key': key },
          path: opts.path,
          method: 'POST',
          body: { input: await opts.getRawInput() },
        };
        let hit: { body?: unknown } | undefined;
        try {
          hit = await idempotency.onRequest(req);
        } catch (error) {
          throw new TRPCError({ code: 'CONFLICT', message: (error as Error).message, cause: error });
        }
        if (hit) return answered(hit.body);
        const result = await opts.next();
        if (result.ok) await idempotency.onResponse(req, { body: result.data });
        return result;
      }),
      inFlight: () => undefined,
      close: () => storage.disconnect(),
    };
  },
};

/** What makeIdempotent sees as its Lambda context: the remaining time, and the tRPC call to run. */
interface FakeLambdaContext {
  getRemainingTimeInMillis(): number;
  functionName: string;
  awsRequestId: string;
  run(): Promise<unknown>;
}

/** Powertools' makeIdempotent over CachePersistenceLayer (Redis via @redis/client). */
const powertools: Contender = {
  id: 'powertools',
  label: 'Powertools (cache layer)',
  redis: true,
  shared: true,
  ours: false,
  async create(url) {
    const client = await createClient({ url }).connect();
    // @redis/client's SET/GET/DEL are wider overloads of the three calls CacheClient makes.
    const persistenceStore = new CachePersistenceLayer({ client: client as unknown as CacheClient });
    // No payloadValidationJmesPath: the cache layer's _updateRecord drops the validation hash when it
    // stores the result, so every replay would then fail validation (seen with 2.35.0).
    const config = new IdempotencyConfig({ eventKeyJmesPath: 'key', expiresAfterSeconds: 86_400 });
    const handler = makeIdempotent(
      async (_event: { key: string; input: unknown }, context: FakeLambdaContext) => context.run(),
      { persistenceStore, config },
    );
    return {
      middleware: middleware().create(async (opts) => {
        const key = keyOf(opts.ctx);
        if (key === undefined) return opts.next();
        const event = { key: `${opts.ctx.user.id}:${opts.path}:${key}`, input: await opts.getRawInput() };
        const data = await handler(event, {
          getRemainingTimeInMillis: () => 30_000,
          functionName: 'bench',
          awsRequestId: key,
          async run() {
            const result = await opts.next();
            if (!result.ok) throw result.error;
            return result.data;
          },
        });
        return answered(data);
      }),
      inFlight: () => undefined,
      async close() {
        await client.quit();
      },
    };
  },
};

export const CONTENDERS: Contender[] = [
  {
    id: 'bare',
    label: 'bare procedure',
    redis: false,
    shared: false,
    ours: false,
    reference: true,
    async create() {
      return { middleware: undefined, inFlight: () => undefined, close: async () => {} };
    },
  },
  ours('redis', 'ours: redisStore'),
  ours('redis-behind', 'ours: redisStore, replyBeforeStored', { replyBeforeStored: true }),
  ours('redis-nocache', 'ours: redisStore, cache off', { cache: false }),
  {
    id: 'memory',
    label: 'ours: memoryStore',
    redis: false,
    shared: false,
    ours: true,
    async create() {
      const store = memoryStore();
      const idempotency = createIdempotency<BenchContext>({ store });
      return {
        middleware: asBench(idempotency.middleware),
        inFlight: () => idempotency.inFlight,
        close: () => store.close(),
      };
    },
  },
  floor,
  nodeIdempotency,
  powertools,
];

export function contender(id: string): Contender {
  const found = CONTENDERS.find((c) => c.id === id);
  if (!found) throw new Error(`unknown contender ${id}; one of ${CONTENDERS.map((c) => c.id).join(', ')}`);
  return found;
}

import type { Cluster, Redis } from 'ioredis';
import { z } from 'zod';
import { timerMs } from '../options';
import type { WarningHandler } from './maxmemory';

/** Options of `redisStore`. */
export interface RedisStoreOptions {
  /** The ioredis `Redis` or `Cluster` that holds records. It is not closed by `store.close()`. */
  redis: Redis | Cluster;
  /**
   * Independent masters for a Redlock quorum (an odd number). Default: `[redis]`, where the lock
   * is taken in the same script that looks for a record, saving a round trip.
   */
  lockClients?: (Redis | Cluster)[];
  /** Prefix of every key and channel. Default `'idem:'`. Must not contain `{` or `}`. */
  prefix?: string;
  /**
   * Longest wait for any one Redis operation before the call fails with SERVICE_UNAVAILABLE. Default
   * 1000. A process starved of CPU for longer (a long GC pause, an overloaded host) can hit it with
   * Redis well: raise it where that happens.
   */
  commandTimeoutMs?: number;
  /**
   * In-process cache of completed records this process has replayed: they never change
   * until they expire, so a replay served from here costs no round trip. Entries hold the record as
   * stored (one string), which keeps a flood of never-retried keys cheap for the garbage collector.
   * `forget`, in any process, drops a record from every process's cache (over pub/sub, on the
   * channel `<prefix>forgotten`). Default `{ maxEntries: 10_000, maxBytes: 16 MiB }`; `false` turns
   * it off (every replay then reads Redis, e.g. if you delete records by hand).
   */
  cache?: { maxEntries?: number; maxBytes?: number } | false;
  /**
   * Receives advice about the server, once per store: today, a `maxmemory-policy` under which Redis
   * may evict locks and records (an `EvictionPolicyWarning`). Default: `process.emitWarning`.
   */
  onWarning?: (warning: Error) => void;
  /**
   * Asks Redis to acknowledge writes on `count` replicas (WAIT, pipelined with the write) before
   * they count: the lock before the resolver runs (short of it, the call fails closed with
   * SERVICE_UNAVAILABLE), and each durable step and the record before they are reported stored
   * (short of it, the resolver goes on or its result is returned, and `onEvent` gets
   * `not-replicated`). A failover then cannot lose an acknowledged lock.
   * `timeoutMs` (default: half of commandTimeoutMs) must be shorter than commandTimeoutMs.
   * Single-node Redis (including one reached through Sentinel) without `lockClients` only.
   */
  replicas?: { count: number; timeoutMs?: number };
}

const client = z.custom<Redis | Cluster>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Redis).evalsha === 'function' &&
    typeof (v as Redis).duplicate === 'function',
  { message: 'expected an ioredis Redis or Cluster instance' },
);

/** Validates {@link RedisStoreOptions} and fills in the defaults. */
export const redisStoreSchema = z
  .object({
    redis: client,
    lockClients: z
      .array(client)
      .min(1)
      .refine((c) => c.length % 2 === 1, {
        message:
          'needs an odd number of masters (1, 3, 5…): Redlock needs a strict majority, and an even split can hang',
      })
      .optional(),
    prefix: z
      .string()
      .regex(/^[^{}]*$/, 'must not contain { or }, which would break the Redis Cluster hash tag')
      .default('idem:'),
    commandTimeoutMs: timerMs(1, 'must be at least 1 ms').default(1000),
    cache: z
      .union([
        z.literal(false),
        z
          .object({
            maxEntries: z.number().int().nonnegative().default(10_000),
            maxBytes: z
              .number()
              .int()
              .nonnegative()
              .default(16 * 1024 * 1024),
          })
          .strict(),
      ])
      .default({ maxEntries: 10_000, maxBytes: 16 * 1024 * 1024 }),
    replicas: z
      .object({ count: z.number().int().min(1), timeoutMs: timerMs(1, 'must be at least 1 ms').optional() })
      .strict()
      .optional(),
    onWarning: z
      .custom<WarningHandler>((v) => typeof v === 'function', { message: 'expected a function (warning) => void' })
      .optional(),
  })
  .strict();

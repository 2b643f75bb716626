import type { TRPCError } from '@trpc/server';
import { z } from 'zod';
import type { AnonymousOption } from './anonymous';
import { type Cipher, createCipher, type EncryptionOptions } from './encryption';
import { IdempotencyConfigError } from './errors';
import type { IdempotencyEvent } from './events';
import { type IdempotencyContext, readKeyHeader, type UserId } from './key';
import type { ConcurrentDuplicates } from './policy';
import { type IdempotencyStore, isStore } from './store/store';
import { defaultSuperJSON, isSuperJSONLike, type SuperJSONLike } from './superjson';
import { type IdempotencyTelemetry, isTelemetry } from './telemetry';

/** Reads the raw key from a context. */
type KeyReader<TContext> = (ctx: TContext) => string | string[] | null | undefined;

/**
 * Options of {@link createIdempotency}. Every one but `store` has a default; so does `getKey` when
 * the context has `headers` or `req.headers`, where the default reader looks. For any other context
 * `getKey` is required: without it no key would ever be read.
 */
export type IdempotencyOptions<TContext> = CommonOptions<TContext> &
  ([TContext] extends [IdempotencyContext]
    ? {
        /** The raw key. Default: the `headerName` header from `ctx.headers` or `ctx.req.headers`. */
        getKey?: KeyReader<TContext>;
      }
    : {
        /** The raw key: this context has no `headers` or `req.headers` for the default reader. */
        getKey: KeyReader<TContext>;
      });

/** The options that do not depend on where the key is read. */
interface CommonOptions<TContext> {
  /** Where records and locks live: `redisStore({ redis })` or `memoryStore()`. */
  store: IdempotencyStore;
  /** Request header carrying the key, matched case-insensitively. Default `'idempotency-key'`. */
  headerName?: string;
  /** How long a result is kept and replayed, in seconds. Default 86 400 (24 h). */
  ttlSeconds?: number;
  /** Lock lifetime in ms; renewed every third of it while the mutation runs. Default 10 000. */
  lockTtlMs?: number;
  /** How long a concurrent duplicate waits for the first call before CONFLICT, in ms. Default 10 000. */
  waitTimeoutMs?: number;
  /** Reject calls without a key with BAD_REQUEST. Default false: they run, and nothing is stored. */
  required?: boolean;
  /** Also apply to queries (the Django `cache_safe_methods`). Default false: queries pass through. */
  cacheQueries?: boolean;
  /** Which errors to store and replay. Default: none, so a failed call can be retried and run again. */
  cacheErrors?: (error: TRPCError) => boolean;
  /** The user a key belongs to. Default `ctx.user?.id`; null or undefined means anonymous (see `anonymous`). */
  getUserId?: (ctx: TContext) => UserId;
  /** Called for every hit, miss, wait, conflict, mismatch, store error, lost lock, integrity error and unacknowledged write. Default: none. Errors it throws are ignored. */
  onEvent?: (event: IdempotencyEvent) => void;
  /** Largest serialized result stored, in bytes. A larger one is returned once, never replayed. Default 1 MiB. */
  maxResultBytes?: number;
  /**
   * The superjson that stores results and fingerprints inputs: pass the one your tRPC transformer
   * uses when you register custom types on it (`registerCustom`, `registerClass`), so that replays
   * bring them back too. Default: superjson's default export, as this package loads it (the
   * CommonJS build carries its own copy, which your registrations do not reach).
   */
  superjson?: SuperJSONLike;
  /**
   * What to hash of the raw input instead of all of it, to tell a retry from a new call with the
   * same key: leave out fields that change on every retry (a client timestamp, a request id).
   * Fields left out are not compared. Default: the whole input. Per procedure: `meta.idempotency.fingerprint`.
   */
  fingerprint?: (input: unknown) => unknown;
  /**
   * What a concurrent duplicate does while the first call runs: `'wait'` up to `waitTimeoutMs` for
   * its result, or `'conflict'`: answer CONFLICT at once (Stripe, the IETF draft). Default `'wait'`.
   */
  concurrent?: ConcurrentDuplicates;
  /** Traces and metrics: `otel()` from `trpc-idempotency/otel`. Default: none. */
  telemetry?: IdempotencyTelemetry;
  /**
   * Encrypts stored results at rest (AES-256-GCM): `{ keys: [current, ...previous] }`. New records
   * use the first key; older ones still open with the others. Default: none (stored in clear).
   */
  encryption?: EncryptionOptions;
  /**
   * Keyed calls from callers without a user id: `'reject'` (default, UNAUTHORIZED), a function
   * returning their session or device id to scope them by, or `'shared'`: one scope for every
   * anonymous caller, where anyone with the same key and input gets the stored result (opt-in).
   */
  anonymous?: AnonymousOption<TContext>;
  /**
   * Answer a first call as soon as its resolver returns, and store its result behind the reply:
   * one Redis round trip on the caller's path instead of two. Duplicates still wait for the
   * stored result. The trade: a process that dies between the reply and the store loses the
   * record, so a retry or a waiting duplicate runs the mutation again although the caller got its
   * result; on shutdown, wait for `inFlight` to reach 0 before closing Redis. Default false.
   */
  replyBeforeStored?: boolean;
}

/** Node's longest timer (about 24.8 days): a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647;

/** A duration in whole ms that a Node timer can wait: at least `atLeast`, at most MAX_TIMER_MS. */
export const timerMs = (atLeast: number, message: string) =>
  z
    .number()
    .int()
    .min(atLeast, message)
    .max(MAX_TIMER_MS, `must be at most ${MAX_TIMER_MS} ms (about 24.8 days), the longest timer Node can set`);

const fn = (what: string) =>
  z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { message: `expected a function ${what}` });

const schema = z
  .object({
    store: z.custom<IdempotencyStore>(isStore, { message: 'expected redisStore(...) or memoryStore(...)' }),
    headerName: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a valid HTTP header name')
      .default('idempotency-key'),
    ttlSeconds: z.number().int().positive().default(86_400),
    lockTtlMs: timerMs(100, 'must be at least 100 ms').default(10_000),
    waitTimeoutMs: timerMs(0, 'must not be negative').default(10_000),
    required: z.boolean().default(false),
    cacheQueries: z.boolean().default(false),
    cacheErrors: fn('(error) => boolean').default(() => () => false),
    getUserId: fn('(ctx) => userId').optional(),
    getKey: fn('(ctx) => key').optional(),
    onEvent: fn('(event) => void').optional(),
    maxResultBytes: z.number().int().positive().default(1_048_576),
    superjson: z
      .custom<SuperJSONLike>(isSuperJSONLike, {
        message: 'expected superjson or a new SuperJSON() (with serialize, stringify and parse)',
      })
      // A function given to default() is taken as a factory, and superjson's default export is a class.
      .default(() => defaultSuperJSON),
    fingerprint: fn('(input) => unknown').optional(),
    concurrent: z.enum(['wait', 'conflict']).default('wait'),
    telemetry: z
      .custom<IdempotencyTelemetry>(isTelemetry, { message: 'expected otel() from trpc-idempotency/otel' })
      .optional(),
    // Checked in full by createCipher, which says what a key must be.
    encryption: z
      .custom<EncryptionOptions>((v) => typeof v === 'object' && v !== null, {
        message: 'expected { keys: [currentKey, ...previousKeys] }',
      })
      .optional(),
    anonymous: z.union([z.literal('reject'), z.literal('shared'), fn('(ctx) => sessionId')]).default('reject'),
    replyBeforeStored: z.boolean().default(false),
  })
  .strict();

/** Validates options with zod; a bad option throws an error naming it and saying what was expected. */
export function parseOptions<S extends z.ZodType>(schema: S, options: unknown, where: string): z.output<S> {
  const parsed = schema.safeParse(options ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const name = issue.path.length
      ? issue.path.join('.')
      : issue.code === 'unrecognized_keys'
        ? issue.keys.join(', ')
        : '(options)';
    return `  - ${name}: ${issue.message}`;
  });
  return failConfig(`${where}: invalid options\n${problems.join('\n')}`);
}

function failConfig(message: string): never {
  throw new IdempotencyConfigError(message);
}

const defaultUserId = (ctx: unknown): UserId => (ctx as { user?: { id?: UserId } | null }).user?.id;

/** Both set is a mistake, in the options as in a meta: `'conflict'` answers at once. */
export const waitsInVain = (p: { concurrent?: string | undefined; waitTimeoutMs?: number | undefined }) =>
  p.concurrent === 'conflict' && p.waitTimeoutMs !== undefined;
export const WAITS_IN_VAIN =
  "waitTimeoutMs does nothing with concurrent: 'conflict' (duplicates do not wait); remove one of them";

/** The options with every default filled in, as the middleware uses them. */
export function resolveOptions<TContext>(options: IdempotencyOptions<TContext>) {
  const parsed = parseOptions(schema, options, 'createIdempotency');
  const headerName = parsed.headerName;
  // Checked on what was given: the parsed options always have a waitTimeoutMs, the default.
  if (waitsInVain({ concurrent: parsed.concurrent, waitTimeoutMs: options.waitTimeoutMs })) {
    failConfig(`createIdempotency: invalid options\n  - ${WAITS_IN_VAIN}`);
  }
  return {
    ...parsed,
    cacheErrors: parsed.cacheErrors as (error: TRPCError) => boolean,
    getUserId: (options.getUserId ?? defaultUserId) as (ctx: unknown) => UserId,
    getKey: (options.getKey ?? ((ctx: unknown) => readKeyHeader(ctx, headerName))) as (ctx: unknown) => unknown,
    onEvent: options.onEvent,
    fingerprint: parsed.fingerprint as ((input: unknown) => unknown) | undefined,
    anonymous: parsed.anonymous as AnonymousOption<never>,
    cipher: parsed.encryption ? createCipher(parsed.encryption) : (undefined as Cipher | undefined),
  };
}

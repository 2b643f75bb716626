import type { AnyRouter, TRPCError } from '@trpc/server';
import { z } from 'zod';
import { fingerprintFailed, IdempotencyConfigError, policyInvalid } from './errors';
import { fingerprint } from './key';
import { parseOptions, timerMs, WAITS_IN_VAIN, waitsInVain } from './options';
import type { SuperJSONLike } from './superjson';

/**
 * What a concurrent duplicate does while the first call runs: `'wait'` for its result (the
 * default), or `'conflict'`: answer CONFLICT at once, as Stripe and the IETF draft do.
 */
export type ConcurrentDuplicates = 'wait' | 'conflict';

/** One procedure's settings over those of `createIdempotency`. Each one left out keeps the global value. */
export interface IdempotencyPolicy {
  /** How long this procedure's results are kept and replayed, in seconds. */
  ttlSeconds?: number;
  /** Lock lifetime in ms; renewed every third of it while the mutation runs. */
  lockTtlMs?: number;
  /** How long a concurrent duplicate waits before CONFLICT, in ms. Not with `concurrent: 'conflict'`. */
  waitTimeoutMs?: number;
  /** Reject calls without a key with BAD_REQUEST. */
  required?: boolean;
  /** Which errors to store and replay. */
  cacheErrors?: (error: TRPCError) => boolean;
  /**
   * What to hash of the raw input instead of all of it, to tell a retry from a new call with the
   * same key. Fields left out are not compared: a retry that changes only them replays the first result.
   */
  fingerprint?: (input: unknown) => unknown;
  /** What a concurrent duplicate does: `'wait'` for the first call's result, or `'conflict'` at once. */
  concurrent?: ConcurrentDuplicates;
}

/**
 * The procedure meta this library reads. Declare it once on your root, so that a typo in a
 * procedure's `.meta({ idempotency })` is a type error:
 * `initTRPC.meta<IdempotencyMeta>().create()` (or `IdempotencyMeta & YourMeta`).
 * @see https://www.npmjs.com/package/trpc-idempotency#options
 */
export interface IdempotencyMeta {
  /** This procedure's idempotency policy; `false` opts it out (its calls pass through untouched). */
  idempotency?: IdempotencyPolicy | false;
}

/** The settings one call runs with: the global options, with its procedure's meta over them. */
export interface CallPolicy {
  ttlSeconds: number;
  lockTtlMs: number;
  /** 0 with `concurrent: 'conflict'`. */
  waitTimeoutMs: number;
  required: boolean;
  cacheErrors: (error: TRPCError) => boolean;
  fingerprint: ((input: unknown) => unknown) | undefined;
}

const fn = (what: string) =>
  z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { message: `expected a function ${what}` });

const policySchema = z
  .object({
    ttlSeconds: z.number().int().positive().optional(),
    lockTtlMs: timerMs(100, 'must be at least 100 ms').optional(),
    waitTimeoutMs: timerMs(0, 'must not be negative').optional(),
    required: z.boolean().optional(),
    cacheErrors: fn('(error) => boolean').optional(),
    fingerprint: fn('(input) => unknown').optional(),
    concurrent: z.enum(['wait', 'conflict']).optional(),
  })
  .strict()
  .refine((p) => !waitsInVain(p), { message: WAITS_IN_VAIN });

const metaSchema = z.union([z.literal(false), policySchema], {
  error:
    'expected false (opt out) or an object of ttlSeconds, lockTtlMs, waitTimeoutMs, required, cacheErrors, fingerprint, concurrent',
});

/** The global settings a policy starts from; `waitTimeoutMs` is what `'wait'` waits. */
export interface PolicyDefaults extends CallPolicy {
  concurrent: ConcurrentDuplicates;
}

/** A resolved meta: the policy, null when the procedure opted out, or why its meta is invalid. */
type Resolved = CallPolicy | null | { invalid: string };

/** The global policy: what a procedure without meta runs with. */
function defaultPolicy(defaults: PolicyDefaults): CallPolicy {
  return {
    ttlSeconds: defaults.ttlSeconds,
    lockTtlMs: defaults.lockTtlMs,
    waitTimeoutMs: defaults.concurrent === 'conflict' ? 0 : defaults.waitTimeoutMs,
    required: defaults.required,
    cacheErrors: defaults.cacheErrors,
    fingerprint: defaults.fingerprint,
  };
}

/**
 * Validates one procedure's meta and lays it over the defaults; throws IdempotencyConfigError.
 * A meta without `idempotency` gets `global` itself.
 */
function resolveMeta(meta: object, defaults: PolicyDefaults, global: CallPolicy, path: string): CallPolicy | null {
  if (!('idempotency' in meta) || meta.idempotency === undefined) return global;
  const own = parseOptions(metaSchema, meta.idempotency, `meta.idempotency of "${path}"`);
  if (own === false) return null;
  return defaultPolicy({
    ttlSeconds: own.ttlSeconds ?? defaults.ttlSeconds,
    lockTtlMs: own.lockTtlMs ?? defaults.lockTtlMs,
    waitTimeoutMs: own.waitTimeoutMs ?? defaults.waitTimeoutMs,
    required: own.required ?? defaults.required,
    cacheErrors: (own.cacheErrors as CallPolicy['cacheErrors'] | undefined) ?? defaults.cacheErrors,
    fingerprint: (own.fingerprint as CallPolicy['fingerprint']) ?? defaults.fingerprint,
    concurrent: own.concurrent ?? defaults.concurrent,
  });
}

/**
 * The policy of each call, from its procedure's meta. Each meta object (one per procedure) is
 * validated once and its policy kept: calls after the first pay one WeakMap lookup.
 */
export function policies(defaults: PolicyDefaults) {
  const global = defaultPolicy(defaults);
  const byMeta = new WeakMap<object, Resolved>();

  /** One meta's policy, resolved on first use (or by checkRouter) and kept. */
  function resolved(meta: object, path: string): Resolved {
    let known = byMeta.get(meta);
    if (known === undefined) {
      try {
        known = resolveMeta(meta, defaults, global, path);
      } catch (error) {
        known = { invalid: (error as Error).message };
      }
      byMeta.set(meta, known);
    }
    return known;
  }

  return {
    /** The call's policy; null when its procedure opted out. Throws INTERNAL_SERVER_ERROR for a bad meta. */
    of(meta: object | undefined, path: string): CallPolicy | null {
      if (meta === undefined) return global;
      const policy = resolved(meta, path);
      if (policy !== null && 'invalid' in policy) throw policyInvalid(path, policy.invalid);
      return policy;
    },

    /** Validates every procedure's meta in `router` (lazy routers: those loaded so far), and keeps each policy. */
    checkRouter(router: AnyRouter): void {
      const problems: string[] = [];
      for (const [path, procedure] of Object.entries(router._def.procedures as Record<string, unknown>)) {
        const meta = (procedure as { _def?: { meta?: unknown } })._def?.meta;
        if (typeof meta !== 'object' || meta === null) continue;
        const policy = resolved(meta, path);
        if (policy !== null && 'invalid' in policy) problems.push(policy.invalid);
      }
      if (problems.length > 0) throw new IdempotencyConfigError(problems.join('\n'));
    },
  };
}

/** The fingerprint of a call's raw input, through the policy's selector when it has one. */
export function fingerprintOf(rawInput: unknown, policy: CallPolicy, path: string, sj: SuperJSONLike): string {
  if (!policy.fingerprint) return fingerprint(rawInput, sj);
  let selected: unknown;
  try {
    selected = policy.fingerprint(rawInput);
  } catch (cause) {
    throw fingerprintFailed(path, cause);
  }
  return fingerprint(selected, sj);
}

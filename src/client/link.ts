import type { Operation, TRPCLink } from '@trpc/client';
import type { AnyRouter } from '@trpc/server';
import { type ConflictRetryOptions, retryingConflicts } from './conflict-retry';
import type {} from './context'; // for its OperationContext augmentation, with no runtime import

/** Options of {@link idempotencyLink}. */
export interface IdempotencyLinkOptions {
  /** Which operations get a generated key. Default: every mutation (`op.type === 'mutation'`). */
  condition?: (op: Operation) => boolean;
  /** Makes a new key. Default `crypto.randomUUID()` (browsers: secure contexts only). */
  generateKey?: (op: Operation) => string;
  /**
   * Asks again, with the same key, when a keyed call gets the CONFLICT of a duplicate that outwaited
   * the first call (never on other errors, such as 400 or 422): `true` for the defaults, or bounds.
   * Off by default.
   */
  retryConflict?: boolean | ConflictRetryOptions;
}

const isMutation = (op: Operation) => op.type === 'mutation';
const randomKey = () => globalThis.crypto.randomUUID();

/**
 * Gives every mutation an idempotency key in `op.context.idempotencyKey`, unless the caller set one
 * (`client.x.mutate(input, { context: { idempotencyKey } })`). Put it before `retryLink`, so that
 * every retry of an operation sends the same key; send it with {@link idempotencyHeaders} or
 * {@link idempotencyBatchHeaders}.
 * @see https://www.npmjs.com/package/trpc-idempotency#client
 */
export function idempotencyLink<TRouter extends AnyRouter = AnyRouter>(
  options: IdempotencyLinkOptions = {},
): TRPCLink<TRouter> {
  const condition = options.condition ?? isMutation;
  const generateKey = options.generateKey ?? randomKey;
  const retryConflict = options.retryConflict === true ? {} : options.retryConflict || undefined;
  return () => {
    // One key per operation object, should a link re-send the same op through this one (a retryLink
    // placed before it does): a retry must never mint a new key.
    const minted = new WeakMap<Operation, string>();
    return ({ op, next }) => {
      if (op.context.idempotencyKey !== undefined)
        return retryConflict ? retryingConflicts(op, next, retryConflict) : next(op);
      if (!condition(op)) return next(op);
      let key = minted.get(op);
      if (key === undefined) {
        key = generateKey(op);
        if (typeof key !== 'string' || key === '') {
          throw new TypeError(
            `idempotencyLink: generateKey returned ${JSON.stringify(key)}; return a non-empty string`,
          );
        }
        minted.set(op, key);
      }
      // A copy, never the caller's object: a context reused across calls must not carry one key to the next.
      const keyed = { ...op, context: { ...op.context, idempotencyKey: key } };
      return retryConflict ? retryingConflicts(keyed, next, retryConflict) : next(keyed);
    };
  };
}

/**
 * True when the operation carries an idempotency key: a `splitLink` condition that sends keyed
 * mutations through a non-batching `httpLink`.
 */
export function hasIdempotencyKey(op: Operation): boolean {
  return op.context.idempotencyKey !== undefined;
}

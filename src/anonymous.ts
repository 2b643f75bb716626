import { TRPCError } from '@trpc/server';
import { anonymousRejected } from './errors';
import type { CallerScope, UserId } from './key';

/**
 * How keyed calls from callers without a user id are scoped (the `anonymous` option):
 * - `'reject'` (default): UNAUTHORIZED, so that no anonymous caller can read another's result;
 * - `'shared'`: every anonymous caller shares one scope; anyone who sends the same key and input
 *   to the same procedure gets the stored result. An explicit opt-in, for trusted callers only;
 * - a function: the caller's session or device id from the context; a call without one is rejected.
 */
export type AnonymousOption<TContext> = 'reject' | 'shared' | ((ctx: TContext) => string | null | undefined);

/** The scope of a keyed call whose caller has no user id; throws when it may not have one. */
function anonymousScope(option: AnonymousOption<never>, ctx: unknown, path: string): CallerScope {
  if (option === 'shared') return null;
  if (option === 'reject') throw anonymousRejected(path, false);
  const session = (option as (ctx: unknown) => unknown)(ctx);
  if (session === null || session === undefined || session === '') throw anonymousRejected(path, true);
  if (typeof session !== 'string') {
    throw new TRPCError({
      code: 'INTERNAL_SERVER_ERROR',
      message: `The anonymous option returned a ${typeof session}; return the caller's session or device id as a string, or undefined when it has none.`,
    });
  }
  return { anonymous: session };
}

const USER_ID_TYPES = new Set(['string', 'number', 'bigint']);

/** Whether `id` can name a user: a string or a number (bigint included). */
export function isUserId(id: unknown): id is UserId {
  return USER_ID_TYPES.has(typeof id);
}

/** Whom a keyed call's record belongs to: the user `getUserId` names, or else the anonymous rule. */
export function callerScope(
  getUserId: (ctx: never) => unknown,
  anonymous: AnonymousOption<never>,
  ctx: unknown,
  path: string,
): CallerScope {
  const id = (getUserId as (ctx: unknown) => unknown)(ctx);
  if (id === null || id === undefined) return anonymousScope(anonymous, ctx, path);
  if (isUserId(id)) return id;
  throw new TRPCError({
    code: 'INTERNAL_SERVER_ERROR',
    message: `getUserId returned a ${typeof id}; return a string or number id, or undefined for anonymous callers.`,
  });
}

import { TRPCError } from '@trpc/server';

/**
 * Every error this library throws at a caller, in one place.
 * Each carries a stable tRPC code (and so a stable HTTP status) and a message
 * that tells the client what to do next.
 */
export const IDEMPOTENCY_ERROR_CODES = {
  keyRequired: 'BAD_REQUEST',
  keyInvalid: 'BAD_REQUEST',
  inputNotFingerprintable: 'BAD_REQUEST',
  inputMismatch: 'UNPROCESSABLE_CONTENT',
  stillRunning: 'CONFLICT',
  storeUnavailable: 'SERVICE_UNAVAILABLE',
  resultNotReplayable: 'PRECONDITION_FAILED',
  clientClosed: 'CLIENT_CLOSED_REQUEST',
  recordUnreadable: 'INTERNAL_SERVER_ERROR',
  anonymousRejected: 'UNAUTHORIZED',
  // A resolver's own mistakes, not the client's: codes that no hostile request can produce.
  stepNameReused: 'PRECONDITION_FAILED',
  stepNameInvalid: 'PRECONDITION_FAILED',
  stepsUnsupported: 'NOT_IMPLEMENTED',
  stepLockLost: 'CONFLICT',
  policyInvalid: 'INTERNAL_SERVER_ERROR',
  fingerprintFailed: 'BAD_REQUEST',
  forgetWhileRunning: 'CONFLICT',
  adminNotSupported: 'NOT_IMPLEMENTED',
  callRefInvalid: 'BAD_REQUEST',
} as const;

export function keyRequired(headerName: string): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.keyRequired,
    message: `This procedure requires an ${headerName} header. Send a unique key (a UUID, say) per operation and reuse it when you retry that operation.`,
  });
}

export function keyInvalid(headerName: string, reason: string): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.keyInvalid,
    message: `The ${headerName} header is invalid: ${reason}. Send 1-255 visible ASCII characters, such as a UUID.`,
  });
}

export function inputNotFingerprintable(cause: unknown): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.inputNotFingerprintable,
    message:
      'The input cannot be fingerprinted for an idempotent call (superjson refused it, e.g. an own "__proto__" key). Send plain data.',
    cause,
  });
}

export function inputMismatch(headerName: string, path: string): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.inputMismatch,
    message: `This ${headerName} was already used for "${path}" with a different input. Use a new key for a new operation; reuse a key only to retry the same call.`,
  });
}

/** The CONFLICT of {@link stillRunning}: it carries when to ask again (see `idempotencyErrorData`). */
class StillRunningError extends TRPCError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super({ code: IDEMPOTENCY_ERROR_CODES.stillRunning, message });
  }
}

export function stillRunning(path: string, waitedMs: number, retryAfterMs: number): TRPCError {
  return new StillRunningError(
    `The first call to "${path}" with this idempotency key is still running after ${waitedMs} ms. Retry later with the same key (in ${retryAfterMs} ms, says Retry-After) to get its result; it will not run twice.`,
    retryAfterMs,
  );
}

export function storeUnavailable(cause: unknown): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.storeUnavailable,
    message: 'The idempotency store is unavailable, so the call was not run. Retry with the same key shortly.',
    cause,
  });
}

export function resultNotReplayable(path: string, reason: string): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.resultNotReplayable,
    message: `The first call to "${path}" with this idempotency key succeeded, but its result cannot be replayed (${reason}). It will not run again; use a new key for a new operation.`,
  });
}

export function clientClosed(path: string): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.clientClosed,
    message: `The client went away while its call to "${path}" waited for the first call with this key; it stopped waiting. The first call goes on, and a retry with the same key gets its result.`,
  });
}

export function recordUnreadable(path: string, cause: unknown): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.recordUnreadable,
    message: `The stored result of the first call to "${path}" with this idempotency key failed its integrity check (tampered with, or sealed with a key missing from encryption.keys), so it is neither replayed nor run again. Operators: check encryption.keys and the store; a new key runs the operation again.`,
    cause,
  });
}

export function adminRecordUnreadable(cause: unknown): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.recordUnreadable,
    message:
      'The stored record of this call is not one this library can read (damaged, or written by something else under its prefix). `forget` deletes it, and the next call runs again.',
    cause,
  });
}

export function anonymousRejected(path: string, hadOption: boolean): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.anonymousRejected,
    message: hadOption
      ? `This idempotent call to "${path}" has neither a user id nor an anonymous session id (the anonymous option returned none), so it cannot be scoped to its caller. Sign in, or send the session or device id the server reads.`
      : `This idempotent call to "${path}" has no user id, and anonymous callers are rejected by default so that none can read another's result. Sign in; or, on the server, set createIdempotency's \`anonymous\` option to \`(ctx) => sessionId\` (scope by session or device) or to 'shared' (one scope for every anonymous caller).`,
  });
}

export function stepNameReused(path: string, name: string): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.stepNameReused,
    message: `The step "${name}" ran twice in one call to "${path}". Give each step (and each transaction) of a resolver its own name, such as "charge" and "charge-fee".`,
  });
}

export function stepNameInvalid(path: string, reason: string): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.stepNameInvalid,
    message: `A step name in "${path}" is invalid: ${reason}. Use 1-100 characters, such as "charge".`,
  });
}

export function stepsUnsupported(path: string): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.stepsUnsupported,
    message: `"${path}" called ctx.idempotency.step, but the idempotency store has no readSteps/saveStep. Use redisStore or memoryStore, or implement both methods in your store.`,
  });
}

export function stepLockLost(path: string): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.stepLockLost,
    message: `Another call with this idempotency key took over "${path}" while this one ran (it stalled past the lock's TTL), so this one stopped. Retry with the same key to get the result.`,
  });
}

export function policyInvalid(path: string, problems: string): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.policyInvalid,
    message: `The idempotency meta of "${path}" is invalid, so the call was not run:\n${problems}\nFix the procedure's .meta({ idempotency }); idempotency.checkRouter(router) finds this at startup.`,
  });
}

export function fingerprintFailed(path: string, cause: unknown): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.fingerprintFailed,
    message: `The fingerprint selector of "${path}" threw on this input (${String(cause)}), so the call was not run. Send input of the shape the procedure expects.`,
    cause,
  });
}

export function forgetWhileRunning(lockTtlMs: number): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.forgetWhileRunning,
    message: `This call is still running (its lock has ${Math.round(lockTtlMs)} ms left, and is renewed while it runs), so nothing was forgotten. Wait for it to finish, or pass { force: true }: a retry may then run again while the first call is still running.`,
  });
}

export function adminNotSupported(method: string): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.adminNotSupported,
    message: `This idempotency store has no ${method}() (a custom store?). Implement inspect, forget and locks on it, as memoryStore and redisStore do.`,
  });
}

export function callRefInvalid(reason: string): TRPCError {
  return new TRPCError({
    code: IDEMPOTENCY_ERROR_CODES.callRefInvalid,
    message: `Invalid call reference: ${reason}. Pass { userId, path, key } as the caller sent them, or { id } as onEvent logged it.`,
  });
}

/** Thrown at creation time for a bad option: a programming error, not a request error. */
export class IdempotencyConfigError extends Error {
  override name = 'IdempotencyConfigError';
}

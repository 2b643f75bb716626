import type { Operation } from '@trpc/client';
import { sfString } from '../structured-field';
import { IDEMPOTENCY_HEADER } from './context';

/** Options of {@link idempotencyHeaders} and {@link idempotencyBatchHeaders}. */
export interface IdempotencyHeaderOptions {
  /** The header to send; match the server's `headerName` option. Default `'Idempotency-Key'`. */
  headerName?: string;
}

function keyOf(op: Operation): string | undefined {
  const key = op.context.idempotencyKey;
  if (key === undefined) return undefined;
  // An empty key would read as "no key" inside a batch list and run unprotected: refuse it here.
  if (typeof key !== 'string' || key === '') {
    throw new TypeError(`op.context.idempotencyKey must be a non-empty string (operation "${op.path}")`);
  }
  return key;
}

/**
 * One key as a header value. Plain, except a key that starts with `"`: the server reads that form
 * as quoted, so such a key goes out quoted and arrives unchanged.
 */
function encodeKey(key: string): string {
  return key.startsWith('"') ? sfString(key) : key;
}

/**
 * The idempotency header of one operation, for `httpLink({ headers: ({ op }) => idempotencyHeaders(op) })`.
 * Returns `{}` when the operation has no `context.idempotencyKey`, so it can be spread into other headers.
 * @see https://www.npmjs.com/package/trpc-idempotency#client
 */
export function idempotencyHeaders(op: Operation, options: IdempotencyHeaderOptions = {}): Record<string, string> {
  const key = keyOf(op);
  return key === undefined ? {} : { [options.headerName ?? IDEMPOTENCY_HEADER]: encodeKey(key) };
}

/**
 * The idempotency header of a batch, for
 * `httpBatchLink({ headers: ({ opList }) => idempotencyBatchHeaders(opList) })` (and `httpBatchStreamLink`).
 * A batch sends one set of headers, so a single key would make two batched mutations one:
 * - one operation with a key: the plain key, as {@link idempotencyHeaders} sends it;
 * - several operations, at least one with a key: an RFC 8941 list of sf-strings, one per operation
 *   in batch order, `""` for an operation without a key (`"k1", "", "k3"`); the server picks its own;
 * - no keys: `{}`.
 * @see https://www.npmjs.com/package/trpc-idempotency#client-exports
 */
export function idempotencyBatchHeaders(
  opList: readonly Operation[],
  options: IdempotencyHeaderOptions = {},
): Record<string, string> {
  const keys = opList.map(keyOf);
  if (!keys.some((key) => key !== undefined)) return {};
  const name = options.headerName ?? IDEMPOTENCY_HEADER;
  if (keys.length === 1) return { [name]: encodeKey(keys[0] as string) };
  return { [name]: keys.map((key) => sfString(key ?? '')).join(', ') };
}

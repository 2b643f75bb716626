import * as crypto from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { inputNotFingerprintable, keyInvalid } from './errors';
import { sortedPlainJson } from './plain-json';
import { parseSfStringList } from './structured-field';
import { defaultSuperJSON, type SuperJSONLike } from './superjson';

/** Request headers as tRPC adapters expose them: a fetch `Headers` or Node's `IncomingHttpHeaders`. */
export type HeadersLike = Headers | IncomingHttpHeaders | Record<string, string | string[] | undefined>;

/**
 * The context the default key reader understands: `ctx.headers` (what you put there in
 * `createContext`), or the raw request at `ctx.req.headers` (express / node-http contexts).
 */
export type IdempotencyContext = { headers: HeadersLike } | { req: { headers: HeadersLike } };

/** The longest key accepted, as in the IETF Idempotency-Key draft's guidance and Stripe's limit. */
export const MAX_KEY_LENGTH = 255;

function isFetchHeaders(headers: HeadersLike): headers is Headers {
  return typeof (headers as Headers).get === 'function';
}

function headerValue(headers: HeadersLike, name: string): string | string[] | undefined {
  if (isFetchHeaders(headers)) return headers.get(name) ?? undefined;
  const lower = name.toLowerCase();
  // Node lower-cases incoming names; a hand-built record may not, so fall back to a scan.
  if (lower in headers) return headers[lower];
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** Reads the raw header from `ctx.headers` or `ctx.req.headers`; undefined when neither has it. */
export function readKeyHeader(ctx: unknown, headerName: string): string | string[] | undefined {
  if (typeof ctx !== 'object' || ctx === null) return undefined;
  const c = ctx as {
    headers?: HeadersLike;
    req?: { headers?: HeadersLike; headersDistinct?: Record<string, string[] | undefined> };
  };
  // Node joins repeated header lines with ", ", which would read `"a"` + `"b"` as a batch list.
  const distinct = c.req?.headersDistinct?.[headerName.toLowerCase()];
  if (distinct && distinct.length > 1) return distinct;
  const headers = c.headers ?? c.req?.headers;
  return headers && typeof headers === 'object' ? headerValue(headers, headerName) : undefined;
}

const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/** A key as the request sent it: `listed` when it came from a batch's list of one key per call. */
export interface SentKey {
  key: string;
  listed: boolean;
}

/**
 * Validates what `getKey` returned, for the call at `batchIndex` of its HTTP request. Returns the
 * key (and whether it came from a batch's list), or undefined when none was sent; throws
 * BAD_REQUEST for anything malformed.
 */
export function parseKey(raw: unknown, headerName: string, batchIndex = 0): SentKey | undefined {
  if (raw === undefined || raw === null) return undefined;
  let value: unknown = raw;
  if (Array.isArray(value)) {
    if (value.length > 1) throw keyInvalid(headerName, 'it was sent more than once');
    value = value[0];
    if (value === undefined) return undefined;
  }
  if (typeof value !== 'string') throw keyInvalid(headerName, 'it is not a string');
  const items = value.startsWith('"') ? parseSfStringList(value) : [value];
  if (items === undefined) throw keyInvalid(headerName, 'it is a malformed quoted string');
  if (batchIndex > 0 && items.length === 1) {
    // One key for several calls of a batch would make the second a silent replay of the first.
    throw keyInvalid(
      headerName,
      'one key was sent for a batch of several calls; send one per call ("k1", "k2"), as idempotencyBatchHeaders does',
    );
  }
  // A list has one key per batched call, in batch order; "" marks a call sent without a key.
  const key = items.length > 1 ? items[batchIndex] : (items[0] ?? '');
  if (key === undefined) {
    throw keyInvalid(headerName, `it lists ${items.length} keys, but this is call ${batchIndex + 1} of the batch`);
  }
  if (key === '' && items.length > 1) return undefined;
  if (key.length === 0) throw keyInvalid(headerName, 'it is empty');
  if (key.length > MAX_KEY_LENGTH)
    throw keyInvalid(headerName, `it is ${key.length} characters long, over ${MAX_KEY_LENGTH}`);
  if (!VISIBLE_ASCII.test(key)) throw keyInvalid(headerName, 'it contains spaces, control or non-ASCII characters');
  return { key, listed: items.length > 1 };
}

/** A user id as `getUserId` may return it; null or undefined means anonymous. */
export type UserId = string | number | bigint | null | undefined;

/** Who a record belongs to: a user id, or an anonymous caller's session (see the `anonymous` option). */
export type CallerScope = UserId | { anonymous: string };

/** `crypto.hash` (Node 20.12+) is the one-shot form: a third of the cost of a Hash object. */
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64url') => string }).hash;

function hash(text: string): string {
  return oneShot ? oneShot('sha256', text, 'base64url') : crypto.createHash('sha256').update(text).digest('base64url');
}

/**
 * The record id for one (user, procedure, key). JSON-encoding the tuple before hashing keeps it
 * unambiguous: user `a:b` + key `c` and user `a` + key `b:c` are different tuples.
 */
export function scopeKey(userId: CallerScope, path: string, key: string): string {
  // A session is encoded as an object, so that it never matches a user id of the same text.
  const user = userId === null || userId === undefined ? null : typeof userId === 'object' ? userId : String(userId);
  return hash(JSON.stringify([user, path, key]));
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * A hash of the raw input, stable under object key order. superjson first, so that a Date and
 * its ISO string, or a BigInt and a number, fingerprint differently.
 */
export function fingerprint(rawInput: unknown, sj: SuperJSONLike = defaultSuperJSON): string {
  // What the general path below writes for a value superjson leaves as is, written directly.
  const plain = sortedPlainJson(rawInput, sj);
  if (plain !== undefined) return hash(`{"json":${plain}}`);
  let serialized: ReturnType<SuperJSONLike['serialize']>;
  try {
    serialized = sj.serialize(rawInput);
  } catch (cause) {
    // superjson guards against prototype pollution by throwing; that is bad input, not a crash.
    throw inputNotFingerprintable(cause);
  }
  return hash(canonical({ json: serialized.json, meta: serialized.meta }));
}

import type { TRPC_ERROR_CODE_KEY } from '@trpc/server';
import { TRPCError } from '@trpc/server';
import { type Cipher, isSealed, SealedTextError } from './encryption';
import { resultNotReplayable } from './errors';
import { isPlainJson } from './plain-json';
import { defaultSuperJSON, type SuperJSONLike } from './superjson';

/**
 * What is stored for a completed call.
 * - `ok`: `body` is the superjson-serialized result;
 * - `error`: `body` is `{ code, message }` of an error that `cacheErrors` chose to keep;
 * - `unreplayable`: the call succeeded but its result could not be stored; `body` says why.
 */
export interface StoredRecord {
  status: 'ok' | 'error' | 'unreplayable';
  /** Hash of the raw input of the call that made it (see `fingerprint`). */
  fingerprint: string;
  /** When it was made, in ms since the epoch. */
  createdAt: number;
  body: string;
}

/** What a call produced, in the shape of tRPC's `next()` result. */
export type CallOutcome = { ok: true; data: unknown } | { ok: false; error: TRPCError };

/** Version tag of the stored form; a record that does not start with it is not ours. */
const RECORD_VERSION = 'r1';
const STATUSES = new Set<StoredRecord['status']>(['ok', 'error', 'unreplayable']);

/**
 * The stored form: four header fields, one per line, then the body as is. The body is already
 * JSON (superjson's), so wrapping it in JSON again would escape it on every completion and parse
 * it on every replay read from Redis.
 */
export function encodeRecord(record: StoredRecord): string {
  return `${RECORD_VERSION}\n${record.status}\n${record.fingerprint}\n${record.createdAt}\n${record.body}`;
}

/** A stored record this library cannot read: not its format, or damaged in the store. */
export class RecordUnreadableError extends Error {
  override name = 'RecordUnreadableError';
}

/** Throws a {@link RecordUnreadableError} on text this library did not write (a foreign value under our prefix). */
export function decodeRecord(text: string): StoredRecord {
  const fields: string[] = [];
  let start = 0;
  for (let i = 0; i < 4; i++) {
    const end = text.indexOf('\n', start);
    if (end === -1) break;
    fields.push(text.slice(start, end));
    start = end + 1;
  }
  const [version, status, fingerprint, createdAt] = fields;
  if (version !== RECORD_VERSION || !STATUSES.has(status as StoredRecord['status']) || !fingerprint) {
    throw new RecordUnreadableError(`unrecognised idempotency record (it starts ${JSON.stringify(text.slice(0, 12))})`);
  }
  return {
    status: status as StoredRecord['status'],
    fingerprint,
    createdAt: Number(createdAt),
    body: text.slice(start),
  };
}

interface RecordOptions {
  fingerprint: string;
  maxResultBytes: number;
  cacheErrors: (error: TRPCError) => boolean;
  /** Default: superjson's default export. */
  superjson?: SuperJSONLike;
  /** With encryption on: the body is sealed for this record id before it leaves the process. */
  sealWith?: Sealing;
}

/** The cipher, and the record id a body is sealed for. */
export interface Sealing {
  cipher: Cipher;
  recordId: string;
}

/**
 * What a sealed body is bound to: its record id, status and fingerprint. A body moved to another
 * record (another user's), or a status or fingerprint changed beside it, then fails to open.
 */
const sealContext = (record: StoredRecord, recordId: string) => `${recordId}\n${record.status}\n${record.fingerprint}`;

function sealed(record: StoredRecord | null, sealing: Sealing | undefined): StoredRecord | null {
  if (!record || !sealing) return record;
  record.body = sealing.cipher.seal(record.body, sealContext(record, sealing.recordId));
  return record;
}

/**
 * The record with its body opened, when encryption is on. Throws {@link SealedTextError} for a
 * record that must not be replayed: tampered, sealed with an unknown key, written in clear while
 * encryption is on, or sealed while it is off.
 */
export function openRecord(record: StoredRecord, sealing: Sealing | undefined): StoredRecord {
  if (!sealing) {
    if (isSealed(record.body)) throw new SealedTextError('the record is encrypted, but no encryption keys are set');
    return record;
  }
  const body = sealing.cipher.open(record.body, sealContext(record, sealing.recordId));
  return { ...record, body };
}

/** Built as a literal: an object spread here cost more than the JSON it carries. */
function made(status: StoredRecord['status'], fingerprint: string, body: string): StoredRecord {
  return { status, fingerprint, createdAt: Date.now(), body };
}

const STREAMS =
  'it streams (a promise or an async iterable in it, sent over httpBatchStreamLink), and a stream cannot be stored';

/** A promise (any thenable) or an async iterable. */
const isStream = (v: unknown) =>
  typeof v === 'object' &&
  v !== null &&
  (typeof (v as PromiseLike<unknown>).then === 'function' || Symbol.asyncIterator in v);

/**
 * Whether tRPC streams this result: a promise or async iterable, itself or as a value of the object
 * (where tRPC looks). superjson would store it as `{}`, and every replay would get that.
 */
function streams(data: unknown): boolean {
  return isStream(data) || (typeof data === 'object' && data !== null && Object.values(data).some(isStream));
}

/** A `cacheErrors` hook that throws keeps nothing: the caller gets its error, and a retry runs again. */
function keeps(cacheErrors: (error: TRPCError) => boolean, error: TRPCError): boolean {
  try {
    return Boolean(cacheErrors(error));
  } catch {
    return false;
  }
}

/** Builds the record for a finished call (sealed, with encryption on), or null when nothing should be stored. */
export function recordFor(outcome: CallOutcome, options: RecordOptions): StoredRecord | null {
  return sealed(plainRecordFor(outcome, options), options.sealWith);
}

function plainRecordFor(outcome: CallOutcome, options: RecordOptions): StoredRecord | null {
  if (!outcome.ok) {
    if (!keeps(options.cacheErrors, outcome.error)) return null;
    const { code, message } = outcome.error;
    return made('error', options.fingerprint, JSON.stringify({ code, message }));
  }
  const sj = options.superjson ?? defaultSuperJSON;
  let body: string;
  try {
    // superjson writes a plain value as {"json": value}; JSON.stringify does that without its walker.
    if (isPlainJson(outcome.data, sj)) body = `{"json":${JSON.stringify(outcome.data)}}`;
    else if (streams(outcome.data)) return made('unreplayable', options.fingerprint, STREAMS);
    else body = sj.stringify(outcome.data);
  } catch (cause) {
    return made('unreplayable', options.fingerprint, `superjson could not serialize it: ${String(cause)}`);
  }
  // UTF-8 takes at most 3 bytes per UTF-16 unit: most bodies need no count.
  const bytes = body.length * 3 <= options.maxResultBytes ? body.length : Buffer.byteLength(body);
  if (bytes > options.maxResultBytes) {
    return made(
      'unreplayable',
      options.fingerprint,
      `it is ${bytes} bytes, over maxResultBytes (${options.maxResultBytes})`,
    );
  }
  return made('ok', options.fingerprint, body);
}

/** How records of `recordId` are sealed and opened with encryption on; undefined without it. */
export function recordSealing(cipher: Cipher | undefined, recordId: string): Sealing | undefined {
  return cipher && { cipher, recordId };
}

/** The `{ code, message }` of an error `cacheErrors` kept; a RecordUnreadableError when damaged. */
export function storedError(body: string): { code: TRPC_ERROR_CODE_KEY; message: string } {
  try {
    const { code, message } = JSON.parse(body) as { code: TRPC_ERROR_CODE_KEY; message: string };
    if (typeof code === 'string' && typeof message === 'string') return { code, message };
  } catch {
    // reported below
  }
  throw new RecordUnreadableError('the stored error is not a { code, message } object');
}

/**
 * Turns a stored record back into what the caller sees; every replay gets its own copy. Throws a
 * RecordUnreadableError on a damaged kept error.
 */
export function replay(record: StoredRecord, path: string, sj: SuperJSONLike = defaultSuperJSON): CallOutcome {
  switch (record.status) {
    case 'ok':
      try {
        return { ok: true, data: sj.parse(record.body) };
      } catch (cause) {
        // A custom type whose deserializer throws, or that is no longer registered where it was.
        return {
          ok: false,
          error: resultNotReplayable(path, `superjson could not parse the stored result: ${String(cause)}`),
        };
      }
    case 'error':
      return { ok: false, error: new TRPCError(storedError(record.body)) };
    case 'unreplayable':
      return { ok: false, error: resultNotReplayable(path, record.body) };
  }
}

import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { IdempotencyConfigError } from './errors';

/**
 * One AES-256 key: 32 bytes as a Buffer or Uint8Array, or as a base64 string
 * (`openssl rand -base64 32`). With `id`, that id is stored beside each record sealed with it;
 * without one, the id is derived from the key (a hash: it reveals nothing about the key).
 */
export type EncryptionKey = Uint8Array | string | { id: string; key: Uint8Array | string };

/** The `encryption` option of `createIdempotency`. */
export interface EncryptionOptions {
  /** The current key first (it seals every new record), then older ones still accepted for reading. */
  keys: readonly EncryptionKey[];
}

/** A sealed text failed to open: tampered with, truncated, or sealed with a key not in `keys`. */
export class SealedTextError extends Error {
  override name = 'SealedTextError';
}

/**
 * A string codec for values at rest: `seal` encrypts and authenticates (AES-256-GCM), `open`
 * checks and decrypts. `context` is authenticated but not stored: the same context must be given
 * to both, so a sealed value copied to another record (another user's, say) does not open there.
 */
export interface Cipher {
  seal(text: string, context?: string): string;
  /** Throws {@link SealedTextError} when the text was not sealed by one of the keys for `context`. */
  open(text: string, context?: string): string;
}

/** Marks a sealed text and its format: `e1.<key id>.<base64 of iv, ciphertext, tag>`. */
const SEALED_PREFIX = 'e1.';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** Whether a text is in the sealed format (it may still fail to open). */
export const isSealed = (text: string): boolean => text.startsWith(SEALED_PREFIX);

function keyBytes(key: unknown, which: string): Buffer {
  let bytes: Buffer | undefined;
  if (typeof key === 'string') {
    if (BASE64.test(key)) bytes = Buffer.from(key, key.includes('-') || key.includes('_') ? 'base64url' : 'base64');
  } else if (key instanceof Uint8Array) {
    bytes = Buffer.from(key);
  }
  if (!bytes || bytes.length !== KEY_BYTES) {
    throw new IdempotencyConfigError(
      `createIdempotency: encryption.keys[${which}] must be a 32-byte key: a Buffer or Uint8Array of 32 bytes, or its base64 (\`openssl rand -base64 32\`)${typeof key === 'string' ? ', not a passphrase' : ''}.`,
    );
  }
  return bytes;
}

/** The id of a key given without one: a hash of it, so that the same key always gets the same id. */
const derivedId = (bytes: Buffer) =>
  createHash('sha256').update('trpc-idempotency key id').update(bytes).digest('base64url').slice(0, 12);

/** Validates the keys (throws IdempotencyConfigError) and returns the codec that uses them. */
export function createCipher(options: EncryptionOptions): Cipher {
  const given = (options as Partial<EncryptionOptions> | null)?.keys;
  if (!Array.isArray(given) || given.length === 0) {
    throw new IdempotencyConfigError(
      'createIdempotency: encryption.keys must list at least one key: the current one first, then older ones to keep reading records they sealed.',
    );
  }
  const keys = new Map<string, Buffer>();
  given.forEach((entry: unknown, i) => {
    const explicit = typeof entry === 'object' && entry !== null && !(entry instanceof Uint8Array);
    const bytes = keyBytes(explicit ? (entry as { key: unknown }).key : entry, String(i));
    const id = explicit ? (entry as { id: unknown }).id : derivedId(bytes);
    if (typeof id !== 'string' || !KEY_ID.test(id)) {
      throw new IdempotencyConfigError(
        `createIdempotency: encryption.keys[${i}].id must be 1-64 letters, digits, _ or -; it is stored beside each record.`,
      );
    }
    if (keys.has(id)) {
      throw new IdempotencyConfigError(
        `createIdempotency: encryption.keys[${i}] has the id "${id}" of an earlier key; list each key once, with distinct ids.`,
      );
    }
    keys.set(id, bytes);
  });
  const [currentId, current] = [...keys][0] as [string, Buffer];

  return {
    seal(text, context = '') {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current, iv);
      cipher.setAAD(Buffer.from(context));
      const body = Buffer.concat([iv, cipher.update(text, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${SEALED_PREFIX}${currentId}.${body.toString('base64')}`;
    },
    open(text, context = '') {
      if (!isSealed(text)) throw new SealedTextError('the value is not sealed, but encryption is on');
      const dot = text.indexOf('.', SEALED_PREFIX.length);
      const id = text.slice(SEALED_PREFIX.length, dot);
      const key = dot === -1 ? undefined : keys.get(id);
      if (!key) throw new SealedTextError(`the value was sealed with key "${id}", which is not in encryption.keys`);
      const body = Buffer.from(text.slice(dot + 1), 'base64');
      if (body.length < IV_BYTES + TAG_BYTES) throw new SealedTextError('the sealed value is truncated');
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, body.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(context));
        decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
        return Buffer.concat([
          decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)),
          decipher.final(),
        ]).toString('utf8');
      } catch {
        throw new SealedTextError(`the value failed authentication with key "${id}" (tampered with, or moved)`);
      }
    },
  };
}

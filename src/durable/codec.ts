import { type Cipher, isSealed, SealedTextError } from '../encryption';
import type { SuperJSONLike } from '../superjson';

/** With encryption on: the cipher, and what a step value is bound to (its record id and step name). */
export interface StepSealing {
  cipher: Cipher;
  context: string;
}

/** A step value is bound to its record id and step name: copied under another, it does not open. */
export function stepSealing(cipher: Cipher | undefined, recordId: string, name: string): StepSealing | undefined {
  return cipher && { cipher, context: `${recordId}\n${name}` };
}

/**
 * How a step's result is stored (in Redis and in SQL): superjson text, sealed when encryption is on.
 * The one place where a string codec wraps step values: encode, then seal; open, then decode.
 */
export function encodeStepValue(value: unknown, sj: SuperJSONLike, sealing?: StepSealing): string {
  const text = sj.stringify(value);
  return sealing ? sealing.cipher.seal(text, sealing.context) : text;
}

/** The inverse of {@link encodeStepValue}; throws SealedTextError for a value that must not be used. */
export function decodeStepValue<T>(text: string, sj: SuperJSONLike, sealing?: StepSealing): T {
  if (!sealing && isSealed(text))
    throw new SealedTextError('the step value is encrypted, but no encryption keys are set');
  const plain = sealing ? sealing.cipher.open(text, sealing.context) : text;
  return sj.parse(plain) as T; // stored by this step name in this record id: the same T
}

/**
 * A step result in the store's step hash carries the fingerprint of the input that made it: a
 * failed attempt leaves its steps but no record, and a retry with another input under the same key
 * must get 422, not the other input's step results. (SQL records have a column of their own.)
 */
export function withFingerprint(fingerprint: string, text: string): string {
  return `${fingerprint}\n${text}`;
}

/** The inverse of {@link withFingerprint}. Fingerprints are hashes: they hold no newline. */
export function splitFingerprint(stored: string): { fingerprint: string; text: string } {
  const at = stored.indexOf('\n');
  return at === -1
    ? { fingerprint: '', text: stored }
    : { fingerprint: stored.slice(0, at), text: stored.slice(at + 1) };
}

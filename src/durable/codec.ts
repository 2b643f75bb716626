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

import type { SuperJSONLike } from '../superjson';

/**
 * How a step's result is stored (in Redis and in SQL): superjson text. The one place where a
 * string codec (encryption, say) wraps step values: encode, then seal; open, then decode.
 */
export function encodeStepValue(value: unknown, sj: SuperJSONLike): string {
  return sj.stringify(value);
}

/** The inverse of {@link encodeStepValue}. */
export function decodeStepValue<T>(text: string, sj: SuperJSONLike): T {
  return sj.parse(text) as T; // stored by this step name in this record id: the same T
}

export {
  idempotentMutationOptions,
  type KeyedVariables,
  type MutationOptionsForKey,
} from './keyed-mutation';
export { retryTransientFailures } from './retry-policy';
export { useIdempotencyKey } from './use-idempotency-key';
export { type IdempotentMutationResult, useIdempotentMutation } from './use-idempotent-mutation';

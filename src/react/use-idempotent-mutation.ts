import {
  type MutateOptions,
  type QueryClient,
  type UseMutationOptions,
  type UseMutationResult,
  useMutation,
} from '@tanstack/react-query';
import { useCallback } from 'react';
import { type KeyedVariables, keyedMutateOptions, keyedMutationOptions } from './keyed-mutation';
import { useKeyHolder } from './use-idempotency-key';

/** What {@link useIdempotentMutation} returns: React Query's result, plus the current action's key. */
export type IdempotentMutationResult<TData, TError, TVariables, TOnMutateResult> = UseMutationResult<
  TData,
  TError,
  TVariables,
  TOnMutateResult
> & {
  /** The key the next `mutate()` sends (`''` on the server and while hydrating). */
  idempotencyKey: string;
  /** Starts a new action now (a success does it by itself); pending calls keep their keys. */
  resetIdempotencyKey(): void;
};

/**
 * `useMutation` with one idempotency key per user action. `optionsFor` makes the options for a key:
 * `useIdempotentMutation((key) => trpc.createOrder.mutationOptions({ trpc: { context: { idempotencyKey: key } } }))`.
 * Every `mutate()` until a success sends the current key (a double click runs once); a success
 * starts a new action. Each call keeps the key it started with through React Query's `retry` and
 * every re-render, because the key is stored in the mutation's `variables` (see
 * {@link KeyedVariables}), not read from the newest options.
 * @see https://www.npmjs.com/package/trpc-idempotency#react
 */
export function useIdempotentMutation<TData = unknown, TError = Error, TVariables = void, TOnMutateResult = unknown>(
  optionsFor: (idempotencyKey: string) => UseMutationOptions<TData, TError, TVariables, TOnMutateResult>,
  queryClient?: QueryClient,
): IdempotentMutationResult<TData, TError, TVariables, TOnMutateResult> {
  const { holder, key } = useKeyHolder();
  const result = useMutation(keyedMutationOptions(optionsFor, key, holder.finish), queryClient);
  const { mutate: mutateKeyed, mutateAsync: mutateKeyedAsync } = result;
  // The key is read when the user acts, not when the component rendered.
  const mutate = useCallback(
    (input: TVariables, options?: MutateOptions<TData, TError, TVariables, TOnMutateResult>) =>
      mutateKeyed({ input, idempotencyKey: holder.get() }, keyedMutateOptions(options)),
    [mutateKeyed, holder],
  );
  const mutateAsync = useCallback(
    (input: TVariables, options?: MutateOptions<TData, TError, TVariables, TOnMutateResult>) =>
      mutateKeyedAsync({ input, idempotencyKey: holder.get() }, keyedMutateOptions(options)),
    [mutateKeyedAsync, holder],
  );
  const variables = (result.variables as KeyedVariables<TVariables> | undefined)?.input;
  // The same object React Query returns, with the caller's input where it keeps the keyed variables:
  // TypeScript cannot follow `variables` through its union of states, hence the cast.
  return {
    ...result,
    variables,
    mutate,
    mutateAsync,
    idempotencyKey: key,
    resetIdempotencyKey: holder.reset,
  } as unknown as IdempotentMutationResult<TData, TError, TVariables, TOnMutateResult>;
}

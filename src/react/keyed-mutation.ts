import type { MutateOptions, MutationOptions } from '@tanstack/react-query';
import { retryTransientFailures } from './retry-policy';

/**
 * What a keyed mutation stores as its `variables`: the caller's input and the key minted for the
 * action. The key lives in the mutation itself, not in the options React Query hands to it: a
 * pending mutation gets the newest options on every render, so a key read from them could change
 * under a retry; `variables` never changes, and is what `persistQueryClient` saves.
 */
export interface KeyedVariables<TVariables> {
  input: TVariables;
  idempotencyKey: string;
}

/** Makes the options of one action from its key, e.g. `(key) => trpc.x.mutationOptions({ trpc: { context: { idempotencyKey: key } } })`. */
export type MutationOptionsForKey<TData, TError, TVariables, TOnMutateResult> = (
  idempotencyKey: string,
) => MutationOptions<TData, TError, TVariables, TOnMutateResult>;

// The callbacks get their arguments through as they come; only `variables` is unwrapped. Typed
// loosely inside: their arity differs across React Query 5 minors.
type Loose = (...args: unknown[]) => unknown;

/** The same callback, called with `variables.input` at position `at` where React Query passes keyed variables. */
function withInput(callback: unknown, at: number): Loose | undefined {
  if (typeof callback !== 'function') return undefined;
  return (...args) => {
    const copy = [...args];
    copy[at] = (copy[at] as KeyedVariables<unknown> | undefined)?.input;
    return (callback as Loose)(...copy);
  };
}

/**
 * Options for React Query's keyed variables ({@link KeyedVariables}): each call runs the options
 * `optionsFor` makes for the call's own key, and its callbacks see the caller's input.
 * `staticKey` makes the options that are not per call (mutationKey, retry, scope, meta...); `retry`
 * defaults to {@link retryTransientFailures}.
 * `onKeySucceeded` hears which key succeeded (the hook starts a new action then).
 */
export function keyedMutationOptions<TData, TError, TVariables, TOnMutateResult>(
  optionsFor: MutationOptionsForKey<TData, TError, TVariables, TOnMutateResult>,
  staticKey: string,
  onKeySucceeded?: (idempotencyKey: string) => void,
): MutationOptions<TData, TError, KeyedVariables<TVariables>, TOnMutateResult> {
  const { mutationFn, onMutate, onSuccess, onError, onSettled, ...rest } = optionsFor(staticKey);
  type CallOptions = MutationOptions<TData, TError, TVariables, TOnMutateResult>;
  const fixed: CallOptions = { mutationFn, onMutate, onSuccess, onError, onSettled };
  // A call with another key gets options made for that key, once: React Query hands the same
  // variables to its mutationFn (each retry too) and to every callback.
  const made = new WeakMap<KeyedVariables<TVariables>, CallOptions>();
  const forCall = (variables: KeyedVariables<TVariables>): CallOptions => {
    if (variables.idempotencyKey === staticKey) return fixed;
    let options = made.get(variables);
    if (!options) {
      options = optionsFor(variables.idempotencyKey);
      made.set(variables, options);
    }
    return options;
  };
  return {
    ...rest,
    // Safe to retry a lost answer: the retry sends the same key.
    retry: rest.retry ?? retryTransientFailures,
    mutationFn: (variables, context) => {
      if (!isKeyed(variables)) return Promise.reject(notKeyed());
      const run = forCall(variables).mutationFn;
      if (!run) return Promise.reject(new Error('No mutationFn found: the options made for the key have none'));
      return run(variables.input, context);
    },
    onMutate: (variables, context) =>
      (isKeyed(variables)
        ? withInput(forCall(variables).onMutate, 0)?.(variables, context)
        : undefined) as TOnMutateResult,
    onSuccess: (...args) => {
      if (!isKeyed(args[1])) return;
      onKeySucceeded?.(args[1].idempotencyKey);
      return withInput(forCall(args[1]).onSuccess, 1)?.(...args);
    },
    onError: (...args) => (isKeyed(args[1]) ? withInput(forCall(args[1]).onError, 1)?.(...args) : undefined),
    onSettled: (...args) => (isKeyed(args[2]) ? withInput(forCall(args[2]).onSettled, 2)?.(...args) : undefined),
  };
}

/**
 * Keyed variables, as opposed to a caller's input. tRPC's `mutationOptions` calls the mutation
 * defaults' `onSuccess` (ours, under `setMutationDefaults`) with the plain input once its own is
 * done: that second call is not a call of ours, and is skipped.
 */
function isKeyed(variables: unknown): variables is KeyedVariables<never> {
  const keyed = variables as Partial<KeyedVariables<unknown>> | null | undefined;
  return typeof keyed === 'object' && keyed !== null && 'input' in keyed && typeof keyed.idempotencyKey === 'string';
}

const notKeyed = () =>
  new TypeError(
    'This mutation runs keyed options (useIdempotentMutation, idempotentMutationOptions): call it through useIdempotentMutation, or pass { input, idempotencyKey }.',
  );

/** The per-call callbacks of `mutate(input, { onSuccess... })`, for keyed variables. */
export function keyedMutateOptions<TData, TError, TVariables, TOnMutateResult>(
  options: MutateOptions<TData, TError, TVariables, TOnMutateResult> | undefined,
): MutateOptions<TData, TError, KeyedVariables<TVariables>, TOnMutateResult> | undefined {
  if (!options) return undefined;
  return {
    onSuccess: withInput(options.onSuccess, 1),
    onError: withInput(options.onError, 1),
    onSettled: withInput(options.onSettled, 2),
  };
}

/**
 * Options for `queryClient.setMutationDefaults(mutationKey, ...)`, so that a mutation
 * `persistQueryClient` restored after a reload resumes with the key it started with (it is in its
 * saved `variables`): `idempotentMutationOptions((key) => trpc.x.mutationOptions({ trpc: { context: { idempotencyKey: key } } }))`.
 * The options that are not per call (mutationKey, retry...) are made with `''` as the key.
 * @see https://www.npmjs.com/package/trpc-idempotency#react
 */
export function idempotentMutationOptions<TData, TError, TVariables, TOnMutateResult>(
  optionsFor: MutationOptionsForKey<TData, TError, TVariables, TOnMutateResult>,
): MutationOptions<TData, TError, KeyedVariables<TVariables>, TOnMutateResult> {
  return keyedMutationOptions(optionsFor, '');
}

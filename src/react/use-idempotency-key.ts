import { useState, useSyncExternalStore } from 'react';
import { createIdempotencyKeyHolder, type IdempotencyKeyHolder } from '../client/key-holder';

/** The server renders no key: keys are minted in the browser, after hydration. */
const serverKey = () => '';

/**
 * One holder per component, made once (StrictMode's second render reuses it), and its current key.
 * Nothing reads a key at import time or while rendering on the server.
 */
export function useKeyHolder(): { holder: IdempotencyKeyHolder; key: string } {
  const [holder] = useState(createIdempotencyKeyHolder);
  const key = useSyncExternalStore(holder.subscribe, holder.get, serverKey);
  return { holder, key };
}

/**
 * The key of the current user action: the same on every render until `reset()`, which mints a new
 * one. `''` while rendering on the server and while hydrating; the key is minted in the browser.
 * Pass it as `trpc: { context: { idempotencyKey: key } }` and call `reset()` in `onSuccess`; where
 * calls can overlap (a double click) and retry, prefer `useIdempotentMutation`, which pins each
 * call's key so that a `reset()` cannot reach a pending call's retry.
 * @see https://www.npmjs.com/package/trpc-idempotency#react
 */
export function useIdempotencyKey(): { key: string; reset(): void } {
  const { holder, key } = useKeyHolder();
  return { key, reset: holder.reset };
}

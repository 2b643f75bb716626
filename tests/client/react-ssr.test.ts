import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { afterEach, describe, expect, it, vi } from 'vitest';
// Imported in Node, where there is no window: code that touched one at import time would throw here.
import { useIdempotencyKey, useIdempotentMutation } from '../../src/react';

afterEach(() => {
  vi.restoreAllMocks();
});

function Checkout() {
  const { key } = useIdempotencyKey();
  const order = useIdempotentMutation((idempotencyKey) => ({
    mutationFn: async (input: { item: string }) => ({ orderId: `${idempotencyKey}:${input.item}` }),
  }));
  return createElement('p', null, `key=[${key}] next=[${order.idempotencyKey}] status=${order.status}`);
}

describe('trpc-idempotency/react on the server', () => {
  it('imports where there is no window, and renders without minting a key (the browser mints it)', () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined');
    const minted = vi.spyOn(globalThis.crypto, 'randomUUID');
    const html = renderToString(
      createElement(QueryClientProvider, { client: new QueryClient() }, createElement(Checkout)),
    );
    expect(html).toBe('<p>key=[] next=[] status=idle</p>');
    expect(minted).not.toHaveBeenCalled();
  });
});

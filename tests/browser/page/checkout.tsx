import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import { useIdempotencyKey, useIdempotentMutation } from '../../../src/react';
import { trpc } from './trpc';

/** Order ids as each call ends, shown as `order-1,order-1`. */
function useOrderLog() {
  const [orders, setOrders] = useState<string[]>([]);
  return { orders, log: (orderId: string) => setOrders((all) => [...all, orderId]) };
}

/** useIdempotentMutation: the key is pinned per call, so nothing can change it under a retry. */
export function Checkout({ slow = false }: { slow?: boolean }) {
  const { orders, log } = useOrderLog();
  const procedure = slow ? trpc.slowOrder : trpc.createOrder;
  const order = useIdempotentMutation((key) =>
    procedure.mutationOptions({
      trpc: { context: { idempotencyKey: key } },
      retry: 2,
      retryDelay: 1000, // after the re-render that a success's reset() causes, even on a busy machine
      onSuccess: (data) => log(data.orderId),
    }),
  );
  return (
    <main>
      <button id="order" type="button" onClick={() => order.mutate({ item: 'book' })}>
        Place order
      </button>
      <output id="orders">{orders.join(',')}</output>
      <output id="key">{order.idempotencyKey}</output>
    </main>
  );
}

/** The snippet: useIdempotencyKey, its key in tRPC's context, reset() on success. */
export function BareCheckout() {
  const { orders, log } = useOrderLog();
  const { key, reset } = useIdempotencyKey();
  const order = useMutation(
    trpc.createOrder.mutationOptions({
      trpc: { context: { idempotencyKey: key } },
      retry: 2,
      retryDelay: 1000, // after the re-render that a success's reset() causes, even on a busy machine
      onSuccess: (data) => {
        log(data.orderId);
        reset();
      },
    }),
  );
  return (
    <main>
      <button id="order" type="button" onClick={() => order.mutate({ item: 'book' })}>
        Place order
      </button>
      <output id="orders">{orders.join(',')}</output>
      <output id="key">{key}</output>
    </main>
  );
}

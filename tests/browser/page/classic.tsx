import { createTRPCReact, getMutationKey } from '@trpc/react-query';
import { useState } from 'react';
import { useIdempotentMutation } from '../../../src/react';
import type { ShopAppRouter } from '../shop';
import { client, queryClient } from './trpc';

const classic = createTRPCReact<ShopAppRouter>();

/** The docs' recipe for classic @trpc/react-query: the vanilla client under useIdempotentMutation. */
function ClassicCheckout() {
  const [orders, setOrders] = useState<string[]>([]);
  const utils = classic.useUtils();
  const order = useIdempotentMutation((key) => ({
    mutationKey: getMutationKey(classic.createOrder),
    mutationFn: (input: { item: string }) =>
      utils.client.createOrder.mutate(input, { context: { idempotencyKey: key } }),
    retry: 2,
    retryDelay: 1000, // after the re-render that a success's reset() causes, even on a busy machine
    onSuccess: (data: { orderId: string }) => setOrders((all) => [...all, data.orderId]),
  }));
  return (
    <main>
      <button id="order" type="button" onClick={() => order.mutate({ item: 'book' })}>
        Place order
      </button>
      <output id="orders">{orders.join(',')}</output>
    </main>
  );
}

export function Classic() {
  return (
    <classic.Provider client={client} queryClient={queryClient}>
      <ClassicCheckout />
    </classic.Provider>
  );
}

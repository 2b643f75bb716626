import { createSyncStoragePersister } from '@tanstack/query-sync-storage-persister';
import { onlineManager, useMutationState } from '@tanstack/react-query';
import { PersistQueryClientProvider } from '@tanstack/react-query-persist-client';
import { idempotentMutationOptions, useIdempotentMutation } from '../../../src/react';
import { type Order, queryClient, trpc } from './trpc';

const optionsFor = (key: string) =>
  trpc.createOrder.mutationOptions({ trpc: { context: { idempotencyKey: key } }, retry: 3, retryDelay: 500 });

// A mutation restored after a reload has no component: it finds its mutationFn here, by mutationKey.
queryClient.setMutationDefaults(trpc.createOrder.mutationKey(), idempotentMutationOptions(optionsFor));
const persister = createSyncStoragePersister({ storage: window.localStorage, throttleTime: 0 });

/** The test's switch for "the device went offline". */
(window as { goOffline?: () => void }).goOffline = () => onlineManager.setOnline(false);

function OfflineCheckout() {
  const order = useIdempotentMutation(optionsFor);
  // Every finished order, this page's or one resumed after a reload.
  const orders = useMutationState({
    filters: { mutationKey: trpc.createOrder.mutationKey(), status: 'success' },
    select: (mutation) => (mutation.state.data as Order).orderId,
  });
  return (
    <main>
      <button id="order" type="button" onClick={() => order.mutate({ item: 'map' })}>
        Place order
      </button>
      <output id="orders">{orders.join(',')}</output>
      <output id="paused">{String(order.isPaused)}</output>
    </main>
  );
}

export function Persisted() {
  return (
    <PersistQueryClientProvider
      client={queryClient}
      persistOptions={{ persister }}
      onSuccess={() => queryClient.resumePausedMutations()}
    >
      <OfflineCheckout />
    </PersistQueryClientProvider>
  );
}

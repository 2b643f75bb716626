import { createTRPCClient, httpLink } from '@trpc/client';
import { useState } from 'react';
import superjson from 'superjson';
import { idempotencyHeaders, idempotencyLink, idempotentReplayLink } from '../../../src/client';
import { useIdempotencyKey } from '../../../src/react';
import type { ShopAppRouter } from '../shop';

/** A page that calls the shop on another origin (`?api=`), and says which answers were replays. */
export function CrossOrigin({ api }: { api: string }) {
  const [log, setLog] = useState<string[]>([]);
  const [client] = useState(() =>
    createTRPCClient<ShopAppRouter>({
      links: [
        idempotencyLink(),
        idempotentReplayLink({ onReplay: () => setLog((all) => [...all, 'replayed']) }),
        httpLink({ url: api, transformer: superjson, headers: ({ op }) => idempotencyHeaders(op) }),
      ],
    }),
  );
  const { key } = useIdempotencyKey();
  const order = async () => {
    const { orderId } = await client.createOrder.mutate({ item: 'pen' }, { context: { idempotencyKey: key } });
    setLog((all) => [...all, orderId]);
  };
  return (
    <main>
      <button id="order" type="button" onClick={order}>
        Place order
      </button>
      <output id="log">{log.join(',')}</output>
    </main>
  );
}

import { client } from './client-quickstart';

// React Query calls mutationFn again on each retry, with the same variables. A key minted inside
// mutationFn (or by idempotencyLink, per attempt) would change every time; one in the variables does not.
type CreateOrderVariables = { sku: string; idempotencyKey: string };

export const createOrderMutation = {
  mutationFn: ({ idempotencyKey, ...input }: CreateOrderVariables) =>
    client.createOrder.mutate(input, { context: { idempotencyKey } }),
  retry: 3,
};

// In a component:
//   const createOrder = useMutation(createOrderMutation);
//   createOrder.mutate({ sku: 'book', idempotencyKey: crypto.randomUUID() }); // one key per submit

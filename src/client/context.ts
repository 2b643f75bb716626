/**
 * Types the key the links carry, as `op.context.idempotencyKey` in a link. A caller sets it with
 * `client.x.mutate(input, { context: { idempotencyKey } })`; tRPC types that call-site context
 * loosely (`Record<string, unknown>`), so there it is accepted but not checked.
 */
declare module '@trpc/client' {
  interface OperationContext {
    /**
     * The operation's idempotency key. Set it to fix the key yourself (e.g. one stored with a form);
     * otherwise `idempotencyLink` generates one for every mutation.
     */
    idempotencyKey?: string;
  }
}

/** The request header the server reads by default (its `headerName` option). */
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

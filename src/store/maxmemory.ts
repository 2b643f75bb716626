import type { Cluster, Redis } from 'ioredis';

/** Where redisStore reports a risky server setting; default `process.emitWarning`. */
export type WarningHandler = (warning: Error) => void;

/** The one maxmemory policy under which Redis never evicts a key: a full Redis refuses writes. */
const SAFE_POLICY = 'noeviction';

/** Raised (not thrown) when a Redis that holds locks or records may evict them. */
export class EvictionPolicyWarning extends Error {
  override name = 'EvictionPolicyWarning';
  readonly code = 'TRPC_IDEMPOTENCY_EVICTION';
}

function where(client: Redis | Cluster): string {
  const options = (client as Redis).options as { host?: string; port?: number; name?: string; sentinels?: unknown };
  if ((client as Cluster).isCluster) return 'the Redis Cluster';
  if (options?.sentinels) return `the Sentinel master "${options.name ?? ''}"`;
  return `Redis at ${options?.host ?? '?'}:${options?.port ?? '?'}`;
}

/**
 * Once the client is ready, reads `maxmemory-policy` (one CONFIG GET, off the request path) and
 * warns when Redis may evict keys: an evicted lock lets a duplicate run the mutation again, and an
 * evicted record lets a retry run it again. A server that refuses CONFIG (managed Redis, ACLs)
 * is left alone: the check is advice, not a precondition.
 */
export function checkEvictionPolicy(client: Redis | Cluster, warn: WarningHandler): Promise<void> {
  return new Promise<void>((resolve) => {
    const check = () => {
      client
        .config('GET', 'maxmemory*')
        .then((reply: unknown) => {
          const pairs = reply as string[];
          const value = (name: string) => pairs[pairs.indexOf(name) + 1];
          const policy = value('maxmemory-policy');
          if (policy && policy !== SAFE_POLICY) {
            warn(
              new EvictionPolicyWarning(
                `redisStore: ${where(client)} has maxmemory-policy ${policy} (maxmemory ${value('maxmemory') ?? '?'} bytes). ` +
                  'Under memory pressure it may evict a lock while its mutation runs, or a stored result before its TTL, and a ' +
                  'retry then runs the mutation twice. Set maxmemory-policy noeviction (a full Redis then fails calls closed with ' +
                  'SERVICE_UNAVAILABLE), or give the idempotency store (or its locks, via lockClients) a Redis of its own with noeviction.',
              ),
            );
          }
        })
        .catch(() => {})
        .finally(resolve);
    };
    if (client.status === 'ready') check();
    else client.once('ready', check);
  });
}

/** The default: Node's own channel for process warnings (`process.on('warning')`, `--no-warnings`). */
export const emitProcessWarning: WarningHandler = (warning) => process.emitWarning(warning);

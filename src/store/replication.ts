import type { Cluster, Redis } from 'ioredis';
import { IdempotencyConfigError } from '../errors';
import { bounded, StoreUnavailableError } from './bounded';
import { isNoScript, type LuaScript } from './scripts';

/** The `replicas` option of redisStore: how many replicas must acknowledge a write, and how long to wait. */
export interface ReplicaAcknowledgement {
  count: number;
  timeoutMs: number;
}

/**
 * The record was stored on the master, but fewer replicas than asked acknowledged it in time: a
 * failover now could lose it, and a retry would then run the mutation again. The middleware reports
 * it (`not-replicated`) and returns the result: the resolver has run.
 */
export class NotReplicatedError extends Error {
  override name = 'NotReplicatedError';
}

/** One of our scripts, then WAIT for its write to reach the replicas: one round trip. */
export interface ReplicatedReply {
  reply: unknown;
  /** How many replicas acknowledged the write (WAIT's answer). */
  acknowledged: number;
}

/**
 * Sends EVALSHA and WAIT in one pipeline: WAIT covers every earlier write of this connection, so it
 * must follow the script on the same one, and pipelining it costs replication time, not a round
 * trip. Unbatched (a WAIT blocks the connection until it answers, so fewer, larger waits would not
 * help the calls behind them). Bounded by `ms` in all.
 */
export async function runReplicated(
  redis: Redis,
  lua: LuaScript,
  keys: string[],
  args: (string | number)[],
  replicas: ReplicaAcknowledgement,
  ms: number,
): Promise<ReplicatedReply> {
  const send = (withSource: boolean) => {
    const pipeline = redis.pipeline();
    if (withSource) pipeline.eval(lua.source, keys.length, ...keys, ...args);
    else pipeline.evalsha(lua.sha, keys.length, ...keys, ...args);
    pipeline.wait(replicas.count, replicas.timeoutMs);
    return pipeline.exec();
  };
  const startedAt = performance.now();
  let replies = await bounded(send(false), ms, `${lua.name} + WAIT`);
  if (isNoScript(replies?.[0]?.[0])) {
    // A server that has not seen the script (new, restarted, or just promoted): once more, with its source.
    replies = await bounded(send(true), ms - (performance.now() - startedAt), `${lua.name} + WAIT`);
  }
  const [[scriptError, reply] = [], [waitError, acknowledged] = []] = replies ?? [];
  if (scriptError) throw scriptError;
  if (waitError) throw new StoreUnavailableError(`WAIT after ${lua.name} failed: ${String(waitError)}`);
  return { reply, acknowledged: Number(acknowledged) };
}

/** The `replicas` option with its default, or a config error where WAIT cannot cover the lock. */
export function acknowledgement(
  given: { count: number; timeoutMs?: number | undefined },
  commandTimeoutMs: number,
  fused: boolean,
  redis: Redis | Cluster,
): ReplicaAcknowledgement {
  const fail = (message: string): never => {
    throw new IdempotencyConfigError(`redisStore: replicas ${message}`);
  };
  if ((redis as Cluster).isCluster) fail('is for a single Redis (or one behind Sentinel), not a Cluster');
  if (!fused) fail('cannot cover a Redlock quorum (lockClients): each master would need its own replicas');
  const timeoutMs = given.timeoutMs ?? Math.max(1, Math.floor(commandTimeoutMs / 2));
  if (timeoutMs >= commandTimeoutMs) {
    fail(
      `.timeoutMs (${timeoutMs}) must be shorter than commandTimeoutMs (${commandTimeoutMs}), or no WAIT could answer in time`,
    );
  }
  return { count: given.count, timeoutMs };
}

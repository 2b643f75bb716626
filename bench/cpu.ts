import type { RedisProbe } from './redis-stats';
import { median } from './stats';

/**
 * CPU time per call: steadier than throughput on shared cores, because a slow spell of the machine
 * stretches the wall clock but not the CPU a call needs. Reusable by any bench that compares
 * variants (a feature on and off): give it the call to make and, where there is one, the probe of
 * the variant's private redis-server.
 */
export interface CpuPerCall {
  /** This process's CPU (user + system, all its threads: GC included) per call, in µs. */
  nodeMicros: number;
  /** The kernel's share of `nodeMicros`: on loopback, a socket write also runs Redis's side of TCP. */
  systemMicros: number;
  /** The private redis-server's CPU per call (`INFO cpu`), in µs; undefined without a probe. */
  redisMicros: number | undefined;
  calls: number;
}

interface CpuOptions {
  /** Calls per measurement. Default 1000. */
  calls?: number;
  /** Calls in flight at once. Default 32, as in the throughput trials. */
  concurrency?: number;
  /** The variant's own redis-server, for its CPU. */
  probe?: RedisProbe;
}

const gc = (globalThis as { gc?: () => void }).gc;

/**
 * Makes `calls` calls of `call(i)`, `concurrency` at a time, and divides the CPU they took. Starts
 * on a collected heap (under `--expose-gc`), so that no garbage of an earlier phase is billed here.
 */
export async function cpuPerCall(call: (i: number) => Promise<unknown>, options: CpuOptions = {}): Promise<CpuPerCall> {
  const { calls = 1000, concurrency = 32, probe } = options;
  gc?.();
  const redisBefore = await probe?.cpuMicros();
  const before = process.cpuUsage();
  let next = 0;
  const worker = async () => {
    while (next < calls) await call(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, calls) }, worker));
  const used = process.cpuUsage(before);
  const redisAfter = await probe?.cpuMicros();
  return {
    nodeMicros: (used.user + used.system) / calls,
    systemMicros: used.system / calls,
    redisMicros: redisBefore === undefined || redisAfter === undefined ? undefined : (redisAfter - redisBefore) / calls,
    calls,
  };
}

/** The median of several measurements, per field: the rounds a bench interleaves across variants. */
export function medianCpu(samples: CpuPerCall[]): CpuPerCall {
  const redis = samples.map((s) => s.redisMicros).filter((v): v is number => v !== undefined);
  return {
    nodeMicros: median(samples.map((s) => s.nodeMicros)),
    systemMicros: median(samples.map((s) => s.systemMicros)),
    redisMicros: redis.length ? median(redis) : undefined,
    calls: samples.reduce((n, s) => n + s.calls, 0),
  };
}

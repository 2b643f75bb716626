import { startRedis } from '../tests/helpers/redis-server';
import { makeBenchApp } from './app';
import type { BenchMiddleware, Contender } from './contenders';
import { type CpuPerCall, cpuPerCall, medianCpu } from './cpu';
import { RedisProbe } from './redis-stats';

/**
 * What a feature costs: variants of ours (the feature off first, then on) measured side by side in
 * one run, each on a redis-server of its own, as CPU and round trips per call and as ratios against
 * the first variant. A feature's bench (`bench/<feature>.ts`) builds its variants with `ours(...)`
 * and is one call in bench/main.ts: `features.push(await compareVariants('…', [...]))`.
 */
export interface FeatureCost {
  feature: string;
  variants: VariantCost[];
}

interface VariantCost {
  label: string;
  cpu: { first: CpuPerCall; replay: CpuPerCall };
  /** Node CPU per call ÷ the first variant's. */
  ratio: { first: number; replay: number };
  /** Per sequential call, from the variant's Redis (reads: one per round trip). */
  roundTrips: { first: number; replay: number };
  commands: { first: number; replay: number };
}

/** Makes one call with a given key; built once per variant from its middleware. */
export type CallFactory = (middleware: BenchMiddleware | undefined) => (key: string) => Promise<unknown>;

/** The bench's trivial mutation, as every contender runs it. */
const createOrder: CallFactory = (middleware) => {
  const app = makeBenchApp(middleware);
  return (key) => app.caller(key).create({ sku: 'sku-1' });
};

const scale = Number(process.env.BENCH_SCALE ?? 1);
const ROUNDS = 5;
const CALLS = Math.max(300, Math.round((1500 * scale) / 100) * 100);
const SEQUENTIAL = 100;

export async function compareVariants(
  feature: string,
  variants: Contender[],
  call: CallFactory = createOrder,
): Promise<FeatureCost> {
  const runId = Date.now().toString(36);
  const setups = [];
  for (const variant of variants) {
    const redis = await startRedis();
    const probe = new RedisProbe(redis.url);
    const instance = await variant.create(redis.url);
    const run = call(instance.middleware);
    const key = (phase: string, i: number) => `${runId}-${variant.id}-${phase}-${i}`;
    // Warm-up, and the keys the replays read: stored, then replayed once (cached where ours caches).
    for (let pass = 0; pass < 2; pass++) for (let i = 0; i < 200; i++) await run(key('replay', i));
    const sequential = async (phase: string) => {
      const before = await probe.snapshot();
      for (let i = 0; i < SEQUENTIAL; i++) await run(key(phase, i % 200));
      const d = await probe.since(before);
      return { roundTrips: d.roundTrips / SEQUENTIAL, commands: d.commands / SEQUENTIAL };
    };
    const [first, replay] = [await sequential('seq'), await sequential('replay')];
    setups.push({
      variant,
      redis,
      probe,
      instance,
      run,
      key,
      first,
      replay,
      cpu: { first: [] as CpuPerCall[], replay: [] as CpuPerCall[] },
    });
  }
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Interleaved, in an order that rotates, so that a slow spell falls on every variant alike.
      for (let j = 0; j < setups.length; j++) {
        const s = setups[(j + round) % setups.length]!;
        const options = { calls: CALLS, probe: s.probe };
        s.cpu.first.push(await cpuPerCall((i) => s.run(s.key(`cpu${round}`, i)), options));
        s.cpu.replay.push(await cpuPerCall((i) => s.run(s.key('replay', i % 200)), options));
      }
    }
    const costs = setups.map((s) => ({
      label: s.variant.label,
      cpu: { first: medianCpu(s.cpu.first), replay: medianCpu(s.cpu.replay) },
      roundTrips: { first: s.first.roundTrips, replay: s.replay.roundTrips },
      commands: { first: s.first.commands, replay: s.replay.commands },
    }));
    const base = costs[0]!.cpu;
    return {
      feature,
      variants: costs.map((c) => ({
        ...c,
        ratio: {
          first: c.cpu.first.nodeMicros / base.first.nodeMicros,
          replay: c.cpu.replay.nodeMicros / base.replay.nodeMicros,
        },
      })),
    };
  } finally {
    for (const s of setups) {
      await s.instance.close();
      await s.probe.close();
      await s.redis.stop();
    }
  }
}

import { Redis } from 'ioredis';
import { type Completion, makeBenchApp, sleep } from './app';
import type { Contender, Instance } from './contenders';
import { type CpuPerCall, cpuPerCall } from './cpu';
import { startChild } from './cross-process';
import type { Delta, RedisProbe } from './redis-stats';
import { slowLink } from './slow-link';
import { type Distribution, max, median } from './stats';

/** Sizes of every phase; `BENCH_SCALE=0.3` shrinks them for a quick look. */
const scale = Number(process.env.BENCH_SCALE ?? 1);
export const PLAN = {
  memoryRecords: 100,
  costCalls: 200,
  latencyCalls: Math.max(100, Math.round((1000 * scale) / 5) * 5),
  throughputMs: Math.max(200, Math.round(400 * scale)),
  concurrency: 32,
  duplicates: 50,
  slowMs: 150,
  wakeRounds: Math.max(2, Math.round(8 * scale)),
  /** Latency blocks and throughput trials, interleaved across contenders. */
  blocks: 5,
  trials: 15,
  /** CPU per call: rounds interleaved across contenders, each of `cpuCalls` calls at `concurrency`. */
  cpuRounds: 7,
  cpuCalls: Math.max(500, Math.round((2000 * scale) / 100) * 100),
  /** The slow link: its round trip, and the sequential calls timed through it per kind. */
  linkDelayMs: 5,
  linkCalls: 21,
};

export interface WakeResult {
  /** Waiter completion minus the holder's finish, in ms. */
  medianMs: number;
  maxMs: number;
  waiters: number;
  /** Resolver runs per round (1 is right for a shared store). */
  executionsPerRound: number;
  errorsPerRound: number;
}

export interface ContenderResult {
  id: string;
  label: string;
  /** `replay` is each key's first replay in this process; `again`, its second. */
  cost?: { first: Cost; replay: Cost; again: Cost };
  /** Round trips the caller waited for (p50 through the slow link ÷ its delay), per kind of call. */
  callerPath?: { delayMs: number; first: number; replay: number; again: number };
  memory?: { keysPerRecord: number; bytesPerRecord: number };
  latency: { first: Distribution; replay: Distribution };
  /** Median over the CPU rounds, per call, at concurrency PLAN.concurrency. */
  cpu?: { first: CpuPerCall; replay: CpuPerCall; rounds: { first: CpuPerCall[]; replay: CpuPerCall[] } };
  throughput: { unique: number; replay: number; errors: number; trials: { unique: number[]; replay: number[] } };
  duplicates?: { one: number; fifty: number; executions: number };
  wakeInProcess: WakeResult;
  wakeCrossProcess?: WakeResult;
  leak: { inFlight: number | undefined; afterCrossProcess?: Leftover };
}

/** What the two server processes and their Redis still hold once the cross-process rounds are over. */
export interface Leftover {
  /** The contender's in-flight count in each server process (null where it does not say). */
  inFlight: (number | null)[];
  /** Pub/sub channels still subscribed on the contender's Redis (none where it uses no Redis). */
  channels?: number;
}

/** Per call, over `calls` sequential calls. */
type Cost = Delta & { calls: number };

/** One contender set up for measuring: its app, its Redis probe, and what was measured so far. */
export interface Subject {
  contender: Contender;
  instance: Instance;
  probe: RedisProbe | undefined;
  app: ReturnType<typeof makeBenchApp>;
  key: (phase: string, i: number) => string;
  result: Partial<ContenderResult> & { id: string; label: string };
}

export function subject(
  contender: Contender,
  instance: Instance,
  probe: RedisProbe | undefined,
  runId: string,
): Subject {
  return {
    contender,
    instance,
    probe,
    app: makeBenchApp(instance.middleware),
    key: (phase, i) => `${runId}-${contender.id}-${phase}-${i}`,
    result: { id: contender.id, label: contender.label },
  };
}

const create = (s: Subject, k: string) => s.app.caller(k).create({ sku: 'sku-1' });

/** Memory per record (on the still-empty Redis), then commands, round trips and Redis CPU per call. */
export async function measureCost(s: Subject): Promise<void> {
  const { probe, key, result } = s;
  if (probe) {
    for (let i = 0; i < PLAN.memoryRecords; i++) await create(s, key('mem', i));
    const { keys, bytes } = await probe.memory();
    result.memory = { keysPerRecord: keys / PLAN.memoryRecords, bytesPerRecord: bytes / PLAN.memoryRecords };
  }
  // Warm-up: scripts loaded, JIT warm.
  for (let i = 0; i < 100; i++) await create(s, key('mem', i % PLAN.memoryRecords));
  if (!probe) return;
  const per = (d: Delta, calls: number): Cost => ({
    ...d,
    calls,
    commands: d.commands / calls,
    roundTrips: d.roundTrips / calls,
    cpuMicros: d.cpuMicros / calls,
  });
  let before = await probe.snapshot();
  for (let i = 0; i < PLAN.costCalls; i++) await create(s, key('cost', i));
  const first = per(await probe.since(before), PLAN.costCalls);
  before = await probe.snapshot();
  for (let i = 0; i < PLAN.costCalls; i++) await create(s, key('cost', i));
  const replay = per(await probe.since(before), PLAN.costCalls);
  before = await probe.snapshot();
  for (let i = 0; i < PLAN.costCalls; i++) await create(s, key('cost', i));
  result.cost = { first, replay, again: per(await probe.since(before), PLAN.costCalls) };
}

/**
 * Round trips on the caller's path, which loopback hides: a second instance of the contender talks
 * to its Redis through a link that holds every reply back for PLAN.linkDelayMs, and the median
 * latency of sequential calls, divided by the median of a bare PING through the same link (the
 * delay as this machine's timers keep it), counts the round trips each call waited for.
 */
export async function measureCallerPath(s: Subject, redisUrl: string): Promise<void> {
  if (!s.contender.redis) return;
  const link = await slowLink(redisUrl, PLAN.linkDelayMs);
  const instance = await s.contender.create(link.url);
  const ping = new Redis(link.url, { maxRetriesPerRequest: 1 });
  const app = makeBenchApp(instance.middleware);
  const timed = async (run: () => Promise<unknown>) => {
    const start = performance.now();
    await run();
    return performance.now() - start;
  };
  const pass = async (run: (i: number) => Promise<unknown>) => {
    const times: number[] = [];
    for (let i = 0; i < PLAN.linkCalls; i++) times.push(await timed(() => run(i)));
    return median(times);
  };
  try {
    const call = (i: number) => app.caller(s.key('link', i)).create({ sku: 'sku-1' });
    for (let i = 0; i < 5; i++) await call(-1 - i); // scripts loaded, connections open, code warm
    const roundTrip = await pass(() => ping.ping());
    // The same keys three times: first calls, their first replays, and their second.
    const first = (await pass(call)) / roundTrip;
    const replay = (await pass(call)) / roundTrip;
    s.result.callerPath = { delayMs: PLAN.linkDelayMs, first, replay, again: (await pass(call)) / roundTrip };
  } finally {
    ping.disconnect();
    await instance.close();
    await link.close();
  }
}

/** Commands for one call versus 50 concurrent in-process duplicates of one key. */
export async function measureDuplicates(s: Subject): Promise<void> {
  const { probe, key, app } = s;
  if (!probe) return;
  let before = await probe.snapshot();
  await app.caller(key('dup1', 0)).slow({ ms: 30 });
  const one = (await probe.since(before)).commands;
  const runs = app.log.executions;
  before = await probe.snapshot();
  await Promise.allSettled(Array.from({ length: PLAN.duplicates }, () => app.caller(key('dup50', 0)).slow({ ms: 30 })));
  s.result.duplicates = { one, fifty: (await probe.since(before)).commands, executions: app.log.executions - runs };
}

/**
 * Sequential latency through createCaller, in blocks that the caller interleaves across
 * contenders, so that background load on the machine falls on all of them alike.
 */
export async function latencyBlock(s: Subject, block: number, samples: number[]): Promise<void> {
  const size = PLAN.latencyCalls / PLAN.blocks;
  for (let i = block * size; i < (block + 1) * size; i++) {
    const start = performance.now();
    await create(s, s.key('lat', i));
    samples.push(performance.now() - start);
  }
}

/**
 * One round of CPU per call: `PLAN.cpuCalls` first calls on fresh keys, then as many replays of
 * the latency keys (stored and replayed once already), Node's and the contender's Redis's.
 */
export async function cpuRound(s: Subject, round: number, into: { first: CpuPerCall[]; replay: CpuPerCall[] }) {
  const options = { calls: PLAN.cpuCalls, concurrency: PLAN.concurrency, probe: s.probe };
  into.first.push(await cpuPerCall((i) => create(s, s.key(`cpu${round}`, i)), options));
  into.replay.push(await cpuPerCall((i) => create(s, s.key('lat', i % PLAN.latencyCalls)), options));
}

/** Calls per second at a fixed concurrency for `ms`: unique keys, or replays of the latency keys. */
export async function throughputTrial(
  s: Subject,
  kind: 'unique' | 'replay',
  trial: number,
): Promise<{ rate: number; errors: number }> {
  let next = 0;
  let done = 0;
  let errors = 0;
  const keyFor = (i: number) => (kind === 'unique' ? s.key(`tput${trial}`, i) : s.key('lat', i % PLAN.latencyCalls));
  const start = performance.now();
  const end = start + PLAN.throughputMs;
  const worker = async () => {
    while (performance.now() < end) {
      await create(s, keyFor(next++)).catch(() => errors++);
      done++;
    }
  };
  await Promise.all(Array.from({ length: PLAN.concurrency }, worker));
  return { rate: done / ((performance.now() - start) / 1000), errors };
}

/** Wake latency in this process: 50 duplicates of a resolver that sleeps 150 ms. */
export async function measureWakeInProcess(s: Subject): Promise<void> {
  const { app, key } = s;
  const rounds: Parameters<typeof wake>[0] = [];
  for (let round = 0; round < PLAN.wakeRounds; round++) {
    const k = key('wake', round);
    app.log.completions = [];
    app.log.finishedAt = {};
    await Promise.allSettled(Array.from({ length: PLAN.duplicates }, () => app.caller(k).slow({ ms: PLAN.slowMs })));
    rounds.push({ completions: app.log.completions, finishedAt: app.log.finishedAt[k] });
  }
  s.result.wakeInProcess = wake(rounds);
}

/** Waiters are the calls that did not run the resolver and succeeded; errors are counted apart. */
function wake(
  rounds: { completions: Completion[]; finishedAt: number | undefined; remoteOnly?: (c: Completion) => boolean }[],
): WakeResult {
  const delays: number[] = [];
  let executions = 0;
  let errors = 0;
  for (const { completions, finishedAt, remoteOnly } of rounds) {
    executions += completions.filter((x) => x.ran).length;
    errors += completions.filter((x) => !x.ok).length;
    if (finishedAt === undefined) continue;
    for (const x of completions) {
      if (x.ran || !x.ok || (remoteOnly && !remoteOnly(x))) continue;
      delays.push(x.at - finishedAt);
    }
  }
  return {
    medianMs: median(delays),
    maxMs: max(delays),
    waiters: delays.length,
    executionsPerRound: executions / rounds.length,
    errorsPerRound: errors / rounds.length,
  };
}

/**
 * The same 50 duplicates over HTTP, alternating between two server processes. The waiters that
 * count are in the process that did not run the resolver: they were woken through the store.
 * Then what both processes and their Redis still hold, for the leak check.
 */
export async function measureCrossProcess(
  c: Contender,
  redisUrl: string,
  runId: string,
): Promise<{ wake: WakeResult; leftover: Leftover }> {
  const servers = await Promise.all([startChild(c.id, redisUrl), startChild(c.id, redisUrl)]);
  try {
    const rounds: Parameters<typeof wake>[0] = [];
    for (let round = -1; round < PLAN.wakeRounds; round++) {
      await Promise.all(servers.map((s) => s.reset()));
      const k = `${runId}-${c.id}-xwake-${round}`;
      await Promise.allSettled(
        Array.from({ length: PLAN.duplicates }, (_, i) => servers[i % 2]!.post('slow', { ms: PLAN.slowMs }, k)),
      );
      if (round < 0) continue; // the first round only opens connections and warms both processes
      const logs = await Promise.all(servers.map((s) => s.log()));
      const ran = logs.map((l) => l.completions.some((x) => x.ran));
      const finishes = logs.map((l) => l.finishedAt[k]).filter((f): f is number => f !== undefined);
      const completions = logs.flatMap((l, i) => l.completions.map((x) => ({ ...x, server: i })));
      rounds.push({
        completions,
        finishedAt: finishes.length ? Math.max(...finishes) : undefined,
        remoteOnly: (x) => !ran[(x as Completion & { server: number }).server],
      });
    }
    await sleep(50); // a store may drop idle subscriptions a moment after their last waiter left
    return {
      wake: wake(rounds),
      leftover: {
        inFlight: await Promise.all(servers.map((s) => s.inFlight())),
        channels: c.redis ? await channels(redisUrl) : undefined,
      },
    };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

/** Pub/sub channels that some connection is still subscribed to, over a connection of its own. */
async function channels(redisUrl: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    return ((await redis.call('PUBSUB', 'CHANNELS')) as string[]).length;
  } finally {
    redis.disconnect();
  }
}

/**
 * The benchmark (npm run bench): every contender as a tRPC middleware around the same trivial mutation, each
 * on a fresh redis-server of its own (never the system one). Prints tables and targets, writes
 * bench/results/latest.json and bench/results/chart.svg.
 * Options (env): BENCH_ONLY=id,id runs a subset; BENCH_SCALE=0.3 shrinks every phase.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type RedisServer, startRedis } from '../tests/helpers/redis-server';
import { sleep } from './app';
import { renderChart } from './chart';
import { CONTENDERS, ours } from './contenders';
import { type CpuPerCall, medianCpu } from './cpu';
import { measureDurable, printDurable } from './durable';
import { measureEncryption, printEncryption } from './encryption';
import {
  type ContenderResult,
  cpuRound,
  latencyBlock,
  measureCallerPath,
  measureCost,
  measureCrossProcess,
  measureDuplicates,
  measureWakeInProcess,
  PLAN,
  type Subject,
  subject,
  throughputTrial,
} from './measure';
import { benchOtel, printOtel } from './otel';
import { RedisProbe } from './redis-stats';
import { printFeatures, printReport, targets } from './report';
import { distribution, median } from './stats';
import { compareVariants, type FeatureCost } from './variants';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const only = process.env.BENCH_ONLY?.split(',');
const runId = Date.now().toString(36);
const started = performance.now();
const say = (text: string) => process.stderr.write(text);
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

// Every contender gets its own redis-server, started here and stopped at the end.
const subjects: (Subject & { redis: RedisServer })[] = [];
for (const c of CONTENDERS.filter((x) => !only || only.includes(x.id))) {
  const redis = await startRedis();
  const probe = c.redis ? new RedisProbe(redis.url) : undefined;
  await probe?.flush();
  subjects.push({ ...subject(c, await c.create(redis.url), probe, runId), redis });
}
const resourcesBefore = process.getActiveResourcesInfo().length;
const timersBefore = timers();

say('cost and memory');
for (const s of subjects) {
  await measureCost(s);
  await measureDuplicates(s);
  await measureCallerPath(s, s.redis.url);
  say('.');
}

// Latency and throughput: blocks and trials interleaved across contenders, so that background
// load on the machine falls on all of them alike.
/**
 * Every trial starts on a collected heap (node --expose-gc, as `npm run bench` runs it), so that no
 * contender pays for the garbage of the one before it; and the order rotates from one trial to
 * the next, so that no contender always follows the same one.
 */
const gc = (globalThis as { gc?: () => void }).gc;
const rotated = <T>(items: T[], by: number) => {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
};

say('\nlatency');
const samples = new Map(subjects.map((s) => [s, { first: [] as number[], replay: [] as number[] }]));
for (const kind of ['first', 'replay'] as const) {
  for (let block = 0; block < PLAN.blocks; block++) {
    for (const s of rotated(subjects, block)) {
      gc?.();
      await latencyBlock(s, block, samples.get(s)![kind]);
    }
    say('.');
  }
}
say('\ncpu');
const cpu = new Map(subjects.map((s) => [s, { first: [] as CpuPerCall[], replay: [] as CpuPerCall[] }]));
for (let round = 0; round < PLAN.cpuRounds; round++) {
  for (const s of rotated(subjects, round)) await cpuRound(s, round, cpu.get(s)!);
  say('.');
}
say('\nthroughput');
const trials = new Map(subjects.map((s) => [s, { unique: [] as number[], replay: [] as number[], errors: 0 }]));
for (let trial = 0; trial < PLAN.trials; trial++) {
  for (const kind of ['unique', 'replay'] as const) {
    for (const s of rotated(subjects, trial)) {
      gc?.();
      const { rate, errors } = await throughputTrial(s, kind, trial);
      const t = trials.get(s)!;
      t[kind].push(rate);
      t.errors += errors;
      say('.');
    }
  }
}
say('\nwake, same process');
for (const s of subjects) {
  await measureWakeInProcess(s);
  say('.');
}

// Leak check after the load, before anything is closed.
await sleep(50);
const leak = {
  timersBefore,
  timersAfter: timers(),
  resourcesBefore,
  resourcesAfter: process.getActiveResourcesInfo().length,
};
const results: ContenderResult[] = [];
for (const s of subjects) {
  const sample = samples.get(s)!;
  const trial = trials.get(s)!;
  s.result.latency = { first: distribution(sample.first), replay: distribution(sample.replay) };
  const rounds = cpu.get(s)!;
  s.result.cpu = { first: medianCpu(rounds.first), replay: medianCpu(rounds.replay), rounds };
  s.result.throughput = {
    unique: median(trial.unique),
    replay: median(trial.replay),
    errors: trial.errors,
    trials: trial,
  };
  s.result.leak = { inFlight: s.instance.inFlight() };
  await s.instance.close();
  await s.probe?.close();
}

say('\nwake, other process');
for (const s of subjects) {
  const { wake, leftover } = await measureCrossProcess(s.contender, s.redis.url, runId);
  s.result.wakeCrossProcess = wake;
  s.result.leak!.afterCrossProcess = leftover;
  await s.redis.stop();
  results.push(s.result as ContenderResult);
  say('.');
}
say('\n');

// What each feature costs: an A/B of ours, the feature off then on, one call per feature
// (bench/variants.ts). Skipped when BENCH_ONLY picks contenders.
const features: FeatureCost[] = [];
if (!only) {
  say('features');
  features.push(
    await compareVariants('replyBeforeStored', [
      ours('off', 'replyBeforeStored off'),
      ours('on', 'replyBeforeStored on', { replyBeforeStored: true }),
    ]),
  );
  say('\n');
}

const verdicts = targets(results);
printReport(results, verdicts, leak);
const encryption = await measureEncryption();
printEncryption(encryption);
printFeatures(features);
say('durable mutations (PostgreSQL at 127.0.0.1:5432)\n');
const durable = await measureDurable();
printDurable(durable);
say('otel');
const otel = await benchOtel();
printOtel(otel);

const report = {
  runAt: new Date().toISOString(),
  durationSeconds: Math.round((performance.now() - started) / 1000),
  environment: {
    node: process.version,
    redis: execFileSync('redis-server', ['--version']).toString().trim(),
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    platform: `${process.platform} ${process.arch}`,
  },
  plan: PLAN,
  results,
  features,
  leak,
  targets: verdicts,
  encryption,
  durable,
  otel,
};
mkdirSync(RESULTS, { recursive: true });
writeFileSync(`${RESULTS}latest.json`, `${JSON.stringify(report, (_, v) => (Number.isNaN(v) ? null : v), 2)}\n`);
writeFileSync(`${RESULTS}chart.svg`, renderChart(results, report.runAt));
console.log(`\nwrote bench/results/latest.json and bench/results/chart.svg (${report.durationSeconds} s)`);
process.exit(0);

import { CONTENDERS } from './contenders';
import { type ContenderResult, PLAN, type WakeResult } from './measure';
import { median } from './stats';
import type { FeatureCost } from './variants';

export interface Verdict {
  target: string;
  measured: string;
  met: boolean;
}

const info = (r: ContenderResult) => CONTENDERS.find((c) => c.id === r.id);
const peers = (results: ContenderResult[]) =>
  results.filter((r) => info(r)?.redis && !info(r)?.ours && !info(r)?.reference);
/** Our contenders that share state through Redis: the targets are about these. */
const oursOnRedis = (results: ContenderResult[]) => results.filter((r) => info(r)?.redis && info(r)?.ours);

const fmt = (v: number | undefined, digits = 2) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));
const ms = (v: number | undefined) =>
  v === undefined || !Number.isFinite(v) ? '–' : v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(0)} ms`;
const perSec = (v: number) => `${Math.round(v).toLocaleString('en-US')}/s`;
const times = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)}×` : '–');

type Kind = 'unique' | 'replay';

/** The peer with the highest median throughput of that kind in this run. */
function fastestPeer(results: ContenderResult[], kind: Kind): ContenderResult | undefined {
  return peers(results).reduce<ContenderResult | undefined>(
    (best, r) => (!best || r.throughput[kind] > best.throughput[kind] ? r : best),
    undefined,
  );
}

/**
 * Throughput against the fastest peer: the median over trials of the ratio within each trial.
 * A trial runs every contender back to back, so a slow spell of the machine falls on both sides
 * of a ratio, where a ratio of medians would compare different spells.
 */
function throughputRatio(r: ContenderResult, results: ContenderResult[], kind: Kind): number {
  const peer = fastestPeer(results, kind);
  if (!peer) return Number.NaN;
  const theirs = peer.throughput.trials[kind];
  return median(r.throughput.trials[kind].map((rate, i) => rate / (theirs[i] ?? Number.NaN)).filter(Number.isFinite));
}

/** Best (lowest) peer replay p50, measured in this run. */
function bestPeerReplayP50(results: ContenderResult[]): number {
  return Math.min(...peers(results).map((r) => r.latency.replay.p50));
}

/** The lowest value among the peers in this run (the best peer for a cost). */
function bestPeer(results: ContenderResult[], value: (r: ContenderResult) => number | undefined): number {
  const values = peers(results)
    .map(value)
    .filter((v): v is number => v !== undefined && Number.isFinite(v));
  return values.length ? Math.min(...values) : Number.NaN;
}

const nodeFirst = (r: ContenderResult) => r.cpu?.first.nodeMicros;
const nodeReplay = (r: ContenderResult) => r.cpu?.replay.nodeMicros;
const redisFirst = (r: ContenderResult) => r.cpu?.first.redisMicros;
const redisReplay = (r: ContenderResult) => r.cpu?.replay.redisMicros;
const firstP50 = (r: ContenderResult) => r.latency.first.p50;

/** This row's cost ÷ the best peer's (lower is better), as `0.62×`. */
function costRatio(r: ContenderResult, results: ContenderResult[], value: (r: ContenderResult) => number | undefined) {
  const mine = value(r);
  return mine === undefined ? Number.NaN : mine / bestPeer(results, value);
}
const ratio = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function wakeCell(w: WakeResult | undefined): [string, string] {
  if (!w) return ['–', '–'];
  const runs = `${fmt(w.executionsPerRound, w.executionsPerRound % 1 ? 1 : 0)} / ${fmt(w.errorsPerRound, w.errorsPerRound % 1 ? 1 : 0)}`;
  return [w.waiters ? `${ms(w.medianMs)} / ${ms(w.maxMs)}` : 'no waiters', runs];
}

function tables(results: ContenderResult[]): string[] {
  const bestReplayP50 = bestPeerReplayP50(results);
  const cost = table(
    [
      'contender',
      'round trips: first',
      'replay',
      'again',
      `caller waits (${PLAN.linkDelayMs} ms link): first`,
      'replay',
      'again',
      'commands: first',
      'replay',
      'bytes/record',
      `commands: 1 call → ${PLAN.duplicates} dups`,
    ],
    results
      .filter((r) => r.cost)
      .map((r) => [
        r.label,
        fmt(r.cost?.first.roundTrips),
        fmt(r.cost?.replay.roundTrips),
        fmt(r.cost?.again.roundTrips),
        fmt(r.callerPath?.first, 1),
        fmt(r.callerPath?.replay, 1),
        fmt(r.callerPath?.again, 1),
        fmt(r.cost?.first.commands),
        fmt(r.cost?.replay.commands),
        r.memory ? `${Math.round(r.memory.bytesPerRecord)} (${fmt(r.memory.keysPerRecord, 0)} key)` : '–',
        r.duplicates ? `${r.duplicates.one} → ${r.duplicates.fifty}` : '–',
      ]),
  );
  const cpu = table(
    [
      'contender',
      'Node µs: first',
      'replay',
      'Redis µs: first',
      'replay',
      'vs best peer: Node first · Node replay · Redis first · Redis replay',
    ],
    results
      .filter((r) => r.cpu)
      .map((r) => [
        r.label,
        fmt(nodeFirst(r), 1),
        fmt(nodeReplay(r), 1),
        fmt(redisFirst(r), 1),
        fmt(redisReplay(r), 1),
        info(r)?.id === 'bare'
          ? '–'
          : [nodeFirst, nodeReplay, redisFirst, redisReplay].map((v) => ratio(costRatio(r, results, v))).join(' · '),
      ]),
  );
  const speed = table(
    [
      'contender',
      'first p50',
      'p99',
      'replay p50',
      'p99',
      `unique/s @${PLAN.concurrency}`,
      `replays/s @${PLAN.concurrency}`,
      'vs best peer: first p50 · replay p50 · unique/s · replay/s',
    ],
    results.map((r) => [
      r.label,
      ms(r.latency.first.p50),
      ms(r.latency.first.p99),
      ms(r.latency.replay.p50),
      ms(r.latency.replay.p99),
      perSec(r.throughput.unique),
      perSec(r.throughput.replay),
      info(r)?.id === 'bare'
        ? '–'
        : `${ratio(costRatio(r, results, firstP50))} · ${times(bestReplayP50 / r.latency.replay.p50)} · ${times(throughputRatio(r, results, 'unique'))} · ${times(throughputRatio(r, results, 'replay'))}`,
    ]),
  );
  const wake = table(
    [
      'contender',
      'wake, same process: median / max',
      'runs / errors',
      'wake, other process: median / max',
      'runs / errors',
    ],
    results.map((r) => [r.label, ...wakeCell(r.wakeInProcess), ...wakeCell(r.wakeCrossProcess)]),
  );
  return [cost, cpu, speed, wake];
}

export function targets(results: ContenderResult[]): Verdict[] {
  const bestReplayP50 = bestPeerReplayP50(results);
  const verdicts: Verdict[] = [];
  for (const r of oursOnRedis(results)) {
    const name = r.label.replace(/^ours: /, '');
    const replayRt = r.cost?.replay.roundTrips ?? Number.NaN;
    const firstRt = r.cost?.first.roundTrips ?? Number.NaN;
    const waited = r.callerPath?.first ?? Number.NaN;
    const cpuRatio = costRatio(r, results, nodeFirst);
    const p50Ratio = costRatio(r, results, firstP50);
    const wake = r.wakeCrossProcess?.medianMs ?? Number.NaN;
    const dup = r.duplicates ? r.duplicates.fifty / r.duplicates.one : Number.NaN;
    verdicts.push(
      { target: `${name}: replay costs 1 round trip`, measured: `${fmt(replayRt)} per replay`, met: replayRt <= 1.05 },
      {
        target: `${name}: first execution ≤ 2 round trips`,
        measured: `${fmt(firstRt)} per call`,
        met: firstRt <= 2.05,
      },
      {
        target: `${name}: first execution waits for 1 round trip`,
        measured: `${fmt(waited, 1)} (p50 over a ${PLAN.linkDelayMs} ms link ÷ a PING's p50 over it)`,
        met: waited < 1.5,
      },
      { target: `${name}: first-call p50 ≤ 1.0× best peer`, measured: ratio(p50Ratio), met: p50Ratio <= 1 },
      {
        target: `${name}: Node CPU per first call ≤ 0.7× best peer`,
        measured: `${fmt(nodeFirst(r), 1)} µs, ${ratio(cpuRatio)}`,
        met: cpuRatio <= 0.7,
      },
      {
        target: `${name}: cross-process wake median ≤ 2 ms`,
        measured: `${ms(wake)} (max ${ms(r.wakeCrossProcess?.maxMs)}, ${r.wakeCrossProcess?.waiters ?? 0} waiters)`,
        met: wake <= 2,
      },
      ...(
        [
          ['replay p50', bestReplayP50 / r.latency.replay.p50],
          ['unique-key throughput', throughputRatio(r, results, 'unique')],
          ['replay throughput', throughputRatio(r, results, 'replay')],
        ] as const
      ).map(([what, ratio]) => ({
        target: `${name}: ${what} ≥ 1.5× best peer`,
        measured: times(ratio),
        met: ratio >= 1.5,
      })),
      {
        target: `${name}: ${PLAN.duplicates} in-process duplicates cost O(1) commands`,
        measured: `${r.duplicates?.one} commands for 1 call, ${r.duplicates?.fifty} for ${PLAN.duplicates} (${times(dup)})`,
        met: dup <= 1.5,
      },
    );
  }
  return verdicts;
}

export interface Leak {
  timersBefore: number;
  timersAfter: number;
  resourcesBefore: number;
  resourcesAfter: number;
}

export function printReport(results: ContenderResult[], verdicts: Verdict[], leak: Leak): void {
  const [cost, cpu, speed, wake] = tables(results);
  console.log(
    `\nRedis cost per call (${PLAN.costCalls} sequential calls; "again" is a key's second replay in this process; "caller waits" counts the round trips a call waited for: its p50 over a link that delays every reply by ${PLAN.linkDelayMs} ms, ÷ a PING's p50 over it; commands include those run inside Lua)\n${cost}`,
  );
  console.log(
    `\nCPU per call (process.cpuUsage and the contender's Redis INFO cpu; median of ${PLAN.cpuRounds} rounds of ${PLAN.cpuCalls} calls at concurrency ${PLAN.concurrency}, interleaved across contenders; ratio = this row ÷ the best peer's, lower is better)\n${cpu}`,
  );
  console.log(
    `\nLatency through createCaller (${PLAN.latencyCalls} sequential calls each) and throughput (median of ${PLAN.trials} trials of ${PLAN.throughputMs} ms at concurrency ${PLAN.concurrency}), interleaved across contenders; throughput ratios are medians of per-trial ratios\n${speed}`,
  );
  console.log(
    `\n${PLAN.duplicates} concurrent duplicates, resolver sleeps ${PLAN.slowMs} ms (${PLAN.wakeRounds} rounds; wake = waiter done − holder's resolver done)\n${wake}`,
  );
  console.log('\nLeak check after the load (every contender idle)');
  for (const r of results) {
    if (r.leak.inFlight === undefined) continue;
    console.log(`  ${r.leak.inFlight === 0 ? 'ok  ' : 'LEAK'} ${r.label}: inFlight ${r.leak.inFlight} in this process`);
    const after = r.leak.afterCrossProcess;
    if (!after) continue;
    const clean = after.inFlight.every((n) => n === 0) && !after.channels;
    const channels = after.channels === undefined ? '' : `, ${after.channels} pub/sub channels left on its Redis`;
    console.log(
      `  ${clean ? 'ok  ' : 'LEAK'} ${r.label}, after the cross-process rounds: inFlight ${after.inFlight.join(' and ')} in the two server processes${channels}`,
    );
  }
  console.log(
    `  ${leak.timersAfter <= leak.timersBefore ? 'ok  ' : 'LEAK'} timers (process.getActiveResourcesInfo): ${leak.timersBefore} before the load, ${leak.timersAfter} after; all active resources ${leak.resourcesBefore} → ${leak.resourcesAfter}`,
  );
  console.log('\nTargets');
  for (const v of verdicts) console.log(`  ${v.met ? 'met   ' : 'MISSED'} ${v.target}: ${v.measured}`);
}

/** Each feature's variants, side by side: CPU and round trips per call, ratios against the first. */
export function printFeatures(features: FeatureCost[]): void {
  for (const f of features) {
    const rows = f.variants.map((v) => [
      v.label,
      fmt(v.cpu.first.nodeMicros, 1),
      fmt(v.cpu.replay.nodeMicros, 1),
      fmt(v.cpu.first.redisMicros, 1),
      fmt(v.cpu.replay.redisMicros, 1),
      `${fmt(v.roundTrips.first)} / ${fmt(v.roundTrips.replay)}`,
      `${ratio(v.ratio.first)} · ${ratio(v.ratio.replay)}`,
    ]);
    const head = ['variant', 'Node µs: first', 'replay', 'Redis µs: first', 'replay', 'round trips: first / replay'];
    console.log(`\nWhat ${f.feature} costs (CPU per call at concurrency 32, median of interleaved rounds)`);
    console.log(table([...head, `vs ${f.variants[0]?.label}: Node first · replay`], rows));
  }
}

import { CONTENDERS } from './contenders';
import { type ContenderResult, PLAN, type WakeResult } from './measure';
import { median } from './stats';

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
      'commands: first',
      'replay',
      'Redis CPU µs: first',
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
        fmt(r.cost?.first.commands),
        fmt(r.cost?.replay.commands),
        fmt(r.cost?.first.cpuMicros, 0),
        fmt(r.cost?.replay.cpuMicros, 0),
        r.memory ? `${Math.round(r.memory.bytesPerRecord)} (${fmt(r.memory.keysPerRecord, 0)} key)` : '–',
        r.duplicates ? `${r.duplicates.one} → ${r.duplicates.fifty}` : '–',
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
      'vs best peer: replay p50 · unique/s · replay/s',
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
        : `${times(bestReplayP50 / r.latency.replay.p50)} · ${times(throughputRatio(r, results, 'unique'))} · ${times(throughputRatio(r, results, 'replay'))}`,
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
  return [cost, speed, wake];
}

export function targets(results: ContenderResult[]): Verdict[] {
  const bestReplayP50 = bestPeerReplayP50(results);
  const verdicts: Verdict[] = [];
  for (const r of oursOnRedis(results)) {
    const name = r.label.replace(/^ours: /, '');
    const replayRt = r.cost?.replay.roundTrips ?? Number.NaN;
    const firstRt = r.cost?.first.roundTrips ?? Number.NaN;
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
  const [cost, speed, wake] = tables(results);
  console.log(
    `\nRedis cost per call (${PLAN.costCalls} sequential calls; commands include those run inside Lua)\n${cost}`,
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

import { CONTENDERS } from './contenders';
import { type ContenderResult, PLAN, type WakeResult } from './measure';

export interface Verdict {
  target: string;
  measured: string;
  met: boolean;
}

const info = (r: ContenderResult) => CONTENDERS.find((c) => c.id === r.id);
const peers = (results: ContenderResult[]) => results.filter((r) => info(r)?.redis && !info(r)?.ours);
/** Our contenders that share state through Redis: the targets are about these. */
const oursOnRedis = (results: ContenderResult[]) => results.filter((r) => info(r)?.redis && info(r)?.ours);

const fmt = (v: number | undefined, digits = 2) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));
const ms = (v: number | undefined) =>
  v === undefined || !Number.isFinite(v) ? '–' : v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(0)} ms`;
const perSec = (v: number) => `${Math.round(v).toLocaleString('en-US')}/s`;
const times = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)}×` : '–');

/** Best (lowest) peer replay p50 and best (highest) peer throughputs, measured in this run. */
function bestPeer(results: ContenderResult[]) {
  const p = peers(results);
  return {
    replayP50: Math.min(...p.map((r) => r.latency.replay.p50)),
    unique: Math.max(...p.map((r) => r.throughput.unique)),
    replay: Math.max(...p.map((r) => r.throughput.replay)),
  };
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
  const best = bestPeer(results);
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
        : `${times(best.replayP50 / r.latency.replay.p50)} · ${times(r.throughput.unique / best.unique)} · ${times(r.throughput.replay / best.replay)}`,
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
  const best = bestPeer(results);
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
          ['replay p50', best.replayP50 / r.latency.replay.p50],
          ['unique-key throughput', r.throughput.unique / best.unique],
          ['replay throughput', r.throughput.replay / best.replay],
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
    `\nLatency through createCaller (${PLAN.latencyCalls} sequential calls each) and throughput (median of ${PLAN.trials} trials of ${PLAN.throughputMs} ms at concurrency ${PLAN.concurrency}), interleaved across contenders\n${speed}`,
  );
  console.log(
    `\n${PLAN.duplicates} concurrent duplicates, resolver sleeps ${PLAN.slowMs} ms (${PLAN.wakeRounds} rounds; wake = waiter done − holder's resolver done)\n${wake}`,
  );
  console.log('\nLeak check after the load (all contenders idle, none closed yet)');
  for (const r of results) {
    if (r.leak.inFlight !== undefined)
      console.log(`  ${r.leak.inFlight === 0 ? 'ok  ' : 'LEAK'} ${r.label}: inFlight ${r.leak.inFlight}`);
  }
  console.log(
    `  ${leak.timersAfter <= leak.timersBefore ? 'ok  ' : 'LEAK'} timers (process.getActiveResourcesInfo): ${leak.timersBefore} before the load, ${leak.timersAfter} after; all active resources ${leak.resourcesBefore} → ${leak.resourcesAfter}`,
  );
  console.log('\nTargets');
  for (const v of verdicts) console.log(`  ${v.met ? 'met   ' : 'MISSED'} ${v.target}: ${v.measured}`);
}

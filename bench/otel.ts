/**
 * What OpenTelemetry costs a call, as ratios within one run (npm run bench calls it; alone:
 * `tsx --expose-gc bench/otel.ts`). The same mutation, each iteration one first call and one replay,
 * on a memoryStore, so that the middleware's own work is all there is to measure (a Redis round
 * trip would hide it):
 *   phase 1: telemetry off vs `otel()` with no SDK registered (the no-op API);
 *   phase 2: with an HTTP-instrumentation-like active span around every call (a context manager
 *            registered), telemetry off vs `otel()` with an SDK tracer and meter recording.
 */
import { pathToFileURL } from 'node:url';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { initTRPC } from '@trpc/server';
import { createIdempotency, type IdempotencyTelemetry, memoryStore } from '../src';
import { otel } from '../src/otel';
import { median } from './stats';

class CollectingReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

const scale = Number(process.env.BENCH_SCALE ?? 1);
const ITERATIONS = Math.max(200, Math.round(2000 * scale));
const TRIALS = 9;

type Ctx = { headers: Record<string, string> };
type Caller = (key: string) => Promise<unknown>;

function makeCaller(telemetry: IdempotencyTelemetry | undefined): Caller {
  const t = initTRPC.context<Ctx>().create();
  const idempotency = createIdempotency<Ctx>({ store: memoryStore({ maxEntries: 100_000 }), telemetry });
  let orders = 0;
  const router = t.router({ order: t.procedure.use(idempotency.middleware).mutation(() => ({ id: ++orders })) });
  const create = t.createCallerFactory(router);
  return (key) => create({ headers: { 'idempotency-key': key } }).order();
}

let seq = 0;

/** ns per call over one trial: each iteration a first call, then its replay. */
async function trial(call: Caller, wrap: (run: () => Promise<unknown>) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const key = `k${++seq}`;
    await wrap(() => call(key));
    await wrap(() => call(key));
  }
  return ((performance.now() - started) * 1e6) / (ITERATIONS * 2);
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Median ns per call of each variant, trials interleaved so that machine noise falls on all alike. */
async function compare(
  variants: Record<string, Caller>,
  wrap: (run: () => Promise<unknown>) => Promise<unknown>,
  afterTrial = () => {},
) {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  const names = Object.keys(variants);
  for (const name of names) await trial(variants[name]!, wrap); // warm-up
  for (let i = 0; i < TRIALS; i++) {
    for (const name of i % 2 ? [...names].reverse() : names) {
      gc?.();
      samples[name]!.push(await trial(variants[name]!, wrap));
      afterTrial();
    }
  }
  return Object.fromEntries(names.map((name) => [name, median(samples[name]!)]));
}

export interface OtelBenchResult {
  /** ns per call with telemetry off, in each phase. */
  offNs: { plain: number; activeSpan: number };
  /** `otel()` with no SDK registered, over off (1.00 = free). */
  noSdkRatio: number;
  /** `otel()` with an SDK tracer and meter recording, over off, both inside an active span. */
  sdkRatio: number;
}

export async function benchOtel(): Promise<OtelBenchResult> {
  const direct = (run: () => Promise<unknown>) => run();
  const phase1 = await compare({ off: makeCaller(undefined), noSdk: makeCaller(otel()) }, direct);

  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const spans = new InMemorySpanExporter();
  const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }).getTracer('bench');
  const meterProvider = new MeterProvider({ readers: [new CollectingReader()] });
  const inSpan = (run: () => Promise<unknown>) =>
    tracer.startActiveSpan('POST /order', (span) => run().finally(() => span.end()));
  try {
    const phase2 = await compare({ off: makeCaller(undefined), sdk: makeCaller(otel({ meterProvider })) }, inSpan, () =>
      spans.reset(),
    );
    return {
      offNs: { plain: phase1.off!, activeSpan: phase2.off! },
      noSdkRatio: phase1.noSdk! / phase1.off!,
      sdkRatio: phase2.sdk! / phase2.off!,
    };
  } finally {
    context.disable();
    trace.disable();
    await meterProvider.shutdown();
  }
}

export function printOtel(result: OtelBenchResult): void {
  const r = (x: number) => `${x.toFixed(2)}×`;
  console.log('\nOpenTelemetry cost per call (memoryStore; a first call and its replay; median of trials)');
  console.log(`  telemetry off                      ${(result.offNs.plain / 1000).toFixed(1)} µs/call   1.00×`);
  console.log(`  otel(), no SDK registered          ${r(result.noSdkRatio)} of off`);
  console.log(
    `  otel() with SDK, in an active span ${r(result.sdkRatio)} of off in the same span (${(result.offNs.activeSpan / 1000).toFixed(1)} µs/call)`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printOtel(await benchOtel());
}

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
const ITERATIONS = Math.max(100, Math.round(400 * scale));
const TRIALS = 25;

type Ctx = { headers: Record<string, string>; user: { id: string } };
type Caller = (key: string) => Promise<unknown>;

function makeCaller(telemetry: IdempotencyTelemetry | undefined): Caller {
  const t = initTRPC.context<Ctx>().create();
  const idempotency = createIdempotency<Ctx>({ store: memoryStore({ maxEntries: 100_000 }), telemetry });
  let orders = 0;
  const router = t.router({ order: t.procedure.use(idempotency.middleware).mutation(() => ({ id: ++orders })) });
  const create = t.createCallerFactory(router);
  return (key) => create({ headers: { 'idempotency-key': key }, user: { id: 'bench' } }).order();
}

let seq = 0;

/**
 * CPU ns per call over one trial (each iteration a first call, then its replay): the process's CPU
 * time, which other processes' load on the machine disturbs far less than the wall clock.
 */
async function trial(call: Caller, wrap: (run: () => Promise<unknown>) => Promise<unknown>): Promise<number> {
  const started = process.cpuUsage();
  for (let i = 0; i < ITERATIONS; i++) {
    const key = `k${++seq}`;
    await wrap(() => call(key));
    await wrap(() => call(key));
  }
  const used = process.cpuUsage(started);
  return ((used.user + used.system) * 1000) / (ITERATIONS * 2);
}

const gc = (globalThis as { gc?: () => void }).gc;

/**
 * Telemetry off against one variant: short trials back to back in pairs, and the median of the
 * pairs' ratios, so that load from elsewhere on the machine, which drifts slower than a pair lasts,
 * cancels out. Each pair gets fresh apps, made and run in alternating order: of two apps made one
 * after the other, the second ran up to 20 % slower in an A/A run, whatever its telemetry.
 */
async function compare(
  off: () => Caller,
  on: () => Caller,
  wrap: (run: () => Promise<unknown>) => Promise<unknown>,
  afterTrial = () => {},
): Promise<{ offNs: number; ratio: number }> {
  for (let i = 0; i < 3; i++) {
    // Warm-up: the JIT's work is not the middleware's.
    await trial(off(), wrap);
    await trial(on(), wrap);
  }
  const offNs: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < TRIALS; i++) {
    const offFirst = i % 2 === 0;
    const [first, second] = offFirst ? [off(), on()] : [on(), off()];
    gc?.();
    const firstNs = await trial(first, wrap);
    afterTrial();
    gc?.();
    const secondNs = await trial(second, wrap);
    afterTrial();
    const [offTime, onTime] = offFirst ? [firstNs, secondNs] : [secondNs, firstNs];
    offNs.push(offTime);
    ratios.push(onTime / offTime);
  }
  return { offNs: median(offNs), ratio: median(ratios) };
}

export interface OtelBenchResult {
  /** ns per call with telemetry off, in each phase. */
  offNs: { plain: number; activeSpan: number };
  /** Off over off, measured the same way: how far from 1.00 noise alone takes these ratios. */
  controlRatio: number;
  /** `otel()` with no SDK registered, over off (1.00 = free). */
  noSdkRatio: number;
  /** `otel()` with an SDK tracer and meter recording, over off, both inside an active span. */
  sdkRatio: number;
}

export async function benchOtel(): Promise<OtelBenchResult> {
  const direct = (run: () => Promise<unknown>) => run();
  // Off against off: the noise floor of these ratios on this machine.
  const control = await compare(
    () => makeCaller(undefined),
    () => makeCaller(undefined),
    direct,
  );
  const phase1 = await compare(
    () => makeCaller(undefined),
    () => makeCaller(otel()),
    direct,
  );

  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const spans = new InMemorySpanExporter();
  const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }).getTracer('bench');
  const meterProvider = new MeterProvider({ readers: [new CollectingReader()] });
  const inSpan = (run: () => Promise<unknown>) =>
    tracer.startActiveSpan('POST /order', (span) => run().finally(() => span.end()));
  try {
    const phase2 = await compare(
      () => makeCaller(undefined),
      () => makeCaller(otel({ meterProvider })),
      inSpan,
      () => spans.reset(),
    );
    return {
      offNs: { plain: phase1.offNs, activeSpan: phase2.offNs },
      controlRatio: control.ratio,
      noSdkRatio: phase1.ratio,
      sdkRatio: phase2.ratio,
    };
  } finally {
    context.disable();
    trace.disable();
    await meterProvider.shutdown();
  }
}

export function printOtel(result: OtelBenchResult): void {
  const r = (x: number) => `${x.toFixed(2)}×`;
  console.log(
    '\nOpenTelemetry cost per call (CPU time; memoryStore; a first call and its replay; median of paired trials)',
  );
  console.log(`  telemetry off                      ${(result.offNs.plain / 1000).toFixed(1)} µs/call   1.00×`);
  console.log(`  telemetry off again (control)      ${r(result.controlRatio)} of off: the noise floor`);
  console.log(`  otel(), no SDK registered          ${r(result.noSdkRatio)} of off`);
  console.log(
    `  otel() with SDK, in an active span ${r(result.sdkRatio)} of off in the same span (${(result.offNs.activeSpan / 1000).toFixed(1)} µs/call)`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printOtel(await benchOtel());
}

import {
  type Attributes,
  type Counter,
  createNoopMeter,
  type Histogram,
  type MeterProvider,
  metrics,
  trace,
  ValueType,
} from '@opentelemetry/api';
import type { IdempotencyEvent } from '../events';
import type { IdempotencyTelemetry, TelemetrySource } from '../telemetry';

/** Options of {@link otel}. */
export interface OtelOptions {
  /**
   * Where the metrics go. Default: the global meter provider as it is when `createIdempotency`
   * runs, so register the SDK before that (or pass its provider here).
   */
  meterProvider?: MeterProvider;
  /** Add an `idempotency` event to the active span of each call. Default true. */
  spanEvents?: boolean;
}

/** Attribute and instrument names, as documented in docs/operations.md. */
export const OTEL_NAMES = {
  outcome: 'idempotency.outcome',
  procedure: 'idempotency.procedure',
  recordId: 'idempotency.record_id',
  waitMs: 'idempotency.wait_ms',
  overheadMs: 'idempotency.overhead_ms',
  durationMs: 'idempotency.duration_ms',
  storeCalls: 'idempotency.store_calls',
  spanEvent: 'idempotency',
  calls: 'idempotency.calls',
  problems: 'idempotency.problems',
  waitDuration: 'idempotency.wait.duration',
  overheadDuration: 'idempotency.overhead.duration',
  inFlight: 'idempotency.in_flight',
} as const;

/** The outcomes of a call; the other events (store-error, lock-lost, integrity-error, not-replicated) count as problems. */
const OUTCOMES = new Set<IdempotencyEvent['type']>(['hit', 'miss', 'wait', 'conflict', 'mismatch']);

const MS_BUCKETS = [0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000];

interface Instruments {
  calls: Counter;
  problems: Counter;
  wait: Histogram;
  overhead: Histogram;
}

/**
 * OpenTelemetry for `createIdempotency({ telemetry: otel() })`: an event on the active span per
 * call and per store problem, and metrics (calls by outcome, wait time, overhead, calls in flight).
 * Depends on `@opentelemetry/api` only; with no SDK registered, it costs next to nothing.
 * Never records the raw key or the user id: only the record id, a hash of both.
 * @see https://www.npmjs.com/package/trpc-idempotency#guides
 */
export function otel(options: OtelOptions = {}): IdempotencyTelemetry {
  const sources = new Set<TelemetrySource>();
  const spanEvents = options.spanEvents ?? true;
  let instruments: Instruments | undefined;
  let attached = false;

  /** Instruments, or undefined when the meter is the API's no-op one: then recording is skipped. */
  function createInstruments(): Instruments | undefined {
    const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter('trpc-idempotency');
    if (Object.getPrototypeOf(meter) === Object.getPrototypeOf(createNoopMeter())) return undefined;
    const histogram = (name: string, description: string) =>
      meter.createHistogram(name, {
        description,
        unit: 'ms',
        valueType: ValueType.DOUBLE,
        advice: { explicitBucketBoundaries: MS_BUCKETS },
      });
    const inFlight = meter.createObservableGauge(OTEL_NAMES.inFlight, {
      description: 'Idempotent calls in flight in this process (running, or waiting per record id)',
      unit: '{call}',
      valueType: ValueType.INT,
    });
    inFlight.addCallback((result) => {
      let count = 0;
      for (const source of sources) count += source.inFlight;
      result.observe(count);
    });
    return {
      calls: meter.createCounter(OTEL_NAMES.calls, {
        description: 'Idempotent calls by outcome: hit, miss, wait, conflict, mismatch',
        unit: '{call}',
        valueType: ValueType.INT,
      }),
      problems: meter.createCounter(OTEL_NAMES.problems, {
        description:
          'Store errors, locks lost while a resolver ran, records that failed their integrity check, writes replicas did not acknowledge',
        unit: '{event}',
        valueType: ValueType.INT,
      }),
      wait: histogram(OTEL_NAMES.waitDuration, 'How long a duplicate waited for the first call'),
      overhead: histogram(OTEL_NAMES.overheadDuration, 'Time the idempotency middleware added to a call'),
    };
  }

  return {
    attach(source) {
      sources.add(source);
      if (attached) return;
      attached = true;
      instruments = createInstruments();
    },

    record(event) {
      const span = spanEvents ? trace.getActiveSpan() : undefined;
      const recording = span?.isRecording() === true;
      // With no SDK, nothing below would be kept: not even the labels are built.
      if (!instruments && !recording) return;
      const labels: Attributes = { [OTEL_NAMES.outcome]: event.type, [OTEL_NAMES.procedure]: event.path };
      if (instruments && OUTCOMES.has(event.type)) {
        instruments.calls.add(1, labels);
        if (event.waitedMs !== undefined) instruments.wait.record(event.waitedMs, labels);
        if (event.overheadMs !== undefined) instruments.overhead.record(event.overheadMs, labels);
      } else {
        instruments?.problems.add(1, labels);
      }
      if (!span || !recording) return;
      span.addEvent(OTEL_NAMES.spanEvent, {
        ...labels,
        [OTEL_NAMES.recordId]: event.key,
        [OTEL_NAMES.durationMs]: event.durationMs,
        ...(event.waitedMs !== undefined && { [OTEL_NAMES.waitMs]: event.waitedMs }),
        ...(event.overheadMs !== undefined && { [OTEL_NAMES.overheadMs]: event.overheadMs }),
        ...(event.storeCalls !== undefined && { [OTEL_NAMES.storeCalls]: event.storeCalls }),
        ...(event.error !== undefined && {
          'exception.message': String((event.error as Error)?.message ?? event.error),
        }),
      });
    },
  };
}

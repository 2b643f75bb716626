import type { IdempotencyEvent } from './events';

/** What a telemetry sink can observe of one `createIdempotency`. */
export interface TelemetrySource {
  /** Calls in this process currently running or waiting per record id. */
  readonly inFlight: number;
}

/**
 * A sink for traces and metrics; `otel()` from `trpc-idempotency/otel` makes one. The main entry
 * knows only this shape, so importing it never loads `@opentelemetry/api`.
 * @see https://www.npmjs.com/package/trpc-idempotency#guides
 */
export interface IdempotencyTelemetry {
  /** Called once by `createIdempotency`, with what gauges observe. */
  attach(source: TelemetrySource): void;
  /** Called for every event `onEvent` gets, in the call's async context. Errors it throws are ignored. */
  record(event: IdempotencyEvent): void;
}

export function isTelemetry(value: unknown): value is IdempotencyTelemetry {
  const t = value as Partial<IdempotencyTelemetry> | null;
  return typeof t === 'object' && t !== null && typeof t.attach === 'function' && typeof t.record === 'function';
}

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, type Span, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import { initTRPC } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { Redis } from 'ioredis';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createIdempotency,
  type HeadersLike,
  type IdempotencyMeta,
  type IdempotencyStore,
  memoryStore,
  redisStore,
} from '../../src';
import { idempotencyHeaders, idempotencyLink } from '../../src/client';
import { scopeKey } from '../../src/key';
import { OTEL_NAMES, otel } from '../../src/otel';
import { until } from '../helpers/app';
import { type RedisServer, startRedis } from '../helpers/redis-server';
import { gate } from './policy-app';

/** A reader the test collects from when it wants, instead of on a timer. */
class CollectingReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

type Ctx = { headers: HeadersLike; user: { id: string } };

function pointsOf(collected: ResourceMetrics, name: string): DataPoint<unknown>[] {
  for (const scope of collected.scopeMetrics) {
    for (const metric of scope.metrics) if (metric.descriptor.name === name) return metric.dataPoints;
  }
  return [];
}

/** Sum of a counter's points per outcome attribute. */
function byOutcome(points: DataPoint<unknown>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of points) {
    const outcome = String(p.attributes[OTEL_NAMES.outcome]);
    out[outcome] = (out[outcome] ?? 0) + (p.value as number);
  }
  return out;
}

const histogramCount = (points: DataPoint<unknown>[]) => points.reduce((n, p) => n + (p.value as Histogram).count, 0);

describe('OpenTelemetry over real HTTP calls and a real Redis', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let http: Server;
  let url: string;
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const contextManager = new AsyncLocalStorageContextManager();
  let held = gate();
  let runs = 0;

  beforeAll(async () => {
    // What an HTTP instrumentation does: an active span around each request.
    context.setGlobalContextManager(contextManager.enable());
    redisServer = await startRedis();
    redis = new Redis(redisServer.url);
    const t = initTRPC.context<Ctx>().meta<IdempotencyMeta>().create({ transformer: superjson });
    const idempotency = createIdempotency<Ctx>({
      store: redisStore({ redis }),
      telemetry: otel({ meterProvider }),
    });
    const procedure = t.procedure.use(idempotency.middleware);
    const router = t.router({
      pay: procedure
        .input(z.object({ amount: z.number() }))
        .mutation(({ input }) => ({ paid: input.amount, run: ++runs })),
      slow: procedure.input(z.object({ n: z.number() })).mutation(async () => {
        const run = ++runs;
        await held.opened;
        return { run };
      }),
      impatient: procedure
        .meta({ idempotency: { waitTimeoutMs: 50 } })
        .input(z.object({ n: z.number() }))
        .mutation(async () => {
          const run = ++runs;
          await held.opened;
          return { run };
        }),
    });
    const handler = createHTTPHandler({
      router,
      createContext: ({ req }) => ({ headers: req.headers, user: { id: String(req.headers['x-user']) } }),
    });
    const tracer = tracerProvider.getTracer('http');
    http = createServer((req, res) =>
      tracer.startActiveSpan(`${req.method} ${req.url}`, (span: Span) => {
        res.once('finish', () => span.end());
        handler(req, res);
      }),
    );
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    http?.closeAllConnections();
    await new Promise((resolve) => http?.close(resolve));
    redis?.disconnect();
    await redisServer?.stop();
    context.disable();
    await meterProvider.shutdown();
  });

  const client = () =>
    createTRPCClient<never>({
      links: [
        idempotencyLink(),
        httpLink({
          url,
          transformer: superjson,
          headers: ({ op }) => ({ 'x-user': 'user-secret-42', ...idempotencyHeaders(op) }),
        }),
      ],
    }) as unknown as {
      pay: { mutate(input: { amount: number }, opts: object): Promise<unknown> };
      slow: { mutate(input: { n: number }, opts: object): Promise<unknown> };
      impatient: { mutate(input: { n: number }, opts: object): Promise<unknown> };
    };

  it('adds an event per call to the active span and counts every outcome, without the raw key or user id', async () => {
    const trpc = client();
    const key = `raw-key-${crypto.randomUUID()}`;
    const opts = { context: { idempotencyKey: key } };
    await trpc.pay.mutate({ amount: 1 }, opts); // miss
    await trpc.pay.mutate({ amount: 1 }, opts); // hit
    await expect(trpc.pay.mutate({ amount: 2 }, opts)).rejects.toBeInstanceOf(TRPCClientError); // mismatch

    const slowKey = `raw-slow-${crypto.randomUUID()}`;
    const first = trpc.slow.mutate({ n: 1 }, { context: { idempotencyKey: slowKey } });
    await until(async () => runs >= 2, 5000, 'the slow call to start');
    const second = trpc.slow.mutate({ n: 1 }, { context: { idempotencyKey: slowKey } }); // wait

    const impatientKey = `raw-impatient-${crypto.randomUUID()}`;
    const holder = trpc.impatient.mutate({ n: 1 }, { context: { idempotencyKey: impatientKey } });
    await until(async () => runs >= 3, 5000, 'the impatient call to start');
    await expect(trpc.impatient.mutate({ n: 1 }, { context: { idempotencyKey: impatientKey } })).rejects.toBeInstanceOf(
      TRPCClientError,
    ); // conflict

    // While two calls are held: the in-flight gauge sees them.
    const during = await reader.collect();
    expect(pointsOf(during.resourceMetrics, OTEL_NAMES.inFlight).map((p) => p.value)).toEqual([2]);

    held.open();
    held = gate();
    expect(await Promise.all([first, second, holder])).toEqual([{ run: 2 }, { run: 2 }, { run: 3 }]);

    const { resourceMetrics } = await reader.collect();
    expect(byOutcome(pointsOf(resourceMetrics, OTEL_NAMES.calls))).toEqual({
      miss: 3,
      hit: 1,
      mismatch: 1,
      wait: 1,
      conflict: 1,
    });
    // Waits: the duplicate that got the result, and the one that gave up.
    expect(histogramCount(pointsOf(resourceMetrics, OTEL_NAMES.waitDuration))).toBe(2);
    expect(histogramCount(pointsOf(resourceMetrics, OTEL_NAMES.overheadDuration))).toBe(7);
    expect(pointsOf(resourceMetrics, OTEL_NAMES.inFlight).map((p) => p.value)).toEqual([0]);
    const procedures = new Set(
      pointsOf(resourceMetrics, OTEL_NAMES.calls).map((p) => p.attributes[OTEL_NAMES.procedure]),
    );
    expect(procedures).toEqual(new Set(['pay', 'slow', 'impatient']));

    const events = spans
      .getFinishedSpans()
      .flatMap((s) => s.events)
      .filter((e) => e.name === OTEL_NAMES.spanEvent);
    expect(events.map((e) => e.attributes?.[OTEL_NAMES.outcome]).sort()).toEqual(
      ['conflict', 'hit', 'miss', 'miss', 'miss', 'mismatch', 'wait'].sort(),
    );
    const miss = events.find(
      (e) => e.attributes?.[OTEL_NAMES.outcome] === 'miss' && e.attributes?.[OTEL_NAMES.procedure] === 'pay',
    )!;
    expect(miss.attributes).toMatchObject({
      [OTEL_NAMES.recordId]: scopeKey('user-secret-42', 'pay', key),
      // A first call on one Redis: the claim, then the completion.
      [OTEL_NAMES.storeCalls]: 2,
      [OTEL_NAMES.durationMs]: expect.any(Number),
      [OTEL_NAMES.overheadMs]: expect.any(Number),
    });
    const wait = events.find((e) => e.attributes?.[OTEL_NAMES.outcome] === 'wait')!;
    expect(wait.attributes?.[OTEL_NAMES.waitMs]).toEqual(expect.any(Number));
    const everything = JSON.stringify(spans.getFinishedSpans().map((s) => [s.attributes, s.events]));
    for (const secret of ['user-secret-42', key, slowKey, impatientKey]) expect(everything).not.toContain(secret);
  });
});

describe('otel() without an SDK', () => {
  it('is inert: the global no-op meter and no active span, and calls go on as before', async () => {
    const t = initTRPC.context<Ctx>().create();
    const idempotency = createIdempotency<Ctx>({ store: memoryStore(), telemetry: otel() });
    let runs = 0;
    const router = t.router({ pay: t.procedure.use(idempotency.middleware).mutation(() => ++runs) });
    const caller = t.createCallerFactory(router)({ headers: { 'idempotency-key': 'k' }, user: { id: 'u' } });
    expect(await caller.pay()).toBe(1);
    expect(await caller.pay()).toBe(1);
    expect(trace.getActiveSpan()).toBeUndefined();
  });

  it('rejects a telemetry option that is not a sink', () => {
    expect(() => createIdempotency<Ctx>({ store: { claim() {} } as never, telemetry: {} as never })).toThrow(
      /telemetry: expected otel\(\)/,
    );
  });
});

describe('the main entry', () => {
  it('never imports @opentelemetry/api: only trpc-idempotency/otel does', async () => {
    const { build } = await import('esbuild');
    const imported = async (entry: string) => {
      const { metafile } = await build({
        entryPoints: [entry],
        bundle: true,
        write: false,
        metafile: true,
        platform: 'node',
        format: 'esm',
        packages: 'external',
        logLevel: 'silent',
      });
      return Object.values(metafile.inputs).flatMap((input) => input.imports.map((i) => i.path));
    };
    expect((await imported('src/index.ts')).filter((path) => path.startsWith('@opentelemetry'))).toEqual([]);
    expect(await imported('src/otel/index.ts')).toContain('@opentelemetry/api');
  });
});

describe('otel() on store problems', () => {
  it('counts a store error as a problem and adds it to the active span with its message; spanEvents: false keeps spans clean', async () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    const exporter = new InMemorySpanExporter();
    const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('t');
    const collector = new CollectingReader();
    const meters = new MeterProvider({ readers: [collector] });
    try {
      // A store whose completion fails: the resolver ran, so the caller still gets its result.
      const failing = (): IdempotencyStore => {
        const inner = memoryStore();
        return { ...inner, complete: () => Promise.reject(new Error('disk on fire')) };
      };
      const t = initTRPC.context<Ctx>().create();
      const run = async (telemetry: ReturnType<typeof otel>) => {
        const idempotency = createIdempotency<Ctx>({ store: failing(), telemetry });
        const router = t.router({ pay: t.procedure.use(idempotency.middleware).mutation(() => 'paid') });
        const caller = t.createCallerFactory(router)({ headers: { 'idempotency-key': 'k' }, user: { id: 'u' } });
        return tracer.startActiveSpan('request', async (span) => {
          try {
            return await caller.pay();
          } finally {
            span.end();
          }
        });
      };
      expect(await run(otel({ meterProvider: meters }))).toBe('paid');
      const events = exporter.getFinishedSpans().flatMap((s) => s.events);
      expect(events.map((e) => e.attributes?.[OTEL_NAMES.outcome])).toEqual(['store-error', 'miss']);
      expect(events[0]!.attributes?.['exception.message']).toBe('disk on fire');
      const { resourceMetrics } = await collector.collect();
      expect(byOutcome(pointsOf(resourceMetrics, OTEL_NAMES.problems))).toEqual({ 'store-error': 1 });
      expect(byOutcome(pointsOf(resourceMetrics, OTEL_NAMES.calls))).toEqual({ miss: 1 });

      exporter.reset();
      expect(await run(otel({ meterProvider: meters, spanEvents: false }))).toBe('paid');
      expect(exporter.getFinishedSpans().flatMap((s) => s.events)).toEqual([]);
      const after = await collector.collect();
      expect(byOutcome(pointsOf(after.resourceMetrics, OTEL_NAMES.calls))).toEqual({ miss: 2 });
    } finally {
      context.disable();
      await meters.shutdown();
    }
  });
});

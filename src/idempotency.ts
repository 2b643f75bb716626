import { type AnyRouter, experimental_trpcMiddleware, type TRPCError, type TRPCMiddlewareBuilder } from '@trpc/server';
import { type AdminApi, createAdmin } from './admin';
import { callerScope } from './anonymous';
import { executionScope, type IdempotencyScope, keylessScope } from './durable/scope';
import { clientClosed, inputMismatch, keyRequired, recordUnreadable, stillRunning, storeUnavailable } from './errors';
import { eventEmitter } from './events';
import { Flights, type Shared } from './flights';
import { type IdempotencyContext, parseKey, scopeKey } from './key';
import { LeaseKeeper } from './lease-keeper';
import { type IdempotencyOptions, resolveOptions } from './options';
import { type CallPolicy, fingerprintOf, policies } from './policy';
import {
  type CallOutcome,
  openRecord,
  RecordUnreadableError,
  recordFor,
  recordSealing,
  replay,
  type StoredRecord,
} from './record';
import { markConflict, markReplayed } from './replay-header';
import { CONFLICT_RETRY_AFTER_MS, setRetryAfter } from './retry-after';
import { NotReplicatedError } from './store/replication';
import type { Claim, Lease, Watch } from './store/store';
import { openWatch, type WaitFailures, waitWithin } from './waiting';

/** A waiter re-checks this long after the lock's TTL ran out, to take over from a crashed holder. */
const TAKEOVER_MARGIN_MS = 25;

/** What {@link createIdempotency} returns. */
export interface Idempotency<TContext> extends AdminApi {
  /** The middleware: `procedure.use(idempotency.middleware)`. */
  middleware: TRPCMiddlewareBuilder<TContext, object, { idempotency: IdempotencyScope }, unknown>;
  /** Calls in this process currently running, waiting, or (replyBeforeStored) being stored, per record id; 0 when idle. */
  readonly inFlight: number;
  /**
   * Validates the `meta.idempotency` of every procedure in `router` now, at startup, instead of on
   * each procedure's first call; throws IdempotencyConfigError listing every bad one.
   */
  checkRouter(router: AnyRouter): void;
}

/** One idempotent call, as the flow below sees it. */
interface Call<R> {
  id: string;
  path: string;
  /** Its procedure's settings: the global options with its meta over them. */
  policy: CallPolicy;
  fingerprint: string;
  startedAt: number;
  deadline: number;
  /** Aborts when the client goes away: a waiter then stops waiting. */
  signal: AbortSignal | undefined;
  /** The request's context, where a CONFLICT sets its Retry-After header. */
  ctx: unknown;
  /** The key, when it came from a batch's list of keys: response headers then name the call by it. */
  listedKey: string | undefined;
  /** Runs the resolver; `lease` backs its `ctx.idempotency` steps. */
  run: (lease: Lease) => Promise<R>;
  /** Store operations awaited for this call, and the resolver's run time: for telemetry. */
  storeCalls: number;
  resolverMs: number;
}

type Answer<R> = { kind: 'ran'; result: R } | { kind: 'replayed'; outcome: CallOutcome };

/**
 * Creates the idempotency middleware. Mutations that carry an `Idempotency-Key` header run once per
 * (user, procedure, key); duplicates get the stored result, and concurrent duplicates wait for it.
 * @see https://www.npmjs.com/package/trpc-idempotency#options
 */
export function createIdempotency<TContext extends object = IdempotencyContext>(
  options: IdempotencyOptions<TContext>,
): Idempotency<TContext> {
  const config = resolveOptions(options);
  const { store } = config;
  const flights = new Flights();
  const emit = eventEmitter(config);
  // One timer per lock TTL in use extends the locks of every running call (see lease-keeper.ts).
  const leases = new LeaseKeeper<Call<unknown>>(
    (lease, ttlMs) => store.extend(lease, ttlMs),
    (call, type, error) => emit(call, type, { error }),
  );
  const policy = policies(config);
  config.telemetry?.attach({
    get inFlight() {
      return flights.size;
    },
  });

  const middleware = experimental_trpcMiddleware<{ ctx: TContext }>().create(async (opts) => {
    // Every resolver gets ctx.idempotency; without a key, its steps and transactions just run.
    const runKeyless = () => opts.next({ ctx: { idempotency: keylessScope(opts.path) } });
    if (opts.type === 'subscription' || (opts.type === 'query' && !config.cacheQueries)) return runKeyless();
    // Validated once per procedure; null when its meta opts it out.
    const callPolicy = policy.of(opts.meta, opts.path);
    if (!callPolicy) return runKeyless();
    const sent = parseKey(config.getKey(opts.ctx), config.headerName, opts.batchIndex);
    if (sent === undefined) {
      if (callPolicy.required) throw keyRequired(config.headerName);
      return runKeyless();
    }
    const startedAt = performance.now();
    const call: Call<Awaited<ReturnType<typeof runKeyless>>> = {
      id: scopeKey(callerScope(config.getUserId, config.anonymous, opts.ctx, opts.path), opts.path, sent.key),
      path: opts.path,
      policy: callPolicy,
      fingerprint: fingerprintOf(await opts.getRawInput(), callPolicy, opts.path, config.superjson),
      startedAt,
      deadline: startedAt + callPolicy.waitTimeoutMs,
      signal: opts.signal,
      ctx: opts.ctx,
      listedKey: sent.listed ? sent.key : undefined,
      run: (lease) => opts.next({ ctx: { idempotency: scopeOf(call, sent.key, lease) } }),
      storeCalls: 0,
      resolverMs: 0,
    };
    const answer = await resolveCall(call);
    if (answer.kind === 'ran') return answer.result;
    markReplayed(opts.ctx, call.listedKey);
    // tRPC has no public way to answer without calling next(); its result is a plain object whose
    // `marker` brand is this string at runtime (middleware.ts in @trpc/server).
    const { outcome } = answer;
    const result = outcome.ok
      ? { ok: true, data: outcome.data, marker: 'middlewareMarker' }
      : { ok: false, error: outcome.error, marker: 'middlewareMarker' };
    return result as unknown as Awaited<ReturnType<typeof runKeyless>>;
  });

  /** `ctx.idempotency` for one execution of a keyed call: its steps are stored under `lease`. */
  function scopeOf(call: Call<unknown>, key: string, lease: Lease): IdempotencyScope {
    return executionScope({
      key,
      id: call.id,
      path: call.path,
      fingerprint: call.fingerprint,
      lease,
      store,
      ttlSeconds: call.policy.ttlSeconds,
      superjson: config.superjson,
      mismatch: () => inputMismatch(config.headerName, call.path),
      onStoreError: (error) =>
        emit(call, error instanceof NotReplicatedError ? 'not-replicated' : 'store-error', { error }),
      cipher: config.cipher,
      unreadable: (error) => {
        emit(call, 'integrity-error', { error });
        return recordUnreadable(call.path, error);
      },
    });
  }

  /** Joins a call already in flight in this process, or leads one. */
  async function resolveCall<R extends CallOutcome>(call: Call<R>): Promise<Answer<R>> {
    for (let landed = flights.join(call.id); landed; landed = flights.join(call.id)) {
      // concurrent: 'conflict' (a deadline already passed): answer at once, without waiting.
      if (call.deadline <= call.startedAt) throw conflict(call);
      const record = await waitFor(call, landed);
      if (record) return fromRecord(call, record, 'wait');
      // The flight left nothing to replay (an uncached error): try again, maybe as the leader.
    }
    const flight = flights.start(call.id, call.path, call.startedAt);
    let shared: Shared = null;
    try {
      const led = await lead(call);
      shared = led.record;
      return led.answer;
    } finally {
      flights.end(call.id, flight, shared);
    }
  }

  /** Claims the record id; replays, runs, or waits on the store's notifications and tries again. */
  async function lead<R extends CallOutcome>(call: Call<R>): Promise<{ answer: Answer<R>; record: Shared }> {
    let watch: Watch | undefined;
    let waited = false;
    try {
      for (;;) {
        let claim: Claim;
        try {
          call.storeCalls++;
          claim = await store.claim(call.id, call.policy.lockTtlMs);
        } catch (error) {
          // Damaged in the store: as with a failed integrity check, neither replayed nor run again.
          if (error instanceof RecordUnreadableError) throw unreadable(call, error);
          throw storeFailed(call, error);
        }
        if (claim.status === 'done') {
          return { answer: fromRecord(call, claim.record, waited ? 'wait' : 'hit'), record: claim.record };
        }
        if (claim.status === 'claimed') {
          watch?.close();
          watch = undefined;
          return await execute(call, claim.lease);
        }
        waited = true;
        const remaining = call.deadline - performance.now();
        if (remaining <= 0) throw conflict(call);
        if (!watch) {
          // Subscribe, then claim again: a completion between the two is then seen either way.
          call.storeCalls++;
          watch = await openWatch(store, call.id, remaining);
          continue;
        }
        // Woken by the holder's completion (which carries the record) or release; the timer takes
        // over from a crashed holder.
        const completed = await waitFor(call, watch.next(Math.min(claim.retryAfterMs + TAKEOVER_MARGIN_MS, remaining)));
        if (completed) return { answer: fromRecord(call, completed, 'wait'), record: completed };
      }
    } finally {
      watch?.close();
    }
  }

  /** Runs the resolver under the lease, keeps the lease alive, then stores the result. */
  async function execute<R extends CallOutcome>(call: Call<R>, lease: Lease) {
    const held = leases.hold(lease, call, call.policy.lockTtlMs);
    let result: R;
    const ranAt = performance.now();
    try {
      result = await call.run(lease);
    } catch (error) {
      held.release();
      await store.release(lease).catch((e: unknown) => emit(call, 'store-error', { error: e }));
      throw error;
    }
    held.release();
    call.resolverMs = performance.now() - ranAt; // the overhead telemetry reports is the rest
    const record = recordFor(result, {
      fingerprint: call.fingerprint,
      maxResultBytes: config.maxResultBytes,
      cacheErrors: call.policy.cacheErrors,
      superjson: config.superjson,
      sealWith: recordSealing(config.cipher, call.id),
    });
    const answer = { kind: 'ran', result } as Answer<R>;
    const storing = storeResult(call, lease, record);
    if (!config.replyBeforeStored) return { answer, record: await storing };
    // The batcher sends on the next tick: let the COMPLETE leave before this reply's own work.
    await new Promise((resolve) => process.nextTick(resolve));
    return { answer, record: storing };
  }

  /**
   * Stores the record (or drops the lock when there is none). Resolves with what this process's
   * waiters get: the record, unless another holder's is the one stored.
   */
  async function storeResult(
    call: Call<unknown>,
    lease: Lease,
    record: StoredRecord | null,
  ): Promise<StoredRecord | null> {
    let shared = record;
    call.storeCalls++; // the completion or release below
    try {
      if (!record) {
        await store.release(lease);
      } else if (!(await store.complete(lease, record, call.policy.ttlSeconds))) {
        shared = null; // they claim again, and replay what was stored
        emit(call, 'lock-lost', {
          error: new Error('another holder took the lock or stored a record first; this result was not stored'),
        });
      }
    } catch (error) {
      // The resolver ran: return its result rather than invite a retry that would run it again.
      emit(call, error instanceof NotReplicatedError ? 'not-replicated' : 'store-error', { error });
    }
    emit(call, 'miss');
    return shared;
  }

  function fromRecord<R>(call: Call<R>, stored: StoredRecord, type: 'hit' | 'wait'): Answer<R> {
    let record: StoredRecord;
    try {
      record = openRecord(stored, recordSealing(config.cipher, call.id));
    } catch (error) {
      throw unreadable(call, error);
    }
    if (record.fingerprint !== call.fingerprint) {
      emit(call, 'mismatch');
      throw inputMismatch(config.headerName, call.path);
    }
    let outcome: CallOutcome;
    try {
      outcome = replay(record, call.path, config.superjson);
    } catch (error) {
      throw unreadable(call, error);
    }
    emit(call, type, type === 'wait' ? { waitedMs: performance.now() - call.startedAt } : undefined);
    return { kind: 'replayed', outcome };
  }

  /** A stored record that cannot be opened: never replayed, and never run again (it may well have happened). */
  function unreadable(call: Call<unknown>, error: unknown): TRPCError {
    emit(call, 'integrity-error', { error });
    return recordUnreadable(call.path, error);
  }

  /** A store operation a call cannot go on without failed: fail closed (SERVICE_UNAVAILABLE). */
  function storeFailed(call: Call<unknown>, error: unknown): TRPCError {
    emit(call, 'store-error', { error });
    return storeUnavailable(error);
  }

  function conflict(call: Call<unknown>): TRPCError {
    const waitedMs = Math.round(performance.now() - call.startedAt);
    emit(call, 'conflict', { waitedMs });
    setRetryAfter(call.ctx, CONFLICT_RETRY_AFTER_MS);
    // A batch shares its Retry-After: say which of its CONFLICTs the hint is for.
    if (call.listedKey !== undefined) markConflict(call.ctx, call.listedKey);
    return stillRunning(call.path, waitedMs, CONFLICT_RETRY_AFTER_MS);
  }

  const waitFailures: WaitFailures<Call<unknown>> = {
    deadline: conflict,
    clientGone: (call) => clientClosed(call.path),
  };

  /** Waits for `promise`, but no longer than this call's deadline (CONFLICT) or its client (499). */
  function waitFor<T>(call: Call<unknown>, promise: Promise<T>): Promise<T> {
    return waitWithin(call, promise, waitFailures);
  }

  return {
    middleware,
    get inFlight() {
      return flights.size;
    },
    checkRouter: policy.checkRouter,
    ...createAdmin({
      store,
      flights: flights.calls,
      headerName: config.headerName,
      superjson: config.superjson,
      cipher: config.cipher,
      anonymous: config.anonymous,
    }),
  };
}

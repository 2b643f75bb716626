/**
 * Soak: mixed load across server processes on one Redis for STRESS_SECONDS (default 60), then checks
 * that nothing ran twice, no result was lost, and nothing leaked. `npm run test:stress`.
 * Exits 1 on any violation. Env: STRESS_SECONDS, STRESS_SERVERS (3), STRESS_WORKERS (32),
 * STRESS_ENCRYPTION (default on; '0' stores in clear). A share of the calls run durable steps, and
 * some throw after them and are retried: every step must have run once.
 *
 * Memory: each server reports its V8 heap after a forced full GC at the start, at the middle and at
 * the end, and its RSS. A leak grows the heap after GC; RSS also grows while V8 sizes its heap for
 * the load (105 -> 217 MB in 60 s with a flat heap), so only heap growth over the second half fails.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { scopeKey } from '../../src/key';
import { ledgerKeys } from '../helpers/child-app';
import type { ChildStats } from '../helpers/child-server';
import { type RedisServer, startRedis } from '../helpers/redis-server';
import { type ChildServer, type Settled, settle, startChildServer } from '../helpers/server-pool';

const seconds = Number(process.env.STRESS_SECONDS ?? 60);
const serverCount = Number(process.env.STRESS_SERVERS ?? 3);
const workers = Number(process.env.STRESS_WORKERS ?? 32);
const users = ['u1', 'u2', 'u3', 'u4', 'u5'];
const encrypted = process.env.STRESS_ENCRYPTION !== '0';
const EXPECTED_ERRORS = new Set(['BAD_REQUEST', 'UNPROCESSABLE_CONTENT', 'CONFLICT']);
/** Heap growth after GC over the second half that counts as a leak (a fraction of its mid-run size). */
const MAX_HEAP_GROWTH = 0.1;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)] as T;

interface Completed {
  key: string;
  user: string;
  nonce: string;
  ms: number;
  /** Durable steps its resolver ran (each must have run once). */
  steps: number;
}

/** Steps in the calls that use them, and the share of new keys that do. */
const STEPS = 2;
const STEP_SHARE = 0.3;

const stats = {
  calls: 0,
  newKeys: 0,
  replays: 0,
  bursts: 0,
  failures: 0,
  mismatches: 0,
  errorsByCode: new Map<string, number>(),
  resumed: 0,
  lostResults: [] as string[],
  unexpected: [] as string[],
};
const completed: Completed[] = [];
const failedTags = new Set<string>();
/** Calls whose first attempt threw after its steps, then were retried. */
const resumedTags: string[] = [];
let seq = 0;

function count(r: Settled<unknown>): void {
  stats.calls += 1;
  if (!r.ok) stats.errorsByCode.set(r.code, (stats.errorsByCode.get(r.code) ?? 0) + 1);
}

type ExecResult = { nonce: string; user: string | null; steps: string[] };

async function main(): Promise<number> {
  const started = Date.now();
  const [store, ledgerServer]: RedisServer[] = await Promise.all([startRedis(), startRedis()]);
  const ledger = new Redis(ledgerServer!.url);
  const storeAdmin = new Redis(store!.url);
  // Two keys, listed in a different order on alternate servers: records sealed by one server's current
  // key are opened by the others with their previous one, as during a rotation.
  const keys = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
  const servers: ChildServer[] = await Promise.all(
    Array.from({ length: serverCount }, (_, i) =>
      startChildServer({
        redis: { url: store!.url },
        ledgerUrl: ledgerServer!.url,
        lockTtlMs: 1_000,
        waitTimeoutMs: 10_000,
        // A small record cache fills in the first seconds: its growth is not mistaken for a leak.
        cache: { maxEntries: 500 },
        ...(encrypted ? { encryptionKeys: i % 2 ? [keys[1]!, keys[0]!] : [keys[0]!, keys[1]!] } : {}),
      }),
    ),
  );
  const exec = (
    s: ChildServer,
    key: string,
    user: string,
    input: { ms: number; fail?: boolean; failFirst?: boolean; steps?: number; payload?: unknown },
  ) =>
    settle(
      s.client.exec.mutate({ tag: `${user}/${key}`, ...input }, { context: { key, user } }) as Promise<ExecResult>,
    );

  try {
    // Warm up every server, then take the idle baseline.
    for (const s of servers) await exec(s, `warm-${s.pid}`, 'u1', { ms: 0 });
    await sleep(1_500);
    const before = await Promise.all(servers.map((s) => s.stats()));
    console.log(
      `soak: ${serverCount} servers, ${workers} workers, ${seconds} s, encryption ${encrypted ? 'on' : 'off'}`,
    );

    const deadline = Date.now() + seconds * 1_000;
    // The second half's start, under load: the heap's baseline for the leak check.
    const midway = sleep((seconds * 1_000) / 2).then(() => Promise.all(servers.map((s) => s.stats())));
    const worker = async () => {
      while (Date.now() < deadline) {
        const roll = Math.random();
        const user = pick(users);
        if (roll < 0.35 || completed.length < 20) {
          const key = `k${++seq}`;
          const ms = Math.floor(Math.random() * 30);
          const steps = Math.random() < STEP_SHARE ? STEPS : 0;
          const r = await exec(pick(servers), key, user, { ms, steps });
          count(r);
          stats.newKeys += 1;
          if (r.ok) completed.push({ key, user, nonce: r.value.nonce, ms, steps });
          else stats.unexpected.push(`new key ${key}: ${r.code} ${r.message}`);
        } else if (roll < 0.6) {
          const c = pick(completed);
          const r = await exec(pick(servers), c.key, c.user, { ms: c.ms, steps: c.steps });
          count(r);
          stats.replays += 1;
          if (!r.ok || r.value.nonce !== c.nonce)
            stats.lostResults.push(`${c.user}/${c.key}: ${r.ok ? 'different result' : r.code}`);
        } else if (roll < 0.85) {
          const key = `b${++seq}`;
          const ms = 20 + Math.floor(Math.random() * 80);
          const copies = 3 + Math.floor(Math.random() * 6);
          const steps = Math.random() < STEP_SHARE ? STEPS : 0;
          const rs = await Promise.all(
            Array.from({ length: copies }, () => exec(pick(servers), key, user, { ms, steps })),
          );
          rs.forEach(count);
          stats.bursts += 1;
          const nonces = new Set(rs.map((r) => (r.ok ? r.value.nonce : `error ${r.ok ? '' : r.code}`)));
          if (nonces.size !== 1 || !rs[0]?.ok) {
            // A lost lock (a process stalled past lockTtlMs) is the documented at-least-once window: say so.
            const id = scopeKey(user, 'exec', key);
            const lost = servers.some((s) => s.events.some((e) => e.type === 'lock-lost' && e.key === id));
            stats.unexpected.push(`burst ${key}: ${[...nonces].join(', ')}${lost ? ' (lock-lost reported)' : ''}`);
          } else completed.push({ key, user, nonce: rs[0].value.nonce, ms, steps });
        } else if (roll < 0.9) {
          // An attempt that throws after its steps; the retry, on any server, resumes after them.
          const key = `r${++seq}`;
          const input = { ms: 5, steps: STEPS, failFirst: true };
          const first = await exec(pick(servers), key, user, input);
          const retry = await exec(pick(servers), key, user, input);
          count(first);
          count(retry);
          stats.resumed += 1;
          resumedTags.push(`${user}/${key}`);
          if (first.ok || first.code !== 'BAD_REQUEST')
            stats.unexpected.push(`resumed ${key}, first attempt: ${first.ok ? 'succeeded' : first.code}`);
          else if (!retry.ok || !retry.value.steps.every((v) => v.endsWith('in execution 1')))
            stats.unexpected.push(`resumed ${key}, retry: ${retry.ok ? `steps ${retry.value.steps}` : retry.code}`);
        } else if (roll < 0.95) {
          const key = `f${++seq}`;
          failedTags.add(`${user}/${key}`);
          const r = await exec(pick(servers), key, user, { ms: 5, fail: true });
          count(r);
          stats.failures += 1;
          if (r.ok || r.code !== 'BAD_REQUEST')
            stats.unexpected.push(`failing call ${key}: ${r.ok ? 'succeeded' : r.code}`);
        } else {
          const c = pick(completed);
          const r = await exec(pick(servers), c.key, c.user, { ms: c.ms, payload: 'different' });
          count(r);
          stats.mismatches += 1;
          if (r.ok || r.code !== 'UNPROCESSABLE_CONTENT')
            stats.unexpected.push(`mismatch ${c.key}: ${r.ok ? 'succeeded' : r.code}`);
        }
      }
    };
    await Promise.all(Array.from({ length: workers }, worker));
    const middle = await midway;

    // Final pass: every completed key once more, from a random server.
    for (let i = 0; i < completed.length; i += 50) {
      await Promise.all(
        completed.slice(i, i + 50).map(async (c) => {
          const r = await exec(pick(servers), c.key, c.user, { ms: c.ms, steps: c.steps });
          count(r);
          if (!r.ok || r.value.nonce !== c.nonce)
            stats.lostResults.push(`final ${c.user}/${c.key}: ${r.ok ? 'different result' : r.code}`);
        }),
      );
    }

    // Executions per key, from the ledger.
    const tags = completed.map((c) => `${c.user}/${c.key}`);
    let executions = 0;
    const duplicates: string[] = [];
    for (let i = 0; i < tags.length; i += 500) {
      const chunk = tags.slice(i, i + 500);
      const values = await ledger.mget(chunk.map(ledgerKeys.started));
      values.forEach((v, j) => {
        executions += Number(v);
        if (Number(v) !== 1) duplicates.push(`${chunk[j]} ran ${v} times`);
      });
    }

    // Step executions: every step of a completed call, or of a resumed one, ran exactly once.
    const stepTags = [...completed.filter((c) => c.steps > 0).map((c) => `${c.user}/${c.key}`), ...resumedTags].flatMap(
      (tag) => Array.from({ length: STEPS }, (_, i) => ({ tag, i })),
    );
    let stepRuns = 0;
    for (let i = 0; i < stepTags.length; i += 500) {
      const chunk = stepTags.slice(i, i + 500);
      const values = await ledger.mget(chunk.map(({ tag, i: step }) => ledgerKeys.step(tag, step)));
      values.forEach((v, j) => {
        stepRuns += Number(v);
        if (Number(v) !== 1) duplicates.push(`${chunk[j]!.tag} step ${chunk[j]!.i} ran ${v} times`);
      });
    }

    // Idle: every timer, subscription and listener should be back to the baseline.
    const after = await settleToBaseline(servers, before);
    // Record channels, that is: the forget channel is subscribed for the store's lifetime.
    const channels = ((await storeAdmin.pubsub('CHANNELS', 'idem:*')) as string[]).filter(
      (c) => c !== 'idem:forgotten',
    );
    const locks = await storeAdmin.keys('idem:*:l');

    const leaks: string[] = [];
    servers.forEach((s, i) => {
      const b = before[i]!;
      const a = after[i]!;
      if (a.inFlight !== 0) leaks.push(`server ${s.pid}: inFlight ${a.inFlight}`);
      const timers = (x: ChildStats) => x.resources.filter((r) => r === 'Timeout').length;
      if (timers(a) > timers(b)) leaks.push(`server ${s.pid}: ${timers(a) - timers(b)} timers more than at the start`);
      const grown = a.heapUsedAfterGcBytes / middle[i]!.heapUsedAfterGcBytes - 1;
      if (grown > MAX_HEAP_GROWTH)
        leaks.push(`server ${s.pid}: heap after GC grew ${(grown * 100).toFixed(1)} % over the second half`);
      for (const [event, n] of Object.entries(a.redisListeners)) {
        if (n > (b.redisListeners[event] ?? 0))
          leaks.push(`server ${s.pid}: ${n - (b.redisListeners[event] ?? 0)} more ioredis '${event}' listeners`);
      }
    });
    if (channels.length > 0)
      leaks.push(`${channels.length} pub/sub channels still subscribed: ${channels.slice(0, 5).join(', ')}`);
    if (locks.length > 0) leaks.push(`${locks.length} lock keys left behind`);

    const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;
    console.log(`duration:               ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(
      `calls:                  ${stats.calls} (new keys ${stats.newKeys}, replays ${stats.replays}, bursts ${stats.bursts}, failing ${stats.failures}, resumed after steps ${stats.resumed}, mismatches ${stats.mismatches})`,
    );
    console.log(`durable steps:          ${stepTags.length} (runs ${stepRuns})`);
    console.log(`unique completed keys:  ${tags.length}`);
    console.log(`executions (completed): ${executions}`);
    console.log(`duplicate executions:   ${duplicates.length}`);
    console.log(`lost results:           ${stats.lostResults.length}`);
    console.log(`unexpected outcomes:    ${stats.unexpected.length}`);
    console.log(`errors by code:         ${JSON.stringify(Object.fromEntries(stats.errorsByCode))}`);
    const timerCount = (x: ChildStats) => x.resources.filter((r) => r === 'Timeout').length;
    const listenerCount = (x: ChildStats) => Object.values(x.redisListeners).reduce((n, v) => n + v, 0);
    servers.forEach((s, i) => {
      const b = before[i]!;
      const a = after[i]!;
      const m = middle[i]!;
      console.log(
        `server ${s.pid}:          heap after GC ${mb(b.heapUsedAfterGcBytes)} -> ${mb(m.heapUsedAfterGcBytes)} (middle) -> ${mb(a.heapUsedAfterGcBytes)}, ` +
          `RSS ${mb(b.rssBytes)} -> ${mb(m.rssBytes)} -> ${mb(a.rssBytes)}, timers ${timerCount(b)} -> ${timerCount(a)}, ` +
          `ioredis listeners ${listenerCount(b)} -> ${listenerCount(a)}, inFlight ${a.inFlight}`,
      );
    });
    console.log(`pub/sub channels left:  ${channels.length}, lock keys left: ${locks.length}`);
    console.log(`leaks:                  ${leaks.length ? leaks.join('; ') : 'none'}`);
    const eventCount = (type: string) =>
      servers.reduce((n, s) => n + s.events.filter((e) => e.type === type).length, 0);
    console.log(
      `events:                 lock-lost ${eventCount('lock-lost')}, integrity-error ${eventCount('integrity-error')}, store-error ${eventCount('store-error')}`,
    );

    const violations = [
      ...duplicates,
      ...stats.lostResults,
      ...stats.unexpected,
      ...leaks,
      // Every server holds every key: no record may fail to open.
      ...(eventCount('integrity-error') > 0 ? [`${eventCount('integrity-error')} records failed to open`] : []),
      ...[...stats.errorsByCode.keys()]
        .filter((code) => !EXPECTED_ERRORS.has(code))
        .map((code) => `unexpected error code ${code}`),
    ];
    if (violations.length) {
      console.error(`VIOLATIONS (${violations.length}):\n  ${violations.slice(0, 30).join('\n  ')}`);
      return 1;
    }
    console.log('OK');
    return 0;
  } finally {
    await Promise.all(servers.map((s) => s.close()));
    ledger.disconnect();
    storeAdmin.disconnect();
    await Promise.all([store!.stop(), ledgerServer!.stop()]);
  }
}

/** Polls the servers until they are back to their idle baseline, or 10 s have passed. */
async function settleToBaseline(servers: ChildServer[], before: ChildStats[]): Promise<ChildStats[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const now = await Promise.all(servers.map((s) => s.stats()));
    const idle = now.every(
      (a, i) =>
        a.inFlight === 0 &&
        a.resources.filter((r) => r === 'Timeout').length <= before[i]!.resources.filter((r) => r === 'Timeout').length,
    );
    if (idle || Date.now() > deadline) return now;
    await sleep(250);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

/**
 * What encryption at rest costs: the same mutation through createIdempotency on one redis-server,
 * with and without `encryption`, in interleaved blocks (first calls and replays), and the cipher
 * alone on a 1 KiB result. Ratios are within one run. Called by bench/main.ts; also
 * `tsx --expose-gc bench/encryption.ts` on its own.
 */
import { randomBytes } from 'node:crypto';
import { initTRPC } from '@trpc/server';
import { Redis } from 'ioredis';
import { createIdempotency, type IdempotencyStore, redisStore } from '../src';
import { createCipher } from '../src/encryption';
import { startRedis } from '../tests/helpers/redis-server';
import { median } from './stats';

const BLOCKS = Math.max(2, Math.round(8 * Number(process.env.BENCH_SCALE ?? 1)));
const CALLS_PER_BLOCK = 250;
const gc = (globalThis as { gc?: () => void }).gc;

/** Medians in µs per call, and on/off ratios. */
export interface EncryptionResult {
  firstUs: { off: number; on: number; ratio: number };
  replayUs: { off: number; on: number; ratio: number };
  cipher1KiB: { sealUs: number; openUs: number };
}

type Ctx = { headers: Record<string, string>; user: { id: string } };

function app(store: IdempotencyStore, encrypted: boolean) {
  const t = initTRPC.context<Ctx>().create();
  const idempotency = createIdempotency<Ctx>({
    store,
    ...(encrypted ? { encryption: { keys: [randomBytes(32)] } } : {}),
  });
  const router = t.router({
    create: t.procedure.use(idempotency.middleware).mutation(() => ({
      id: randomBytes(8).toString('hex'),
      lines: Array.from({ length: 8 }, (_, i) => ({ sku: `sku-${i}`, qty: i, price: 1999 })),
    })),
  });
  const caller = t.createCallerFactory(router);
  return (key: string) => caller({ headers: { 'idempotency-key': key }, user: { id: 'bench' } }).create();
}

/** Mean µs per call of `calls` sequential calls. */
async function block(call: (key: string) => Promise<unknown>, keys: string[]): Promise<number> {
  const start = performance.now();
  for (const key of keys) await call(key);
  return ((performance.now() - start) * 1000) / keys.length;
}

function cipherCost(): EncryptionResult['cipher1KiB'] {
  const cipher = createCipher({ keys: [randomBytes(32)] });
  const text = JSON.stringify({ json: { blob: 'x'.repeat(1000) } });
  const n = 20_000;
  let sealed = '';
  let start = performance.now();
  for (let i = 0; i < n; i++) sealed = cipher.seal(text, 'record-id');
  const sealUs = ((performance.now() - start) * 1000) / n;
  start = performance.now();
  for (let i = 0; i < n; i++) cipher.open(sealed, 'record-id');
  return { sealUs, openUs: ((performance.now() - start) * 1000) / n };
}

export async function measureEncryption(): Promise<EncryptionResult> {
  const server = await startRedis();
  const redis = new Redis(server.url);
  // No record cache: every replay reads and decodes the record, as after a restart or on another process.
  const stores = [redisStore({ redis, cache: false }), redisStore({ redis, cache: false })];
  const calls = { off: app(stores[0]!, false), on: app(stores[1]!, true) };
  const samples = {
    first: { off: [] as number[], on: [] as number[] },
    replay: { off: [] as number[], on: [] as number[] },
  };
  try {
    for (let b = 0; b < BLOCKS; b++) {
      // Alternate which goes first, so that neither always pays for the other's garbage.
      for (const mode of b % 2 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
        const keys = Array.from({ length: CALLS_PER_BLOCK }, (_, i) => `${mode}-${b}-${i}`);
        gc?.();
        samples.first[mode].push(await block(calls[mode], keys));
        gc?.();
        samples.replay[mode].push(await block(calls[mode], keys));
      }
    }
  } finally {
    await Promise.all(stores.map((s) => s.close()));
    redis.disconnect();
    await server.stop();
  }
  const pair = (s: { off: number[]; on: number[] }) => {
    const off = median(s.off);
    const on = median(s.on);
    return { off: Math.round(off), on: Math.round(on), ratio: Number((on / off).toFixed(3)) };
  };
  return { firstUs: pair(samples.first), replayUs: pair(samples.replay), cipher1KiB: cipherCost() };
}

export function printEncryption(r: EncryptionResult): void {
  console.log('\nencryption at rest (AES-256-GCM), median µs per sequential call, on / off in one run:');
  console.log(`  first call: ${r.firstUs.on} / ${r.firstUs.off} µs (×${r.firstUs.ratio})`);
  console.log(`  replay:     ${r.replayUs.on} / ${r.replayUs.off} µs (×${r.replayUs.ratio})`);
  console.log(
    `  cipher alone, 1 KiB: seal ${r.cipher1KiB.sealUs.toFixed(1)} µs, open ${r.cipher1KiB.openUs.toFixed(1)} µs`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printEncryption(await measureEncryption());
}

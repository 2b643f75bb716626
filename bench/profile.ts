/**
 * Where a call's CPU goes (npm run bench:profile): one contender, first calls (or replays) at
 * concurrency 32 on a private redis-server, under V8's sampling profiler for the measured calls
 * only. Prints self time by package and by function, and CPU per call, and writes the profile to
 * <tmpdir>/profile-<contender>-<kind>.cpuprofile (open it in Chrome DevTools).
 * Usage: npm run bench:profile -- [contender id, default redis] [first|replay] [calls, default 20000]
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis } from '../tests/helpers/redis-server';
import { makeBenchApp } from './app';
import { contender } from './contenders';
import { cpuPerCall } from './cpu';
import { RedisProbe } from './redis-stats';

const [id = 'redis', kind = 'first', count = '20000'] = process.argv.slice(2);
const calls = Number(count);
const redis = await startRedis();
const probe = new RedisProbe(redis.url);
const instance = await contender(id).create(redis.url);
const app = makeBenchApp(instance.middleware);
const create = (key: string) => app.caller(key).create({ sku: 'sku-1' });
const keyOf = (i: number) => (kind === 'first' ? `p-${i}` : `w-${i % 1000}`);

// Warm-up: scripts loaded, the JIT settled, and the keys a replay run reads stored.
await cpuPerCall((i) => create(`w-${i}`), { calls: 5000 });

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 50 });
await session.post('Profiler.start');
const cpu = await cpuPerCall((i) => create(keyOf(i)), { calls, probe });
const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: Profile };
session.disconnect();

/** Which part of the stack a frame belongs to: ours, a package, Node, or V8 itself. */
function owner(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1]) return pkg[1];
  if (url.includes('/dist/')) return 'trpc-idempotency';
  if (url.startsWith('node:')) return 'node';
  return url.replace(/^file:\/\/.*\/(bench|tests|src)\//, '$1/');
}

// A native frame (a socket write, a hash) is billed to the JavaScript that called it.
const parentOf = new Map<number, Node>();
for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node);
function billedOwner(node: Node): string {
  const { url, functionName } = node.callFrame;
  const parent = parentOf.get(node.id);
  if (!url && !functionName.startsWith('(') && parent) return billedOwner(parent);
  return owner(url, functionName);
}

const self = new Map<number, number>();
profile.samples.forEach((node, i) => {
  self.set(node, (self.get(node) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
const byOwner = new Map<string, number>();
const byFunction = new Map<string, number>();
for (const node of profile.nodes) {
  const t = self.get(node.id) ?? 0;
  const { functionName, url, lineNumber } = node.callFrame;
  const who = billedOwner(node);
  byOwner.set(who, (byOwner.get(who) ?? 0) + t);
  const fn = `${functionName || '(anonymous)'} ${url ? `${who}:${lineNumber + 1}` : `(native, from ${who})`}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + t);
}
const top = (m: Map<string, number>, n: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, t]) => `  ${((100 * t) / total).toFixed(1).padStart(5)} %  ${name}`)
    .join('\n');

console.log(
  `${id}, ${kind} calls: ${cpu.nodeMicros.toFixed(1)} µs Node CPU and ${cpu.redisMicros?.toFixed(1)} µs Redis CPU per call (${calls} calls at concurrency 32, under the profiler)`,
);
console.log(`\nself time by owner (native code billed to its JavaScript caller)\n${top(byOwner, 15)}`);
console.log(`\nself time by function\n${top(byFunction, 40)}`);
const file = join(tmpdir(), `profile-${id}-${kind}.cpuprofile`);
writeFileSync(file, JSON.stringify(profile));
console.log(`\nwrote ${file}`);
await instance.close();
await probe.close();
await redis.stop();
process.exit(0);

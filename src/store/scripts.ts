import { createHash } from 'node:crypto';

/** A Lua script and its SHA1, so the hot path can send EVALSHA. */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

/**
 * A script whose calls can also run many at a time: `many` takes the keys and args of several
 * calls back to back and answers, per call, `{1, reply}` or `{0, error message}`. Concurrent
 * calls then cost Redis (and ioredis) one command instead of one each.
 */
export interface BatchableScript extends LuaScript {
  readonly keysPerCall: number;
  readonly argsPerCall: number;
  readonly many: LuaScript;
}

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

function script(name: string, source: string): LuaScript {
  const trimmed = source.trim();
  return { name, source: trimmed, sha: sha1(trimmed) };
}

/**
 * The same body twice: as is for one call, and inside a function (whose KEYS and ARGV shadow the
 * globals) run once per call for many. A call that raises an error fails alone.
 */
function batchable(name: string, keysPerCall: number, argsPerCall: number, source: string): BatchableScript {
  const one = script(name, source);
  const many = script(
    `${name} (many)`,
    `
local function one(KEYS, ARGV)
${one.source}
end
local out = {}
for i = 0, #ARGV / ${argsPerCall} - 1 do
  local keys, args = {}, {}
  for j = 1, ${keysPerCall} do keys[j] = KEYS[i * ${keysPerCall} + j] end
  for j = 1, ${argsPerCall} do args[j] = ARGV[i * ${argsPerCall} + j] end
  local ok, reply = pcall(one, keys, args)
  if ok then
    out[i + 1] = {1, reply}
  else
    out[i + 1] = {0, type(reply) == 'table' and reply.err or tostring(reply)}
  end
end
return out
`,
  );
  return { ...one, keysPerCall, argsPerCall, many };
}

/**
 * claim: return the record if there is one, else take the lock, else say who has it.
 * The lock is a Redlock lock (key = token, PX ttl) on a quorum of one, fused with the record
 * check so that a first call or a replay costs one round trip. A new holder also learns whether
 * an earlier attempt left durable steps: most did not, and its first step then needs no read.
 *   KEYS[1] record key    KEYS[2] lock key    KEYS[3] steps key
 *   ARGV[1] lock token    ARGV[2] lock ttl in ms
 * Returns {1, record, pttl} a record exists (pttl: its remaining life, for local caching)
 *       | {2, pttl} another holder has the lock
 *       | {3, steps} locked by ARGV[1]; steps is 1 when an earlier attempt stored steps, else 0
 */
export const CLAIM = batchable(
  'claim',
  3,
  2,
  `
local record = redis.call('GET', KEYS[1])
if record then return {1, record, redis.call('PTTL', KEYS[1])} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {3, redis.call('EXISTS', KEYS[3])} end
return {2, redis.call('PTTL', KEYS[2])}
`,
);

/**
 * complete: store a holder's record and wake the waiters, unless another holder has the lock
 * or already stored a record (a holder that lost its lock never overwrites). Under a Redlock
 * quorum this fences on the record store's own copy of the lock, when it is one of the masters.
 *   KEYS[1] record key    KEYS[2] lock key
 *   ARGV[1] lock token    ARGV[2] encoded record    ARGV[3] record ttl in s
 *   ARGV[4] notification channel
 * Publishes the record itself, so that waiters need no round trip to read it.
 * Returns 1 stored | 0 nothing written
 */
export const COMPLETE = batchable(
  'complete',
  2,
  4,
  `
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return 0 end
if not redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3], 'NX') then return 0 end
if holder then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[4], ARGV[2])
return 1
`,
);

/**
 * release: drop the lock if this token holds it, and wake the waiters so one can take over
 * (the message '0' carries no record: they claim again).
 *   KEYS[1] lock key    ARGV[1] lock token    ARGV[2] notification channel
 * Returns 1 released | 0 the token did not hold the lock
 */
export const RELEASE = batchable(
  'release',
  1,
  2,
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], '0')
return 1
`,
);

/**
 * save step: store one step's result in the record id's step hash, fenced by the lock token as
 * COMPLETE is: nothing is written while another token holds the lock (under a Redlock quorum: the
 * record store's own copy of it, when it is one of the masters) or once the record is stored. The
 * first value stored for a name wins; a later one gets it back. The hash lives as long as a record.
 *   KEYS[1] step hash key    KEYS[2] lock key    KEYS[3] record key
 *   ARGV[1] lock token    ARGV[2] step name    ARGV[3] encoded value    ARGV[4] ttl in s
 * Returns {1} saved | {2, value} a value was already saved for this name | {0} lost (nothing written)
 */
export const SAVE_STEP = batchable(
  'save step',
  3,
  4,
  `
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return {0} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {0} end
local first = redis.call('HGET', KEYS[1], ARGV[2])
if first then return {2, first} end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {1}
`,
);

/**
 * extend (given to redlock in place of its own): extend the lock where this token holds it, and
 * take it where nobody does. A holder whose quorum lost a master (say it held masters 2 and 3 of 3,
 * and 3 dies) then rebuilds a quorum on the others instead of losing the lock under a running
 * mutation. Safe because two majorities always share a master: where another token holds the key,
 * the vote is against, so a lock held by someone else can never gather a quorum here.
 *   KEYS the lock key(s)    ARGV[1] lock token    ARGV[2] ttl in ms
 * Returns the number of keys extended (#KEYS), or 0 when another token holds one
 */
export const EXTEND = script(
  'extend',
  `
for _, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if holder and holder ~= ARGV[1] then return 0 end
end
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
end
return #KEYS
`,
);

/**
 * forget (admin, never on the request path): delete a call's record and its durable steps, unless
 * a call holds the lock; forced, delete the lock too and wake the waiters so that one runs again.
 * A deleted record is announced on the store's forget channel, so that no process's cache replays it.
 *   KEYS[1] record key    KEYS[2] lock key    KEYS[3] steps key
 *   ARGV[1] '1' to force    ARGV[2] notification channel    ARGV[3] forget channel    ARGV[4] record id
 * Returns {0} nothing was there | {1} forgotten | {2, pttl} a call holds the lock: nothing deleted
 */
export const FORGET = script(
  'forget',
  `
local pttl = redis.call('PTTL', KEYS[2])
if pttl ~= -2 and ARGV[1] ~= '1' then return {2, pttl} end
local deleted = redis.call('DEL', KEYS[1], KEYS[3])
if deleted > 0 then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
if pttl ~= -2 then
  redis.call('DEL', KEYS[2])
  redis.call('PUBLISH', ARGV[2], '0')
  return {1}
end
if deleted > 0 then return {1} end
return {0}
`,
);

/** The minimal client surface the scripts need; both ioredis `Redis` and `Cluster` have it. */
export interface ScriptClient {
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  eval(source: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/**
 * Whether a server answered that it has not seen a script (new, or restarted). ioredis' Cluster
 * wraps that reply ("Too many Cluster redirections. Last error: ReplyError: NOSCRIPT ..."), so
 * look inside the message, not at its start.
 */
export function isNoScript(error: unknown): boolean {
  return String((error as Error | null)?.message).includes('NOSCRIPT');
}

/** EVALSHA, falling back to EVAL once on a server that has not seen the script (after a restart). */
export async function runScript(
  client: ScriptClient,
  lua: LuaScript,
  keys: string[],
  args: (string | number)[],
): Promise<unknown> {
  try {
    return await client.evalsha(lua.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    return client.eval(lua.source, keys.length, ...keys, ...args);
  }
}

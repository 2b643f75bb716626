/**
 * Fast paths for values that superjson would leave as they are: plain objects and arrays of
 * strings, finite numbers, booleans and null, with no object seen twice. For those, superjson's
 * output is `{"json": <the value>}` with no `meta`, so it can be written without running its
 * walker, which allocates a path per node. Anything else (a Date, a BigInt, undefined, -0, a class
 * instance, a shared reference, a key superjson refuses) is not plain: the caller uses superjson.
 */
import { defaultSuperJSON, type SuperJSONLike } from './superjson';

interface Registry {
  transfomers?: Record<string, unknown>; // sic, in superjson 2
}

interface Internals {
  customTransformerRegistry?: Registry;
}

/**
 * A custom transformer registered on the superjson in use may claim even plain values, so the
 * fast paths are off once it has one (or if its internals look different). superjson's default
 * export keeps its registry on `defaultInstance`; a `new SuperJSON()` keeps its own.
 */
function isStock(sj: SuperJSONLike): boolean {
  const own = sj as SuperJSONLike & Internals & { defaultInstance?: Internals };
  const transformers = (own.defaultInstance ?? own).customTransformerRegistry?.transfomers;
  if (!transformers) return false;
  for (const _ in transformers) return false;
  return true;
}

/** Deeper values are left to superjson, which has no recursion limit of its own to match. */
const MAX_DEPTH = 64;

/** Keys superjson rejects as a prototype pollution risk: its own error must be raised. */
const GUARDED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isPlainNumber(value: number): boolean {
  return Number.isFinite(value) && !Object.is(value, -0);
}

/**
 * Writes `value` as JSON with object keys sorted (so key order does not matter), or returns
 * undefined when it is not plain. `seen` catches shared references, which superjson records.
 */
function sorted(value: unknown, depth: number, seen: Set<object>): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      return isPlainNumber(value) ? JSON.stringify(value) : undefined;
    case 'object': {
      if (value === null) return 'null';
      if (depth > MAX_DEPTH || seen.has(value)) return undefined;
      seen.add(value);
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype) return undefined;
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) return undefined; // a hole
          const item = sorted(value[i], depth + 1, seen);
          if (item === undefined) return undefined;
          out += i === 0 ? item : `,${item}`;
        }
        return `${out}]`;
      }
      if (!isPlainObject(value)) return undefined;
      const keys = Object.keys(value).sort();
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string;
        if (GUARDED_KEYS.has(key)) return undefined;
        const item = sorted((value as Record<string, unknown>)[key], depth + 1, seen);
        if (item === undefined) return undefined;
        out += `${i === 0 ? '' : ','}${JSON.stringify(key)}:${item}`;
      }
      return `${out}}`;
    }
    default:
      return undefined;
  }
}

/** The value as JSON with sorted keys, or undefined when it is not plain (see above). */
export function sortedPlainJson(value: unknown, sj: SuperJSONLike = defaultSuperJSON): string | undefined {
  return isStock(sj) ? sorted(value, 0, new Set()) : undefined;
}

function plain(value: unknown, depth: number, seen: Set<object>): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return isPlainNumber(value);
    case 'object': {
      if (value === null) return true;
      if (depth > MAX_DEPTH || seen.has(value)) return false;
      seen.add(value);
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype) return false;
        for (let i = 0; i < value.length; i++) {
          if (!(i in value) || !plain(value[i], depth + 1, seen)) return false;
        }
        return true;
      }
      if (!isPlainObject(value)) return false;
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        if (GUARDED_KEYS.has(key) || !plain((value as Record<string, unknown>)[key], depth + 1, seen)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/** Whether superjson would leave `value` as it is, so that `JSON.stringify` writes the same. */
export function isPlainJson(value: unknown, sj: SuperJSONLike = defaultSuperJSON): boolean {
  return isStock(sj) && plain(value, 0, new Set());
}

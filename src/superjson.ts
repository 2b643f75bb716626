import superjson from 'superjson';

/**
 * What the middleware needs of superjson. superjson's default export and a `new SuperJSON()` both
 * fit, whichever copy of the package they come from.
 */
export interface SuperJSONLike {
  serialize(value: unknown): { json: unknown; meta?: unknown };
  stringify(value: unknown): string;
  parse(text: string): unknown;
}

/** superjson's default export, as this package's copy of superjson sees it. */
export const defaultSuperJSON: SuperJSONLike = superjson;

export function isSuperJSONLike(value: unknown): value is SuperJSONLike {
  const v = value as Partial<Record<keyof SuperJSONLike, unknown>> | null;
  return (
    (typeof v === 'object' || typeof v === 'function') &&
    v !== null &&
    typeof v.serialize === 'function' &&
    typeof v.stringify === 'function' &&
    typeof v.parse === 'function'
  );
}

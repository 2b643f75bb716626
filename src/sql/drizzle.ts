import type { SqlAdapter, SqlDriver, SqlRow } from './adapter';
import { type SqlAdapterOptions, sqlAdapter } from './sql-adapter';

/** What this adapter calls on a Drizzle transaction (pg-core); the full type stays the user's. */
interface DrizzleExecutor {
  execute(query: unknown): PromiseLike<unknown>;
}

/** drizzle-orm's `sql` helpers, loaded on first use so that `trpc-idempotency/sql` never requires Drizzle. */
type DrizzleSql = typeof import('drizzle-orm')['sql'];
let drizzleSql: Promise<DrizzleSql> | undefined;

/** A `$1`-placeholder statement as a Drizzle SQL object: raw text between bound parameters. */
async function toDrizzle(text: string, params: readonly unknown[]) {
  drizzleSql ??= import('drizzle-orm').then((m) => m.sql);
  const sql = await drizzleSql;
  const chunks = [];
  let last = 0;
  for (const match of text.matchAll(/\$(\d+)/g)) {
    chunks.push(sql.raw(text.slice(last, match.index)), sql.param(params[Number(match[1]) - 1]));
    last = match.index + match[0].length;
  }
  chunks.push(sql.raw(text.slice(last)));
  return sql.join(chunks);
}

function drizzleDriver<Tx extends DrizzleExecutor>(db: {
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
}): SqlDriver<Tx> {
  return {
    transaction: (work) => db.transaction(work),
    async execute(tx, text, params) {
      const result = await tx.execute(await toDrizzle(text, params));
      // node-postgres drivers answer a QueryResult, postgres.js an array of rows.
      return (Array.isArray(result) ? result : (result as { rows: SqlRow[] }).rows) as SqlRow[];
    },
  };
}

/**
 * `ctx.idempotency.transaction` on Drizzle (a Postgres driver, such as node-postgres): `fn` gets
 * Drizzle's transaction object, from `db.transaction`.
 * @see https://www.npmjs.com/package/trpc-idempotency#durable-mutations
 */
export function drizzleAdapter<Tx extends DrizzleExecutor>(
  db: { transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> },
  options?: SqlAdapterOptions,
): SqlAdapter<Tx> {
  return sqlAdapter(drizzleDriver(db), options);
}

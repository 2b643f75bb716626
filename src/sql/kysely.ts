import type { SqlAdapter, SqlDriver, SqlRow } from './adapter';
import { type SqlAdapterOptions, sqlAdapter } from './sql-adapter';

/** kysely's `CompiledQuery`, loaded on first use so that `trpc-idempotency/sql` never requires Kysely. */
type CompiledQueryClass = typeof import('kysely')['CompiledQuery'];
let compiledQuery: Promise<CompiledQueryClass> | undefined;

/** What this adapter calls on a Kysely transaction. */
interface RawExecutor {
  executeQuery(query: unknown): Promise<{ rows: unknown[] }>;
}

function kyselyDriver<Tx>(db: {
  transaction(): { execute<T>(work: (tx: Tx) => Promise<T>): Promise<T> };
}): SqlDriver<Tx> {
  return {
    transaction: (work) => db.transaction().execute(work),
    async execute(tx, text, params) {
      compiledQuery ??= import('kysely').then((m) => m.CompiledQuery);
      const query = (await compiledQuery).raw(text, [...params]);
      // A Kysely Transaction<DB> runs a compiled query as is; its DB type does not matter here.
      return (await (tx as unknown as RawExecutor).executeQuery(query)).rows as SqlRow[];
    },
  };
}

/**
 * `ctx.idempotency.transaction` on Kysely (a Postgres dialect): `fn` gets Kysely's `Transaction`,
 * from `db.transaction().execute`.
 * @see https://www.npmjs.com/package/trpc-idempotency#durable-mutations
 */
export function kyselyAdapter<Tx>(
  db: { transaction(): { execute<T>(work: (tx: Tx) => Promise<T>): Promise<T> } },
  options?: SqlAdapterOptions,
): SqlAdapter<Tx> {
  return sqlAdapter(kyselyDriver(db), options);
}

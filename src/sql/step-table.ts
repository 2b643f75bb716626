import { IdempotencyConfigError } from '../errors';

/** The table that records completed transaction steps, unless you name another. */
export const DEFAULT_STEP_TABLE = 'trpc_idempotency_steps';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/;

/** A table name, as given: `name` or `schema.name`, unquoted identifiers only (it is spliced into SQL). */
function checkTableName(table: string): string {
  if (!IDENTIFIER.test(table)) {
    throw new IdempotencyConfigError(
      `sql adapter: table "${table}" is not a plain identifier; use letters, digits and _ (optionally schema.table).`,
    );
  }
  return table;
}

/**
 * The DDL of the step table (Postgres), for migration tools: run it once, then pass
 * `createTable: false` to the adapter. One row per (record id, step name); `expires_at` is indexed
 * for the cleanup.
 */
export function stepTableDDL(table: string = DEFAULT_STEP_TABLE): string {
  const name = checkTableName(table);
  const index = `${name.replace('.', '_')}_expires_at`; // created in the table's schema
  return `CREATE TABLE IF NOT EXISTS ${name} (
  record_id text NOT NULL,
  name text NOT NULL,
  fingerprint text NOT NULL,
  result text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (record_id, name)
);
CREATE INDEX IF NOT EXISTS ${index} ON ${name} (expires_at);`;
}

/** The statements a recorded transaction runs, for one table. */
export function stepStatements(table: string) {
  const name = checkTableName(table);
  return {
    /** Statement 1 in the user's transaction: a live record of this step. */
    find: `SELECT fingerprint, result FROM ${name} WHERE record_id = $1 AND name = $2 AND expires_at > now()`,
    /**
     * Statement 2, before COMMIT: the record. A live row committed meanwhile by another holder wins
     * (no row returned: roll back); an expired one is replaced. The primary key makes a racing
     * insert wait for the other transaction and then see its row.
     */
    insert: `INSERT INTO ${name} AS t (record_id, name, fingerprint, result, expires_at)
VALUES ($1, $2, $3, $4, now() + $5 * interval '1 second')
ON CONFLICT (record_id, name) DO UPDATE
SET fingerprint = excluded.fingerprint, result = excluded.result, expires_at = excluded.expires_at
WHERE t.expires_at <= now()
RETURNING 1 AS inserted`,
    /** Expired rows, a bounded batch at a time (Postgres has no DELETE … LIMIT). */
    cleanup: `DELETE FROM ${name} WHERE ctid = ANY (ARRAY (SELECT ctid FROM ${name} WHERE expires_at <= now() LIMIT $1))`,
  };
}

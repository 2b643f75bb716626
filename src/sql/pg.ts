import type { Pool, PoolClient } from 'pg';
import type { SqlAdapter, SqlDriver, SqlRow } from './adapter';
import { type SqlAdapterOptions, sqlAdapter } from './sql-adapter';

/** node-postgres: BEGIN … COMMIT on a client checked out of the pool for the transaction. */
function pgDriver(pool: Pool): SqlDriver<PoolClient> {
  return {
    async transaction(work) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        client.release();
        return result;
      } catch (error) {
        // A client whose ROLLBACK failed is in an unknown state: destroy it rather than reuse it.
        await client.query('ROLLBACK').then(
          () => client.release(),
          (rollbackError: Error) => client.release(rollbackError),
        );
        throw error;
      }
    },
    async execute(client, text, params) {
      return (await client.query<SqlRow>(text, params as unknown[])).rows;
    },
  };
}

/**
 * `ctx.idempotency.transaction` on node-postgres: `fn` gets a `pg.PoolClient` inside BEGIN…COMMIT.
 * @see https://www.npmjs.com/package/trpc-idempotency#durable-mutations
 */
export function pgAdapter(pool: Pool, options?: SqlAdapterOptions): SqlAdapter<PoolClient> {
  return sqlAdapter(pgDriver(pool), options);
}

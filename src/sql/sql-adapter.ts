import { IdempotencyConfigError } from '../errors';
import type { SqlAdapter, SqlDriver, SqlStep, SqlStepResult } from './adapter';
import { DEFAULT_STEP_TABLE, stepStatements, stepTableDDL } from './step-table';

/** Options shared by every SQL adapter. */
export interface SqlAdapterOptions {
  /** The step table: `name` or `schema.name`. Default `trpc_idempotency_steps`. */
  table?: string;
  /** Create the table (IF NOT EXISTS) on first use. Default true; false when a migration created it ({@link stepTableDDL}). */
  createTable?: boolean;
  /**
   * Delete expired rows at most this often, after a committed transaction and off its path (up to
   * `cleanupBatch` rows at a time). Default 60 000 ms; `false` turns it off (then delete them yourself).
   */
  cleanupIntervalMs?: number | false;
  /** Most rows one cleanup deletes. Default 1000. */
  cleanupBatch?: number;
  /** Called with a failed cleanup's error (it is otherwise ignored: the next one retries). */
  onCleanupError?: (error: unknown) => void;
}

/** Postgres: another session created the same table or index at the same moment. */
const CONCURRENT_DDL = new Set(['23505', '42P07']);

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new IdempotencyConfigError(`sql adapter: ${name} must be a positive integer, got ${value}.`);
  }
  return value;
}

/**
 * An adapter for `ctx.idempotency.transaction` over any {@link SqlDriver} (Postgres SQL).
 * @see https://www.npmjs.com/package/trpc-idempotency#durable-mutations
 */
export function sqlAdapter<Tx>(driver: SqlDriver<Tx>, options: SqlAdapterOptions = {}): SqlAdapter<Tx> {
  const table = options.table ?? DEFAULT_STEP_TABLE;
  const statements = stepStatements(table);
  const ddl = stepTableDDL(table).split(';\n');
  const interval =
    options.cleanupIntervalMs === false ? false : positive(options.cleanupIntervalMs ?? 60_000, 'cleanupIntervalMs');
  const batch = positive(options.cleanupBatch ?? 1000, 'cleanupBatch');
  let created: Promise<void> | undefined;
  let lastCleanup = Date.now();

  /** Once per adapter: the round trip that lets it start on an empty database. */
  function ensureTable(): Promise<void> {
    if (options.createTable === false) return Promise.resolve();
    created ??= driver
      .transaction(async (tx) => {
        for (const statement of ddl) await driver.execute(tx, statement, []);
      })
      .catch((error: unknown) => {
        if (CONCURRENT_DDL.has(String((error as { code?: unknown }).code))) return;
        created = undefined; // try again on the next call
        throw error;
      });
    return created;
  }

  /** Deletes a batch of expired rows at most once per interval, not awaited by the caller. */
  function maybeCleanup(): void {
    if (interval === false || Date.now() - lastCleanup < interval) return;
    lastCleanup = Date.now();
    driver
      .transaction((tx) => driver.execute(tx, statements.cleanup, [batch]))
      .catch((error: unknown) => options.onCleanupError?.(error));
  }

  function find(tx: Tx, step: SqlStep) {
    return driver.execute(tx, statements.find, [step.recordId, step.name]);
  }

  return {
    run: (fn) => driver.transaction(fn),

    async runOnce(step, fn): Promise<SqlStepResult> {
      await ensureTable();
      let lostRace = false;
      try {
        const out = await driver.transaction(async (tx): Promise<SqlStepResult> => {
          const [found] = await find(tx, step);
          if (found) return { ran: false, fingerprint: String(found.fingerprint), result: String(found.result) };
          const result = await fn(tx);
          const params = [step.recordId, step.name, step.fingerprint, result, step.ttlSeconds];
          if ((await driver.execute(tx, statements.insert, params)).length === 0) {
            lostRace = true;
            throw new Error('another holder committed this step first'); // rolls fn's writes back
          }
          return { ran: true, fingerprint: step.fingerprint, result };
        });
        maybeCleanup();
        return out;
      } catch (error) {
        if (!lostRace) throw error;
      }
      // Only after a lost race: read the winner's record (its transaction has committed).
      const [winner] = await driver.transaction((tx) => find(tx, step));
      if (!winner) throw new Error(`the step "${step.name}" was committed by another holder, then expired`);
      return { ran: false, fingerprint: String(winner.fingerprint), result: String(winner.result) };
    },
  };
}

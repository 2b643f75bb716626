/** One row of a statement's result, by column name. */
export type SqlRow = Record<string, unknown>;

/**
 * What the library needs of a SQL client: open a transaction, run statements in it, commit or roll
 * back. Statements use Postgres placeholders (`$1`, `$2`…). Implement it to plug in any client;
 * {@link pgAdapter}, {@link drizzleAdapter} and {@link kyselyAdapter} are ready-made.
 * @see https://www.npmjs.com/package/trpc-idempotency#durable-mutations
 */
export interface SqlDriver<Tx> {
  /** Opens a transaction and runs `work` in it: COMMIT when it resolves, ROLLBACK (and rethrow) when it throws. */
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  /** Runs one statement inside `tx` and returns its rows. */
  execute(tx: Tx, text: string, params: readonly unknown[]): Promise<SqlRow[]>;
}

/** The step a recorded transaction stands for: one name within one record id. */
export interface SqlStep {
  recordId: string;
  name: string;
  /** The input fingerprint of the call that runs it. */
  fingerprint: string;
  ttlSeconds: number;
}

/** What a recorded transaction left: its encoded result, and whether this call's `fn` produced it. */
export interface SqlStepResult {
  ran: boolean;
  fingerprint: string;
  result: string;
}

/**
 * What `ctx.idempotency.transaction` takes: a driver plus the table that records completed steps.
 * Build one with {@link sqlAdapter} (or pgAdapter, drizzleAdapter, kyselyAdapter).
 */
export interface SqlAdapter<Tx> {
  /** Runs `fn` in a transaction, recording nothing (calls without an idempotency key). */
  run<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` in a transaction that inserts the step's record before COMMIT, or returns the record
   * already committed (then `fn` does not run, or its writes are rolled back after a lost race).
   */
  runOnce(step: SqlStep, fn: (tx: Tx) => Promise<string>): Promise<SqlStepResult>;
}

export type { SqlAdapter, SqlDriver, SqlRow, SqlStep, SqlStepResult } from './adapter';
export { drizzleAdapter } from './drizzle';
export { kyselyAdapter } from './kysely';
export { pgAdapter } from './pg';
export { type SqlAdapterOptions, sqlAdapter } from './sql-adapter';
export { DEFAULT_STEP_TABLE, stepTableDDL } from './step-table';

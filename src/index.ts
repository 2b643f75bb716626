export type { CallRef, InFlightListing, Inspection } from './admin';
export type { AnonymousOption } from './anonymous';
export type { IdempotencyScope } from './durable/scope';
export type { EncryptionKey, EncryptionOptions } from './encryption';
export { IDEMPOTENCY_ERROR_CODES, IdempotencyConfigError } from './errors';
export type { IdempotencyEvent } from './events';
export { createIdempotency, type Idempotency } from './idempotency';
export type { HeadersLike, IdempotencyContext, UserId } from './key';
export { MAX_KEY_LENGTH } from './key';
export type { IdempotencyOptions } from './options';
export type { ConcurrentDuplicates, IdempotencyMeta, IdempotencyPolicy } from './policy';
export type { StoredRecord } from './record';
export { CONFLICT_HEADER, REPLAY_HEADER } from './replay-header';
export { CONFLICT_RETRY_AFTER_MS, type IdempotencyErrorData, idempotencyErrorData } from './retry-after';
export { EvictionPolicyWarning } from './store/maxmemory';
export { type MemoryStoreOptions, memoryStore } from './store/memory';
export { redisStore } from './store/redis';
export type { RedisStoreOptions } from './store/redis-options';
export type {
  Claim,
  ForgetOutcome,
  IdempotencyStore,
  Lease,
  LockListing,
  StepSave,
  StoredState,
  Watch,
} from './store/store';
export type { SuperJSONLike } from './superjson';
export type { IdempotencyTelemetry, TelemetrySource } from './telemetry';

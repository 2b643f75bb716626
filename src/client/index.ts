export { CONFLICT_HEADER, REPLAY_HEADER } from '../replay-header';
export { type ConflictRetryOptions, conflictRetryDelay } from './conflict-retry';
export { IDEMPOTENCY_HEADER } from './context';
export { type IdempotencyHeaderOptions, idempotencyBatchHeaders, idempotencyHeaders } from './headers';
export { createIdempotencyKeyHolder, type IdempotencyKeyHolder, type IdempotencyKeyHolderOptions } from './key-holder';
export { hasIdempotencyKey, type IdempotencyLinkOptions, idempotencyLink } from './link';
export { type IdempotentReplayLinkOptions, idempotentReplayLink, isReplayed, type ReplayInfo } from './replay';

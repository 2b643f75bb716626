export { REPLAY_HEADER } from '../replay-header';
export { IDEMPOTENCY_HEADER } from './context';
export { type IdempotencyHeaderOptions, idempotencyBatchHeaders, idempotencyHeaders } from './headers';
export { hasIdempotencyKey, type IdempotencyLinkOptions, idempotencyLink } from './link';
export { type IdempotentReplayLinkOptions, idempotentReplayLink, isReplayed, type ReplayInfo } from './replay';

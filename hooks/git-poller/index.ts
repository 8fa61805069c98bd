/** The git-poller hook: public surface for the HTTP routes and the CLI. */
export { gitPollerSync, formatObservedRefs, ANNOTATION_OBSERVED_REFS, ANNOTATION_OBSERVED_REFS_TRUNCATED, ANNOTATION_POLL_ERROR } from './sync.ts';
export type { DecoratorSyncRequest, DecoratorResponse, GitPollerDeps, GitPollerLogger, CredentialResolution } from './sync.ts';
export { PollScheduler } from './scheduler.ts';
export type { PollSchedulerOptions, PollRequest, ScheduledPoll, PollSource } from './scheduler.ts';
export { listBranchHeads, TOKEN_USERNAME } from './remote.ts';
export type { PollOutcome, PollFailureReason, GitCredentials, ListBranchHeadsOptions } from './remote.ts';
export { trackedBranches, environmentBranches } from './tracked.ts';
export type { TrackedResult } from './tracked.ts';
export { checkUrl, checkUrlSyntax, classifyAddress, classifyHostname, EgressBlockedError } from './egress.ts';
export type { EgressPolicy, Resolver } from './egress.ts';

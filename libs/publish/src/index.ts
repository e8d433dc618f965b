export { parseReleaseTag, releaseTag } from './tag.js';
export { gitHub, GitHubApiError, rateLimitWaitMs } from './github.js';
export type { GitHubAsset, GitHubClient, GitHubOptions, GitHubRelease } from './github.js';
export { publishRelease } from './publish.js';
export type { PublishAsset, PublishEvent, PublishOptions, PublishResult } from './publish.js';
export { DEFAULT_NOTES_TEMPLATE, notesFields, renderNotes } from './notes.js';
export type { NotesInput } from './notes.js';
export { planPrune } from './retention.js';
export type { PrunePlan } from './retention.js';

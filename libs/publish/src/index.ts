export { parseReleaseTag, releaseTag } from './tag.js';
export { gitHub, GitHubApiError, rateLimitWaitMs } from './github.js';
export type { GitHubAsset, GitHubClient, GitHubOptions, GitHubRelease, MakeLatest } from './github.js';
export { publishRelease } from './publish.js';
export type { PublishAsset, PublishedAsset, PublishEvent, PublishOptions, PublishResult } from './publish.js';
export { DEFAULT_NOTES_TEMPLATE, notesFields, renderNotes } from './notes.js';
export type { NotesInput } from './notes.js';
export { planPrune } from './retention.js';
export type { PrunePlan } from './retention.js';
export {
  INDEX_NEXT_FILE,
  INDEX_NEXT_SIGNATURE_FILE,
  INDEX_PREVIOUS_FILE,
  INDEX_PREVIOUS_SIGNATURE_FILE,
  INDEX_RELEASE_BODY,
  INDEX_SIGNATURE_FILE,
  publishIndex,
} from './index-release.js';
export type { IndexEvent, PublishIndexOptions, PublishIndexResult } from './index-release.js';
export { KEYS_NEXT_FILE } from './keys-file.js';
export type { PublishedKeys } from './keys-file.js';
export { signatureName } from './signatures.js';

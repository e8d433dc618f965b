export { parseReleaseTag, releaseTag } from './tag.js';

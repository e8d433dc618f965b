export { compareWithUpstream, findOutdated, MAX_BUILD_AGE_DAYS } from './outdated.js';
export type { EndOfLifeLine, MissingRelease, OutdatedOptions, OutdatedReport, StaleBuild } from './outdated.js';
export { END_OF_LIFE, endOfLife } from './release-lines.js';
export { mirrorUrl, newestReleases, PYTHON_ORG } from './upstream.js';

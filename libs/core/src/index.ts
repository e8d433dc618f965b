// @cpy/core: what every cpy library shares and nothing else: the one error shape (CpyError, with
// a stable code from the closed catalog, what happened and what to do), the one order of versions and of builds, and the
// one retention policy.
export { CpyError, isCpyError } from './errors.js';
export { ERROR_CODES } from './codes.js';
export type { CpyErrorCode, ErrorCodeOf, ErrorCodeOwner } from './codes.js';
export { KEEP_BUILDS, keepNewest, newestFirst } from './builds.js';
export type { VersionedBuild } from './builds.js';
export { compareDotted, compareVersions, parseVersion, pythonVersionSchema } from './version.js';
export type { PythonVersion } from './version.js';

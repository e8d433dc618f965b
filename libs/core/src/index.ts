// @cpy/core: what every cpy library shares and nothing else: the one error shape (CpyError, with
// a stable code from the closed catalog, what happened and what to do); the one order of versions
// and of builds, and the one retention policy; and the artifact's contract: its names (artifact,
// checksum, tests and debug assets) and its metadata schema, with the runtime needs read from it;
// and the glibc this process runs on (what an artifact's glibc floor is compared with); and the one
// way a file is written whole or not at all (writeFileAtomic). The one way a program that starts
// programs of its own is run so that a stop ends all of them is `@cpy/core/process-group`
// (runInGroup): a subpath, as `@cpy/core/faults` is, since its types are Node's, and what
// @cpy/install's users import type-checks without @types/node.
import './zod-locale.js';
export { CpyError, isCpyError } from './errors.js';
export { ERROR_CODES } from './codes.js';
export type { CpyErrorCode, ErrorCodeOf, ErrorCodeOwner } from './codes.js';
export { KEEP_BUILDS, keepNewest, newestFirst, retentionGroup } from './builds.js';
export type { PlatformBuild, VersionedBuild } from './builds.js';
export { compareDotted, compareVersions, GLIBC_VERSION_RE, parseVersion, pythonVersionSchema, runtimeGlibc } from './version.js';
export type { PythonVersion } from './version.js';
export {
  artifactFileName,
  checksumFileName,
  debugSymbolsFileName,
  formatChecksumLine,
  parseArtifactFileName,
  parseChecksumLine,
  REJECTED_DIR,
  rejectedNoteName,
  SHA256_ANY_CASE_RE,
  SHA256_HEX_RE,
  testsFileName,
  unnameablePlatform,
} from './naming.js';
export type { ArtifactNameParts, Compression } from './naming.js';
export { artifactMetadataSchema, MAX_METADATA_BYTES, METADATA_ENTRY } from './metadata.js';
export type { ArtifactMetadata } from './metadata.js';
export { runtimeNeeds } from './needs.js';
export { ATOMIC_TMP_INFIX, copyFileAtomic, makeDirectory, MAX_SMALL_TEXT, readSmallText, removeLeftByDeadProcesses, writeFileAtomic } from './files.js';
export { processAlive, processOwner, randomId, sha256Hex } from './ids.js';
export { withLock } from './lock.js';
export type { LockOptions, LockOwner } from './lock.js';
export { displayUrl } from './naming.js';
export type { NeedGroup, RuntimeNeed } from './needs.js';

export { CpyError, isCpyError } from './errors.js';
export { parseVersion, pythonVersionSchema } from './version.js';
export type { PythonVersion } from './version.js';
export {
  artifactFileName,
  artifactNameSchema,
  checksumFileName,
  formatChecksumLine,
  parseArtifactFileName,
  parseChecksumLine,
} from './naming.js';
export type { ArtifactNameParts, Compression } from './naming.js';

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
export { compareDotted, glibcFloor, readElf } from './elf.js';
export type { ElfInfo } from './elf.js';
export { artifactMetadataSchema, METADATA_ENTRY } from './metadata.js';
export type { ArtifactMetadata } from './metadata.js';
export { debugSymbolsFileName, packArtifact, testsFileName } from './pack.js';
export { compressionOf } from './archive.js';
export { sha256File } from './hash.js';
export type { PackedArtifact, PackMetadata, PackOptions, SideAsset } from './pack.js';
export { externalNeeds, isTestPath, scanTree } from './tree.js';
export type { TreeEntry } from './tree.js';
export { extractArtifact } from './extract.js';
export type { ExtractOptions, ExtractResult } from './extract.js';
export { readArtifactEntry, readArtifactMetadata, validateArtifact } from './validate.js';
export type { ValidateOptions, ValidationReport } from './validate.js';
export {
  checkPythonTree,
  CRITICAL_IMPORTS,
  POSTINSTALL_ENTRY,
  relocateTree,
  RESOLVE_EXECUTABLE_PTH,
  runOnHost,
} from './postinstall.js';
export type { CheckTreeOptions, PythonRun, PythonRunner, ValidationCheck } from './postinstall.js';
export {
  planRetention,
  readRegister,
  REGISTER_MANIFEST,
  REGISTER_MARKDOWN,
  registerRowSchema,
  renderRegisterMarkdown,
  upsertRow,
  writeRegister,
} from './register.js';
export type { Register, RegisterRow, RetentionPlan } from './register.js';
export { CRITICAL_TESTS, parseRegrtestSummary, testArtifact } from './cpython-tests.js';
export type { TestArtifactOptions, TestLevel, TestRunResult, TestRunSummary } from './cpython-tests.js';

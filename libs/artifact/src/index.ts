export { FINGERPRINT_RE, parseSigners, SIGNERS_OPTION_RE } from './signers.js';
export {
  artifactFileName,
  artifactNameSchema,
  DEFAULT_ARCH,
  checksumFileName,
  formatChecksumLine,
  parseArtifactFileName,
  parseChecksumLine,
} from './naming.js';
export type { ArtifactNameParts, Compression } from './naming.js';
export { elfArch, glibcFloor, gnuTriplet, readElf, treeArch } from './elf.js';
export type { ElfInfo } from './elf.js';
export { artifactMetadataSchema, METADATA_ENTRY } from './metadata.js';
export type { ArtifactMetadata } from './metadata.js';
export { debugSymbolsFileName, packArtifact, testsFileName } from './pack.js';
export { compressionOf } from './archive.js';
export { sha256File } from './hash.js';
export type { PackedArtifact, PackMetadata, PackOptions, SideAsset } from './pack.js';
export { externalNeeds, isTestPath, scanTree } from './tree.js';
export type { TreeEntry } from './tree.js';
export { extractArtifact, extractArtifactStream } from './extract.js';
export type { ExtractOptions, ExtractResult } from './extract.js';
export { parseMetadataEntry, readArtifactEntry, readArtifactFileMetadata, readArtifactMetadata, validateArtifact } from './validate.js';
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
  addEntry,
  artifactIndexSchema,
  compareEntries,
  emptyIndex,
  INDEX_FILE,
  INDEX_MARKDOWN,
  INDEX_RELEASE_TAG,
  INDEX_SCHEMA_VERSION,
  TRUSTED_KEYS_FILE,
  indexEntryFor,
  indexEntryForFile,
  indexEntrySchema,
  markRemoved,
  parseIndex,
  parseIndexText,
  planRetention,
  readIndexFile,
  renderIndexMarkdown,
  SAFE_URL_RE,
  serializeIndex,
  writeIndexFile,
} from './artifact-index.js';
export type { ArtifactIndex, EntryLocation, IndexEntry, RetentionPlan } from './artifact-index.js';
export { needGroup, runtimeNeeds } from './needs.js';
export type { NeedGroup, RuntimeNeed } from './needs.js';
export { CRITICAL_TESTS, parseRegrtestSummary, testArtifact } from './cpython-tests.js';
export type { TestArtifactOptions, TestLevel, TestRunResult, TestRunSummary } from './cpython-tests.js';

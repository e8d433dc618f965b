export { FINGERPRINT_RE, parseSigners, SIGNERS_OPTION_RE } from './signers.js';
export { gnuTriplet } from './elf.js';
export type { ElfInfo } from './elf.js';
export { discardArtifact, packArtifact, placeArtifact, rejectArtifact, requireCompressor, stageArtifact } from './pack.js';
export { sha256File, sha256FileFollowed } from './hash.js';
export type { PackedArtifact, PackMetadata, PackOptions, RejectedArtifact, SideAsset, StagedArtifact } from './pack.js';
export { externalNeeds, scanTree } from './tree.js';
export type { TreeEntry } from './tree.js';
export { extractArtifact, extractArtifactStream, extractLimit } from './extract.js';
export type { ExtractOptions, ExtractResult } from './extract.js';
export { checkSideChecksum, indexEntryForFile, refuseIncompleteTree, refuseRejected, parseMetadataEntry, readArtifactEntry, readArtifactFileMetadata, readArtifactMetadata } from './read.js';
export { validateArtifact } from './validate.js';
export type { ValidateOptions, ValidationReport } from './validate.js';
export {
  checkPythonTree,
  CRITICAL_IMPORTS,
  POSTINSTALL_ENTRY,
  POSTINSTALL_SOURCE,
  PREFIX_SLOT_LITERAL,
  relocateTree,
  hostRunner,
  RESOLVE_EXECUTABLE_PTH,
} from './postinstall.js';
export type { CheckTreeOptions, PythonRun, PythonRunner, ValidationCheck } from './postinstall.js';
export {
  addEntry,
  compareEntries,
  emptyIndex,
  INDEX_FILE,
  INDEX_MARKDOWN,
  indexMarkdownPath,
  INDEX_RELEASE_TAG,
  TRUSTED_KEYS_FILE,
  indexEntryFor,
  markRemoved,
  misnamedEntries,
  parseIndexText,
  planRetention,
  refuseReplacedBytes,
  updateIndexFile,
  withIndexUnchanged,
  readIndexFile,
  replaceIndexFile,
  SAFE_URL_RE,
  serializeIndex,
  writeIndexFile,
} from './artifact-index.js';
export type { ArtifactIndex, EntryLocation, IndexEntry, RetentionPlan } from './artifact-index.js';
export { CRITICAL_TESTS, testArtifact } from './cpython-tests.js';
export type { TestArtifactOptions, TestLevel, TestRunResult, TestRunSummary } from './cpython-tests.js';

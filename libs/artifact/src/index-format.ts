// @cpy/artifact/index-format: what an install reads before it unpacks anything (the index,
// its entries and their order, the signer option) without the code that packs, reads and
// unpacks tarballs. An already-installed `cpy install` loads this entry only (issue 20):
// the main entry, with tar-stream and its streams, took 15-20 ms to load.
export { FINGERPRINT_RE, parseSigners, SIGNERS_OPTION_RE } from './signers.js';
export { compareEntries, INDEX_FILE, parseIndexText, SAFE_URL_RE, TRUSTED_KEYS_FILE, URL_RULE_MESSAGE, urlReadAlike } from './artifact-index.js';
export type { ArtifactIndex, IndexEntry } from './artifact-index.js';

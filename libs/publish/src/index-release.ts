import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpyError, isCpyError, sha256Hex } from '@cpy/core';
import { type ArtifactIndex, emptyIndex, INDEX_FILE, INDEX_RELEASE_TAG, parseIndexText, serializeIndex, TRUSTED_KEYS_FILE } from '@cpy/artifact';
import { readPublicKeys, signFile, verifyPinned, type SigningKey, type TrustedKeys } from '@cpy/signing';
import { GitHubApiError, type GitHubAsset, type GitHubClient, type GitHubRelease } from './github.js';
import { finishKeysUpdate, KEYS_NEXT_FILE, publishKeys, readKeysAsset, refuseRevokedSigner, type PublishedKeys } from './keys-file.js';
import { renameAsset as rename, smallAssetText, uploadFresh } from './release-assets.js';
import { checkOwnSignature, isOwnSignature, signatureName } from './signatures.js';

/** The index before the last update: what readers fall back to when `index.json` answers 404 (an update killed between its renames). */
export const INDEX_PREVIOUS_FILE = 'index.previous.json';
/** The next index while it is uploaded and verified; renamed to `index.json` only then. */
export const INDEX_NEXT_FILE = 'index.json.new';
/** The detached signatures of those three: each index is paired with its own, through every update. */
export const INDEX_SIGNATURE_FILE = signatureName(INDEX_FILE);
export const INDEX_PREVIOUS_SIGNATURE_FILE = signatureName(INDEX_PREVIOUS_FILE);
export const INDEX_NEXT_SIGNATURE_FILE = signatureName(INDEX_NEXT_FILE);

export const INDEX_RELEASE_BODY =
  'This release holds the cpy index (`index.json`): every published CPython build, read by installers to choose one. ' +
  '`cpy publish` updates it (`index.previous.json` is the index before the last update). When it publishes with a signing key, ' +
  `each index has its detached OpenPGP signature beside it (\`index.json.asc\`), and \`${TRUSTED_KEYS_FILE}\` holds the publisher's public keys. ` +
  'Do not delete this release or its assets.';

export interface PublishIndexOptions {
  readonly github: GitHubClient;
  /**
   * The update: gets the current index (empty when there is none yet), returns the next. Returning
   * the very same object means "nothing to change": nothing is written (unless an interrupted
   * update is left to complete).
   */
  readonly change: (index: ArtifactIndex) => ArtifactIndex;
  /**
   * Signs the index: `index.json.asc` beside `index.json` (verified against this key's own
   * fingerprint before the swap), and keeps the key's public key in `cpy-keys.asc`. The index it
   * updates must be one it trusts (see `indexTrust`), or nothing is changed
   * (CPY_PUBLISH_INDEX_UNTRUSTED). An unchanged index that is trusted but not signed by this key
   * (a rotation) is signed again, through the same swap.
   */
  readonly signingKey?: SigningKey;
  /** What a signed update trusts besides an index its own key signed (IndexTrust). */
  readonly indexTrust?: IndexTrust | undefined;
  readonly onEvent?: (event: IndexEvent) => void;
}

/**
 * The index a signed update starts from is one it will sign: anyone who may upload release assets
 * (no signing key needed) could have replaced an unsigned one. It is trusted when its own signature
 * (`index.json.asc`) verifies with the signing key, or with one of `signers` (public keys from
 * `cpy-keys.asc`, as installers pin them); `adopt` trusts the index with that sha256 as it is (after
 * checking it: the last publish was unsigned, or signed by a key that is gone). An unsigned update
 * trusts any index. A signed update finishes an interrupted swap only for an index it trusts.
 */
export interface IndexTrust {
  /** Fingerprints (40 hex digits) whose signature of the current index is trusted, e.g. the key before a rotation. */
  readonly signers?: readonly string[] | undefined;
  /**
   * The sha256 of an index to trust whatever signs it: the one `cpy index show` printed for the
   * bytes the operator checked. Only those bytes are adopted, so an index changed after the check
   * is refused again.
   */
  readonly adopt?: string | undefined;
}

export type IndexEvent =
  | { readonly type: 'release'; readonly action: 'created' | 'found' | 'published'; readonly url: string }
  /** `read`: the index came from `name` (index.json, or index.previous.json after an interrupted update); `empty`: there was none. */
  | { readonly type: 'read'; readonly name: string | null; readonly entries: number }
  | { readonly type: 'asset'; readonly name: string; readonly action: 'deleted-stale' | 'uploading' | 'uploaded' | 'verified' | 'deleted' | 'signed' }
  | { readonly type: 'rename'; readonly from: string; readonly to: string }
  | { readonly type: 'unchanged'; readonly entries: number }
  /** The index is unchanged, but `index.json.asc` is missing or not by the signing key (adopted, or a trusted signer's): it is signed again. */
  | { readonly type: 'resign'; readonly entries: number }
  /** `cpy-keys.asc` already held the signing key (`present`), or it was appended (`added`); `keys`: how many it holds now. */
  | { readonly type: 'keys'; readonly action: 'present' | 'added' | 'refreshed'; readonly fingerprint: string; readonly keys: number }
  /**
   * A signed index was replaced by an unsigned one (no signing key): its signature went with it to
   * `index.previous.json.asc`, and installers that pin a signer refuse `index.json` until a signed update.
   */
  | { readonly type: 'unsigned' };

export interface PublishIndexResult {
  /** The browser_download_url of `index.json`. */
  readonly url: string;
  /** Where `index.previous.json` is (there is one from the second update on). */
  readonly previousUrl: string;
  /** The index now published. */
  readonly index: ArtifactIndex;
  /** The browser_download_url of `index.json.asc`; null when `index.json` is not signed. */
  readonly signatureUrl: string | null;
  /** `cpy-keys.asc`, when publishing with a signing key. */
  readonly keys: PublishedKeys | null;
}

/** The index an asset holds, and its bytes (readIndexAsset); null when it does not read as one (a failed download is thrown). */
function readableIndex(gh: GitHubClient, asset: GitHubAsset): Promise<{ index: ArtifactIndex; bytes: Buffer } | null> {
  return readIndexAsset(gh, asset).catch((error: unknown) => {
    if (isCpyError(error, 'CPY_PUBLISH_INDEX_INVALID')) return null;
    throw error;
  });
}

const STATE_RANK = { active: 0, deprecated: 1, removed: 2 } as const;

/**
 * Whether `next` was made from `base`: it lists every build of `base` with the same sha256 and a
 * state no earlier (active, deprecated, removed), and was written no earlier. An update only adds
 * entries and marks them; an index.json changed by hand since (a build marked removed, a sha256
 * fixed, an older index put back) fails this.
 */
function madeFrom(next: ArtifactIndex, base: ArtifactIndex): boolean {
  const entries = new Map(next.artifacts.map((e) => [e.file, e]));
  return (
    Date.parse(next.updatedAt) >= Date.parse(base.updatedAt) &&
    base.artifacts.every((e) => {
      const made = entries.get(e.file);
      return made !== undefined && made.sha256 === e.sha256 && STATE_RANK[made.state] >= STATE_RANK[e.state];
    })
  );
}

/**
 * Updates the index kept as the asset `index.json` of the repository's `cpy-index` release
 * (created, published and never "Latest", when missing). The next index is uploaded as
 * `index.json.new`, downloaded again and checked (sha256 and schema), and only then swapped in:
 * the old `index.previous.json` deleted, `index.json` renamed to `index.previous.json`,
 * `index.json.new` renamed to `index.json`. At every moment `index.json` or, when an update was
 * killed between the two renames, `index.previous.json` is a valid index; a failure before the
 * swap leaves `index.json` as it was, and the next update completes an interrupted one (one
 * killed before its swap: it starts from its index.json.new, see `madeFrom`). An index
 * that is there but cannot be read is an error, never overwritten.
 *
 * Signatures (`signingKey`): `index.json.new.asc` is uploaded and checked with it (downloaded
 * again: its bytes, and that it verifies the downloaded index against the key's own fingerprint),
 * and each index moves with its own signature: `index.json.asc` -> `index.previous.json.asc`,
 * `index.json.new.asc` -> `index.json.asc`. The key's public key is put in `cpy-keys.asc` first.
 * Without a key the swap is the one above; the old index's signature still moves with it, so an
 * `index.json.asc` never sits beside an index it does not sign (`index.json` is then unsigned).
 */
export async function publishIndex(options: PublishIndexOptions): Promise<PublishIndexResult> {
  const work = await mkdtemp(join(tmpdir(), 'cpy-index-'));
  try {
    return await updateIndex(options, work);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function updateIndex(options: PublishIndexOptions, work: string): Promise<PublishIndexResult> {
  const gh = options.github;
  const emit = options.onEvent ?? (() => undefined);
  const key = options.signingKey ?? null;
  const release = await indexRelease(gh, emit);

  let assets = await gh.listAssets(release.id);
  const find = (name: string) => assets.find((a) => a.name === name) ?? null;
  // An update killed during its swap left a verified index.json.new (the swap starts only after
  // the verification; its signature too, when it was signed): finish it first, so its entries are
  // not lost, and each index keeps its own signature.
  const found = find(INDEX_NEXT_FILE);
  const pendingIndex = found?.state === 'uploaded' ? await readableIndex(gh, found) : null;
  const trust: TrustContext | null = key ? { gh, key, trust: options.indexTrust, work, keys: null, texts: new Map() } : null;
  // A signed run finishes only a swap of an index it trusts: anyone who may upload assets can make
  // the assets look like an interrupted swap of an index.json.new of theirs.
  const pending = pendingIndex && (!trust || (await untrusted(trust, assets, INDEX_NEXT_FILE, pendingIndex.bytes, pendingSignatureAsset(assets))) === null) ? found : null;
  const stranded = find(INDEX_FILE);
  if (pending && stranded && movedSignature(assets)) {
    // Killed right after index.json.asc became index.previous.json.asc: index.json follows it.
    await rename(gh, stranded, INDEX_PREVIOUS_FILE);
    emit({ type: 'rename', from: INDEX_FILE, to: INDEX_PREVIOUS_FILE });
    assets = await gh.listAssets(release.id);
  }
  if (pending && !find(INDEX_FILE) && find(INDEX_PREVIOUS_FILE)) {
    // Killed between the renames of the old index and of the new one (the swap starts only after
    // the verification). Killed after the signature's rename: index.json.asc is already its own.
    const pendingSignature = find(INDEX_NEXT_SIGNATURE_FILE);
    await swapIn(gh, release, null, pending, pendingSignature?.state === 'uploaded' ? pendingSignature : find(INDEX_SIGNATURE_FILE), emit);
    assets = await gh.listAssets(release.id);
  }
  if (await finishKeysUpdate(gh, assets, emit)) assets = await gh.listAssets(release.id);
  const current = find(INDEX_FILE);
  const previous = find(INDEX_PREVIOUS_FILE);
  const source = current ?? previous;
  const read = source ? await readIndexAsset(gh, source) : null;
  // Before this update writes anything of its own: a signed update signs only an index it trusts.
  if (trust && source && read) {
    const refusal = await sourceRefusal(trust, assets, source, read.bytes);
    if (refusal) throw refusal;
  }
  // The signing key's public key goes into cpy-keys.asc before the index it signed is swapped in.
  const keys = key ? await publishKeys({ gh, release, assets, key, work, emit }) : null;
  // An update killed before its swap (at or after its verification) left an index.json.new that
  // never became index.json: when it was made from the index read here, this update starts from
  // it, so its builds are not lost. Its bytes are uploaded again (and signed, or not, as this run
  // signs), never published as they are: the kill may have come at a failed verification. A
  // signed run carries only an index it trusts (`pending` was checked above: its signature is by
  // this key or a trusted signer): anyone who may upload assets could have put one there.
  const carried =
    pending && pendingIndex && find(INDEX_NEXT_FILE)?.id === pending.id && (read ? sha256Hex(read.bytes) !== sha256Hex(pendingIndex.bytes) && madeFrom(pendingIndex.index, read.index) : !source)
      ? pendingIndex
      : null;
  const index = carried?.index ?? read?.index ?? emptyIndex();
  emit({ type: 'read', name: carried ? INDEX_NEXT_FILE : (source?.name ?? null), entries: index.artifacts.length });

  const next = options.change(index);
  if (next === index && current && read && !carried) {
    const signature = find(INDEX_SIGNATURE_FILE);
    if (!trust || (await signs(trust, signature, read.bytes))) {
      emit({ type: 'unchanged', entries: index.artifacts.length });
      return {
        url: current.browser_download_url,
        previousUrl: previous?.browser_download_url ?? besideUrl(current.browser_download_url),
        index,
        signatureUrl: signature?.browser_download_url ?? null,
        keys,
      };
    }
    emit({ type: 'resign', entries: index.artifacts.length });
  }
  let text: string;
  try {
    text = serializeIndex(next);
  } catch (cause) {
    throw new CpyError('CPY_PUBLISH_INDEX_INVALID', `the updated index is not valid: ${(cause as Error).message}`, {
      hint: 'this is a bug in cpy: report it; the published index was not changed',
      cause,
    });
  }

  const file = join(work, INDEX_NEXT_FILE);
  await writeFile(file, text);
  const signature = key ? await signFile(file, key) : null;
  if (signature !== null) emit({ type: 'asset', name: INDEX_NEXT_SIGNATURE_FILE, action: 'signed' });
  // What an earlier, interrupted update left: never renamed, so never read.
  for (const name of [INDEX_NEXT_SIGNATURE_FILE, INDEX_NEXT_FILE]) {
    const stale = find(name);
    if (stale) {
      await gh.deleteAsset(stale.id);
      emit({ type: 'asset', name, action: 'deleted-stale' });
    }
  }
  // The signature first: an index.json.new a signed run left always has its signature beside it,
  // which the next signed run needs to carry it (above).
  let uploadedSignature: GitHubAsset | null = null;
  if (signature !== null) {
    const signatureFile = join(work, INDEX_NEXT_SIGNATURE_FILE);
    await writeFile(signatureFile, signature);
    emit({ type: 'asset', name: INDEX_NEXT_SIGNATURE_FILE, action: 'uploading' });
    uploadedSignature = await uploadFresh(gh, release, signatureFile, INDEX_NEXT_SIGNATURE_FILE);
    emit({ type: 'asset', name: INDEX_NEXT_SIGNATURE_FILE, action: 'uploaded' });
  }
  emit({ type: 'asset', name: INDEX_NEXT_FILE, action: 'uploading' });
  const uploaded = await uploadFresh(gh, release, file, INDEX_NEXT_FILE);
  emit({ type: 'asset', name: INDEX_NEXT_FILE, action: 'uploaded' });

  // Downloaded again: the bytes sent, and an index a reader accepts, before anything is swapped.
  const back = await gh.downloadAsset(uploaded);
  let readable = true;
  try {
    parseIndexText(back.toString('utf8'), INDEX_NEXT_FILE);
  } catch {
    readable = false;
  }
  if (sha256Hex(back) !== sha256Hex(text) || !readable) {
    throw new CpyError('CPY_PUBLISH_VERIFY_FAILED', `${INDEX_NEXT_FILE} on release ${INDEX_RELEASE_TAG} has sha256 ${sha256Hex(back)}, the index sent ${sha256Hex(text)}`, {
      hint: `run again: ${INDEX_FILE} was not changed, and the next run uploads the index again`,
    });
  }
  emit({ type: 'asset', name: INDEX_NEXT_FILE, action: 'verified' });
  if (key && signature !== null && uploadedSignature) {
    // And its signature, as an installer that pins this key checks it: over the bytes downloaded.
    const signatureBack = await gh.downloadAsset(uploadedSignature);
    const downloaded = join(work, `${INDEX_NEXT_FILE}.downloaded`);
    await writeFile(downloaded, back);
    try {
      if (sha256Hex(signatureBack) !== sha256Hex(signature)) throw new Error(`it has sha256 ${sha256Hex(signatureBack)}, the signature sent ${sha256Hex(signature)}`);
      await checkOwnSignature({ file: downloaded, signature: signatureBack.toString('utf8'), key, label: `the index (${INDEX_NEXT_FILE})`, source: `${INDEX_NEXT_SIGNATURE_FILE} on release ${INDEX_RELEASE_TAG}` });
    } catch (cause) {
      throw new CpyError('CPY_PUBLISH_VERIFY_FAILED', `${INDEX_NEXT_SIGNATURE_FILE} on release ${INDEX_RELEASE_TAG} does not verify the index: ${(cause as Error).message}`, {
        hint: `run again: ${INDEX_FILE} was not changed, and the next run uploads the index and its signature again`,
        cause,
      });
    }
    emit({ type: 'asset', name: INDEX_NEXT_SIGNATURE_FILE, action: 'verified' });
  }

  const { published, publishedSignature, previousAsset, currentSignature } = await swapIn(gh, release, current, uploaded, uploadedSignature, emit);
  if (!key && current && currentSignature) emit({ type: 'unsigned' });
  return {
    url: published.browser_download_url,
    previousUrl: previousAsset?.browser_download_url ?? besideUrl(published.browser_download_url),
    index: next,
    signatureUrl: publishedSignature?.browser_download_url ?? null,
    keys,
  };
}

/**
 * The swap: `uploaded` (verified) becomes index.json and `current` index.previous.json, each with
 * its own signature. Nothing else changed the assets meanwhile (publishes to one repository run
 * one at a time); an index.json other than `current` is CPY_PUBLISH_INDEX_CONFLICT.
 */
async function swapIn(
  gh: GitHubClient,
  release: GitHubRelease,
  current: GitHubAsset | null,
  uploaded: GitHubAsset,
  uploadedSignature: GitHubAsset | null,
  emit: (e: IndexEvent) => void,
): Promise<{ published: GitHubAsset; publishedSignature: GitHubAsset | null; previousAsset: GitHubAsset | null; currentSignature: GitHubAsset | null }> {
  // Every delete and rename of the swap, or none: a stop (Ctrl-C, a CI cancel) between two of them
  // left index.json without its signature, or no index.json at all.
  return gh.together(async () => {
    const now = await gh.listAssets(release.id);
    const at = (name: string) => now.find((a) => a.name === name) ?? null;
    // index.json as this update read it, and index.json.new (with its signature) the one it
    // verified: another update at the same time replaced either, and nothing is renamed.
    const ours = at(INDEX_NEXT_FILE)?.id === uploaded.id && (!uploadedSignature || now.some((a) => a.id === uploadedSignature.id));
    if ((at(INDEX_FILE)?.id ?? null) !== (current?.id ?? null) || !ours) {
      throw new CpyError('CPY_PUBLISH_INDEX_CONFLICT', `${ours ? INDEX_FILE : INDEX_NEXT_FILE} on release ${INDEX_RELEASE_TAG} changed while this update was being made`, {
        hint: 'another cpy publish updated the index at the same time: run again (run publishes to one repository one at a time, e.g. in one concurrency group)',
      });
    }
    const del = async (asset: GitHubAsset) => {
      await gh.deleteAsset(asset.id);
      emit({ type: 'asset', name: asset.name, action: 'deleted' });
    };
    let previousAsset: GitHubAsset | null = at(INDEX_PREVIOUS_FILE);
    const currentSignature = at(INDEX_SIGNATURE_FILE);
    if (current) {
      // Each index moves with its own signature. Signatures go first: a reader may find an index
      // without its signature for a moment (and refuse it, when it pins a signer), never one beside
      // another index's signature.
      const previousSignature = at(INDEX_PREVIOUS_SIGNATURE_FILE);
      if (previousAsset) {
        if (previousSignature) await del(previousSignature);
        await del(previousAsset);
      } else if (previousSignature && currentSignature) {
        // The signature of an index.previous.json that is gone.
        await del(previousSignature);
      }
      // (An index.previous.json.asc with neither index.previous.json nor index.json.asc is index.json's
      // own, moved by an update killed right after: it pairs with it again below.)
      if (currentSignature) {
        await rename(gh, currentSignature, INDEX_PREVIOUS_SIGNATURE_FILE);
        emit({ type: 'rename', from: INDEX_SIGNATURE_FILE, to: INDEX_PREVIOUS_SIGNATURE_FILE });
      }
      previousAsset = await rename(gh, current, INDEX_PREVIOUS_FILE);
      emit({ type: 'rename', from: INDEX_FILE, to: INDEX_PREVIOUS_FILE });
    } else if (currentSignature && currentSignature.id !== uploadedSignature?.id) {
      // Without an index.json, an index.json.asc signs nothing that is there (unless it is the new one's).
      await del(currentSignature);
    }
    // Without an index.json (the first update, or one killed between the renames) index.previous.json, if any, stays: it is the index before this one.
    let publishedSignature: GitHubAsset | null = null;
    if (uploadedSignature?.name === INDEX_SIGNATURE_FILE) {
      publishedSignature = uploadedSignature;
    } else if (uploadedSignature) {
      publishedSignature = await rename(gh, uploadedSignature, INDEX_SIGNATURE_FILE);
      emit({ type: 'rename', from: INDEX_NEXT_SIGNATURE_FILE, to: INDEX_SIGNATURE_FILE });
    }
    const published = await rename(gh, uploaded, INDEX_FILE);
    emit({ type: 'rename', from: INDEX_NEXT_FILE, to: INDEX_FILE });
    return { published, publishedSignature, previousAsset, currentSignature };
  });
}

/**
 * The check a signed update makes of the index it starts from (CPY_PUBLISH_INDEX_UNTRUSTED), made
 * early: cpy publish makes it before its release is published, so a refusal leaves nothing half
 * done. It looks where the update will: `index.json`, else (an update killed between its renames)
 * a trusted index.json.new the update finishes, else `index.previous.json`. The update checks
 * again what it reads.
 */
export async function checkIndexBeforeSigning(options: { github: GitHubClient; releases: readonly GitHubRelease[]; signingKey: SigningKey; indexTrust?: IndexTrust | undefined }): Promise<void> {
  const gh = options.github;
  const release = options.releases.find((r) => r.tag_name === INDEX_RELEASE_TAG);
  if (!release) return;
  const assets = await gh.listAssets(release.id);
  const keysFile = named(assets, TRUSTED_KEYS_FILE);
  if (keysFile) refuseRevokedSigner((await readKeysAsset(gh, keysFile)).keys, options.signingKey);
  const work = await mkdtemp(join(tmpdir(), 'cpy-index-'));
  try {
    const trust: TrustContext = { gh, key: options.signingKey, trust: options.indexTrust, work, keys: null, texts: new Map() };
    const bytesOf = async (asset: GitHubAsset | null) => (asset ? ((await readableIndex(gh, asset))?.bytes ?? null) : null);
    const pending = named(assets, INDEX_NEXT_FILE);
    const pendingBytes = await bytesOf(pending);
    const pendingTrusted = pendingBytes !== null && (await untrusted(trust, assets, INDEX_NEXT_FILE, pendingBytes, pendingSignatureAsset(assets))) === null;
    // A trusted interrupted swap is finished first (index.json gone, or its signature moved): the update then reads that index.
    const current = named(assets, INDEX_FILE);
    if (pendingTrusted && (!current || movedSignature(assets))) return;
    const source = current ?? named(assets, INDEX_PREVIOUS_FILE);
    const bytes = await bytesOf(source);
    const refusal = source && bytes ? await sourceRefusal(trust, assets, source, bytes) : null;
    if (refusal) throw refusal;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The asset called `name`, or null. */
function named(assets: readonly GitHubAsset[], name: string): GitHubAsset | null {
  return assets.find((a) => a.name === name) ?? null;
}

/**
 * index.json's own signature where a swap killed right after its first rename left it: index.json
 * there, index.json.asc renamed to index.previous.json.asc, index.previous.json already deleted.
 * Null in any other state.
 */
function movedSignature(assets: readonly GitHubAsset[]): GitHubAsset | null {
  return named(assets, INDEX_FILE) && !named(assets, INDEX_SIGNATURE_FILE) && !named(assets, INDEX_PREVIOUS_FILE) ? named(assets, INDEX_PREVIOUS_SIGNATURE_FILE) : null;
}

/** What a signed update trusts (IndexTrust), with its key; `keys` is filled once, when first needed. */
interface TrustContext {
  readonly gh: GitHubClient;
  readonly key: SigningKey;
  readonly trust: IndexTrust | undefined;
  readonly work: string;
  keys: TrustedKeys | null;
  /** Signatures downloaded in this run, by asset id (an asset's bytes never change; a rename keeps its id). */
  readonly texts: Map<number, Promise<string | null>>;
}

/** The text of a signature asset (smallAssetText), downloaded once per run. */
function signatureText(t: TrustContext, asset: GitHubAsset | null): Promise<string | null> {
  if (!asset) return Promise.resolve(null);
  let text = t.texts.get(asset.id);
  if (!text) {
    text = smallAssetText(t.gh, asset);
    t.texts.set(asset.id, text);
  }
  return text;
}

/**
 * Whether a signed update may sign `source` (index.json, or index.previous.json): its own signature,
 * or, for an index.json whose signature a swap killed after its first rename moved away
 * (index.json.asc gone, index.previous.json gone, index.previous.json.asc there), that one. The
 * check binds the bytes, so trying a second signature trusts nothing more.
 */
async function sourceRefusal(t: TrustContext, assets: readonly GitHubAsset[], source: GitHubAsset, bytes: Buffer): Promise<CpyError | null> {
  const refusal = await untrusted(t, assets, source.name, bytes, named(assets, signatureName(source.name)));
  const moved = source.name === INDEX_FILE ? movedSignature(assets) : null;
  if (refusal && moved && (await untrusted(t, assets, source.name, bytes, moved)) === null) return null;
  return refusal;
}

/** Where the signature of a pending index.json.new is: beside it, or (killed after its rename, index.json gone) already index.json.asc. */
function pendingSignatureAsset(assets: readonly GitHubAsset[]): GitHubAsset | null {
  const beside = named(assets, INDEX_NEXT_SIGNATURE_FILE);
  if (beside?.state === 'uploaded') return beside;
  return named(assets, INDEX_FILE) ? null : named(assets, INDEX_SIGNATURE_FILE);
}

/**
 * Null when a signed update may sign the index `name` holds (`bytes`): `signature` verifies it with
 * the signing key, or with a signer IndexTrust names (its public key from cpy-keys.asc), or its
 * sha256 is the one adopted. Otherwise the CPY_PUBLISH_INDEX_UNTRUSTED refusal, naming why and the
 * sha256 to adopt. A download that fails, or a cpy-keys.asc that cannot be read, is thrown as itself.
 */
async function untrusted(t: TrustContext, assets: readonly GitHubAsset[], name: string, bytes: Buffer, signature: GitHubAsset | null): Promise<CpyError | null> {
  const hash = sha256Hex(bytes);
  if (t.trust?.adopt === hash) return null;
  const { key, gh } = t;
  const signers = [key.fingerprint, ...(t.trust?.signers ?? []).filter((f) => f !== key.fingerprint)];
  if (!t.keys) {
    // The signing key's own public key, and those cpy-keys.asc holds when another signer is trusted (only pinned ones count).
    // (cpy-keys.asc.new when an update of it was killed between its delete and its rename: finishKeysUpdate puts it in place later.)
    const keysFile = signers.length > 1 ? (assets.find((a) => a.name === TRUSTED_KEYS_FILE) ?? assets.find((a) => a.name === KEYS_NEXT_FILE) ?? null) : null;
    const published = keysFile ? await readKeysAsset(gh, keysFile) : null;
    t.keys = await readPublicKeys(`${key.publicKey.trimEnd()}\n${published?.text ?? ''}`, `the signing key and ${TRUSTED_KEYS_FILE} on release ${INDEX_RELEASE_TAG}`);
  }
  const text = await signatureText(t, signature);
  const file = join(t.work, `${name}.trusted`);
  await writeFile(file, bytes);
  const where = `${name} on release ${INDEX_RELEASE_TAG}`;
  try {
    await verifyPinned({ file, signature: text, signatureSource: `${signature?.name ?? signatureName(name)} on release ${INDEX_RELEASE_TAG}`, trusted: t.keys, signers, label: where });
    return null;
  } catch (cause) {
    // verifyPinned's refusals; anything else (a failed download, a bug) is not a verdict on the index.
    const refused =
      isCpyError(cause, 'CPY_SIGNATURE_MISSING') || isCpyError(cause, 'CPY_SIGNATURE_UNTRUSTED') || isCpyError(cause, 'CPY_SIGNATURE_INVALID') || isCpyError(cause, 'CPY_SIGNATURE_KEY_NOT_VALID');
    if (!refused) throw cause;
    const known = new Set(t.keys.keys.map((k) => k.fingerprint));
    const keyless = signers.filter((f) => !known.has(f));
    const by = signers.length > 1 ? `this key (${key.fingerprint}) or ${signers.slice(1).join(', ')}` : `this key (${key.fingerprint})`;
    return new CpyError(
      'CPY_PUBLISH_INDEX_UNTRUSTED',
      `${where} (sha256 ${hash}) is not signed by ${by}: ${cause.message}${keyless.length ? `; ${TRUSTED_KEYS_FILE} holds no public key of ${keyless.join(', ')}` : ''}. ` +
        'A signed publish signs only an index it trusts; the index was not changed',
      {
        hint:
          `anyone who may upload release assets can replace an index, so check its builds first: cpy index show --index ${assets.find((a) => a.name === name)?.browser_download_url ?? name} ` +
          `(with CPY_SIGNER_FINGERPRINTS empty) prints them and the sha256 of the bytes it read. If they are yours (the last publish was unsigned, or signed by a key you no longer use), ` +
          `run again with --adopt-index <the sha256 it printed>, which adopts those bytes only; this run read ${hash}, and another value means the index changed since. ` +
          `After a key rotation, --index-signer <fingerprint> trusts the old key's signature instead`,
        cause,
        details: { asset: name, sha256: hash, signers, reason: cause.code },
      },
    );
  }
}

/** Whether the asset `signature` is a signature of `bytes` by this run's key. */
async function signs(t: TrustContext, signature: GitHubAsset | null, bytes: Buffer): Promise<boolean> {
  const text = await signatureText(t, signature);
  if (!signature || text === null) return false;
  const file = join(t.work, `${INDEX_FILE}.current`);
  await writeFile(file, bytes);
  return isOwnSignature({ file, signature: text, key: t.key, label: `the index (${INDEX_FILE})`, source: `${signature.name} on release ${INDEX_RELEASE_TAG}` });
}

/** The URL of index.previous.json beside an index.json URL: where readers look when index.json answers 404. */
function besideUrl(indexUrl: string): string {
  return indexUrl.replace(/[^/]*$/, INDEX_PREVIOUS_FILE);
}

/** The `cpy-index` release: found, or created published and never "Latest" (a draft's assets cannot be downloaded by installers). */
async function indexRelease(gh: GitHubClient, emit: (e: IndexEvent) => void): Promise<GitHubRelease> {
  const found = (await gh.listReleases()).find((r) => r.tag_name === INDEX_RELEASE_TAG);
  if (found) {
    if (!found.draft) {
      emit({ type: 'release', action: 'found', url: found.html_url });
      return found;
    }
    const published = await gh.updateRelease(found.id, { draft: false, make_latest: 'false' });
    emit({ type: 'release', action: 'published', url: published.html_url });
    return published;
  }
  try {
    const created = await gh.createRelease({
      tag_name: INDEX_RELEASE_TAG,
      name: 'cpy index',
      body: INDEX_RELEASE_BODY,
      draft: false,
      prerelease: false,
      make_latest: 'false',
    });
    emit({ type: 'release', action: 'created', url: created.html_url });
    return created;
  } catch (error) {
    // Made meanwhile by another publish: use it.
    if (error instanceof GitHubApiError && error.status === 422 && error.errors.some((e) => e.code === 'already_exists')) {
      const made = (await gh.listReleases()).find((r) => r.tag_name === INDEX_RELEASE_TAG);
      if (made && !made.draft) {
        emit({ type: 'release', action: 'found', url: made.html_url });
        return made;
      }
    }
    throw error;
  }
}

/**
 * The index on the cpy-index release among `releases` (index.json, else index.previous.json, as
 * installers fall back), read and checked; null when the repository has no index release or it holds neither.
 */
export async function readPublishedIndex(gh: GitHubClient, releases: readonly GitHubRelease[]): Promise<ArtifactIndex | null> {
  const release = releases.find((r) => r.tag_name === INDEX_RELEASE_TAG);
  if (!release) return null;
  const assets = await gh.listAssets(release.id);
  const asset = named(assets, INDEX_FILE) ?? named(assets, INDEX_PREVIOUS_FILE);
  return asset ? (await readIndexAsset(gh, asset)).index : null;
}

/**
 * The published index as readPublishedIndex reads it, or null when there is none or it does not
 * read as one (a --no-index publish or prune leaves such an index alone). A failed download is
 * thrown: an index not read is no index that lists nothing.
 */
export function readPublishedIndexIfValid(gh: GitHubClient, releases: readonly GitHubRelease[]): Promise<ArtifactIndex | null> {
  return readPublishedIndex(gh, releases).catch((error: unknown) => {
    if (isCpyError(error, 'CPY_PUBLISH_INDEX_INVALID')) return null;
    throw error;
  });
}

/** Downloads and checks the published index; one that cannot be read is an error that leaves it as it is. */
async function readIndexAsset(gh: GitHubClient, asset: GitHubAsset): Promise<{ index: ArtifactIndex; bytes: Buffer }> {
  const source = `${asset.name} on release ${INDEX_RELEASE_TAG}`;
  const bytes = asset.state === 'uploaded' ? await gh.downloadAsset(asset) : Buffer.alloc(0);
  try {
    return { index: parseIndexText(bytes.toString('utf8'), source), bytes };
  } catch (error) {
    if (!isCpyError(error)) throw error;
    throw new CpyError('CPY_PUBLISH_INDEX_INVALID', `${error.message}; it was left as it is`, {
      hint:
        error.code === 'CPY_INDEX_UNSUPPORTED'
          ? error.hint
          : `cpy never overwrites an index it cannot read: restore a valid ${asset.name} on the ${INDEX_RELEASE_TAG} release (${asset.browser_download_url}), ` +
            `or delete the asset to start an empty index (its entries are then lost until their builds are published again)`,
      cause: error,
      details: { asset: asset.name, url: asset.browser_download_url, reason: error.code },
    });
  }
}

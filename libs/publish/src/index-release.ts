import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpyError, emptyIndex, INDEX_FILE, INDEX_RELEASE_TAG, isCpyError, parseIndexText, serializeIndex, type ArtifactIndex } from '@cpy/artifact';
import { GitHubApiError, type GitHubAsset, type GitHubClient, type GitHubRelease } from './github.js';

/** The index before the last update: what readers fall back to when `index.json` answers 404 (an update killed between its renames). */
export const INDEX_PREVIOUS_FILE = 'index.previous.json';
/** The next index while it is uploaded and verified; renamed to `index.json` only then. */
export const INDEX_NEXT_FILE = 'index.json.new';

export const INDEX_RELEASE_BODY =
  'This release holds the cpy index (`index.json`): every published CPython build, read by installers to choose one. ' +
  '`cpy publish` updates it (`index.previous.json` is the index before the last update). Do not delete this release or its assets.';

export interface PublishIndexOptions {
  readonly github: GitHubClient;
  /**
   * The update: gets the current index (empty when there is none yet), returns the next. Returning
   * the very same object means "nothing to change": nothing is written (unless an interrupted
   * update is left to complete).
   */
  readonly change: (index: ArtifactIndex) => ArtifactIndex;
  readonly onEvent?: (event: IndexEvent) => void;
}

export type IndexEvent =
  | { readonly type: 'release'; readonly action: 'created' | 'found' | 'published'; readonly url: string }
  /** `read`: the index came from `name` (index.json, or index.previous.json after an interrupted update); `empty`: there was none. */
  | { readonly type: 'read'; readonly name: string | null; readonly entries: number }
  | { readonly type: 'asset'; readonly name: string; readonly action: 'deleted-stale' | 'uploading' | 'uploaded' | 'verified' | 'deleted' }
  | { readonly type: 'rename'; readonly from: string; readonly to: string }
  | { readonly type: 'unchanged'; readonly entries: number };

export interface PublishIndexResult {
  /** The browser_download_url of `index.json`. */
  readonly url: string;
  /** Where `index.previous.json` is (there is one from the second update on). */
  readonly previousUrl: string;
  /** The index now published. */
  readonly index: ArtifactIndex;
}

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/** Whether an asset downloads and reads as an index. */
async function readableIndex(gh: GitHubClient, asset: GitHubAsset): Promise<boolean> {
  try {
    parseIndexText((await gh.downloadAsset(asset)).toString('utf8'), asset.name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Updates the index kept as the asset `index.json` of the repository's `cpy-index` release
 * (created, published and never "Latest", when missing). The next index is uploaded as
 * `index.json.new`, downloaded again and checked (sha256 and schema), and only then swapped in:
 * the old `index.previous.json` deleted, `index.json` renamed to `index.previous.json`,
 * `index.json.new` renamed to `index.json`. At every moment `index.json` or, when an update was
 * killed between the two renames, `index.previous.json` is a valid index; a failure before the
 * swap leaves `index.json` as it was, and the next update completes an interrupted one. An index
 * that is there but cannot be read is an error, never overwritten.
 */
export async function publishIndex(options: PublishIndexOptions): Promise<PublishIndexResult> {
  const gh = options.github;
  const emit = options.onEvent ?? (() => undefined);
  const release = await indexRelease(gh, emit);

  let assets = await gh.listAssets(release.id);
  const find = (name: string) => assets.find((a) => a.name === name) ?? null;
  // An update killed between its two renames left index.previous.json and a verified index.json.new
  // (the swap starts only after the verification): finish it first, so its entries are not lost.
  const pending = find(INDEX_NEXT_FILE);
  if (!find(INDEX_FILE) && find(INDEX_PREVIOUS_FILE) && pending?.state === 'uploaded' && (await readableIndex(gh, pending))) {
    await rename(gh, pending, INDEX_FILE);
    emit({ type: 'rename', from: INDEX_NEXT_FILE, to: INDEX_FILE });
    assets = await gh.listAssets(release.id);
  }
  const current = find(INDEX_FILE);
  const previous = find(INDEX_PREVIOUS_FILE);
  const source = current ?? previous;
  const index = source ? await readIndexAsset(gh, source) : emptyIndex();
  emit({ type: 'read', name: source?.name ?? null, entries: index.artifacts.length });

  const next = options.change(index);
  if (next === index && current) {
    emit({ type: 'unchanged', entries: index.artifacts.length });
    return { url: current.browser_download_url, previousUrl: previous?.browser_download_url ?? besideUrl(current.browser_download_url), index };
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

  const work = await mkdtemp(join(tmpdir(), 'cpy-index-'));
  let uploaded: GitHubAsset;
  try {
    const file = join(work, INDEX_NEXT_FILE);
    await writeFile(file, text);
    // What an earlier, interrupted update left: never renamed, so never read.
    const stale = find(INDEX_NEXT_FILE);
    if (stale) {
      await gh.deleteAsset(stale.id);
      emit({ type: 'asset', name: INDEX_NEXT_FILE, action: 'deleted-stale' });
    }
    emit({ type: 'asset', name: INDEX_NEXT_FILE, action: 'uploading' });
    uploaded = await uploadNext(gh, release, file);
    emit({ type: 'asset', name: INDEX_NEXT_FILE, action: 'uploaded' });
  } finally {
    await rm(work, { recursive: true, force: true });
  }

  // Downloaded again: the bytes sent, and an index a reader accepts, before anything is swapped.
  const back = await gh.downloadAsset(uploaded);
  let readable = true;
  try {
    parseIndexText(back.toString('utf8'), INDEX_NEXT_FILE);
  } catch {
    readable = false;
  }
  if (sha256(back) !== sha256(text) || !readable) {
    throw new CpyError('CPY_PUBLISH_VERIFY_FAILED', `${INDEX_NEXT_FILE} on release ${INDEX_RELEASE_TAG} has sha256 ${sha256(back)}, the index sent ${sha256(text)}`, {
      hint: `run again: ${INDEX_FILE} was not changed, and the next run uploads the index again`,
    });
  }
  emit({ type: 'asset', name: INDEX_NEXT_FILE, action: 'verified' });

  // The swap. Nothing else changed the assets meanwhile (publishes to one repository run one at a time).
  const now = await gh.listAssets(release.id);
  const stillCurrent = now.find((a) => a.name === INDEX_FILE) ?? null;
  if ((stillCurrent?.id ?? null) !== (current?.id ?? null)) {
    throw new CpyError('CPY_PUBLISH_INDEX_CONFLICT', `${INDEX_FILE} on release ${INDEX_RELEASE_TAG} changed while this update was being made`, {
      hint: 'another cpy publish updated the index at the same time: run again (run publishes to one repository one at a time, e.g. in one concurrency group)',
    });
  }
  let previousAsset: GitHubAsset | null = previous;
  if (current) {
    if (previous) {
      await gh.deleteAsset(previous.id);
      emit({ type: 'asset', name: INDEX_PREVIOUS_FILE, action: 'deleted' });
    }
    previousAsset = await rename(gh, current, INDEX_PREVIOUS_FILE);
    emit({ type: 'rename', from: INDEX_FILE, to: INDEX_PREVIOUS_FILE });
  }
  // Without an index.json (the first update, or one killed between the renames) index.previous.json, if any, stays: it is the index before this one.
  const published = await rename(gh, uploaded, INDEX_FILE);
  emit({ type: 'rename', from: INDEX_NEXT_FILE, to: INDEX_FILE });
  return { url: published.browser_download_url, previousUrl: previousAsset?.browser_download_url ?? besideUrl(published.browser_download_url), index: next };
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

/** Downloads and checks the published index; one that cannot be read is an error that leaves it as it is. */
async function readIndexAsset(gh: GitHubClient, asset: GitHubAsset): Promise<ArtifactIndex> {
  const source = `${asset.name} on release ${INDEX_RELEASE_TAG}`;
  const bytes = asset.state === 'uploaded' ? await gh.downloadAsset(asset) : Buffer.alloc(0);
  try {
    return parseIndexText(bytes.toString('utf8'), source);
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

/** Uploads index.json.new; one left by a cut upload (422 already_exists) is deleted and sent again. */
async function uploadNext(gh: GitHubClient, release: GitHubRelease, file: string): Promise<GitHubAsset> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const got = await gh.uploadAsset(release, file, INDEX_NEXT_FILE);
    if (got !== 'already_exists') return got;
    const stale = (await gh.listAssets(release.id)).find((a) => a.name === INDEX_NEXT_FILE);
    if (stale) await gh.deleteAsset(stale.id);
  }
  throw new CpyError('CPY_PUBLISH_UPLOAD_FAILED', `${INDEX_NEXT_FILE} could not be uploaded (an asset of that name kept coming back)`, {
    hint: `delete ${INDEX_NEXT_FILE} on the ${INDEX_RELEASE_TAG} release page, then run again`,
  });
}

async function rename(gh: GitHubClient, asset: GitHubAsset, name: string): Promise<GitHubAsset> {
  try {
    return await gh.updateAsset(asset.id, { name });
  } catch (error) {
    if (error instanceof GitHubApiError && error.status === 422 && error.errors.some((e) => e.code === 'already_exists')) {
      throw new CpyError('CPY_PUBLISH_INDEX_CONFLICT', `cannot rename ${asset.name} to ${name} on release ${INDEX_RELEASE_TAG}: the release already has a ${name}`, {
        hint: 'another cpy publish updated the index at the same time: run again',
      });
    }
    throw error;
  }
}

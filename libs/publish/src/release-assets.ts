import { stat } from 'node:fs/promises';
import { CpyError } from '@cpy/core';
import { INDEX_RELEASE_TAG, sha256File } from '@cpy/artifact';
import { GitHubApiError, type GitHubAsset, type GitHubClient, type GitHubRelease } from './github.js';

/** What a signature or a keys file may weigh: a few KiB. A larger one is not read. */
export const MAX_SMALL_ASSET = 1024 * 1024;

/** The text of a small asset (a signature, a checksum, a keys file); null when it is not there to read (not uploaded, or larger than MAX_SMALL_ASSET). */
export async function smallAssetText(gh: GitHubClient, asset: GitHubAsset | null | undefined): Promise<string | null> {
  return asset && asset.state === 'uploaded' && asset.size <= MAX_SMALL_ASSET ? (await gh.downloadAsset(asset)).toString('utf8') : null;
}

/**
 * Uploads a file of the index release as `name` (the caller deleted any it found before). One
 * left by a cut upload (422 already_exists, not `uploaded`) is deleted and sent again; a whole one
 * with these bytes is this upload's own (its reply was lost); a whole one with other bytes was
 * put there by another update at the same time: CPY_PUBLISH_INDEX_CONFLICT, and it is left alone.
 */
export async function uploadFresh(gh: GitHubClient, release: GitHubRelease, file: string, name: string): Promise<GitHubAsset> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const got = await gh.uploadAsset(release, file, name);
    if (got !== 'already_exists') return got;
    const stale = (await gh.listAssets(release.id)).find((a) => a.name === name);
    if (stale?.state === 'uploaded') {
      if (stale.size === (await stat(file)).size && (await gh.assetSha256(stale)) === (await sha256File(file))) return stale;
      throw new CpyError('CPY_PUBLISH_INDEX_CONFLICT', `${name} on release ${INDEX_RELEASE_TAG} appeared while this update was uploading its own`, {
        hint: 'another cpy publish updated the index at the same time: run again (run publishes to one repository one at a time, e.g. in one concurrency group)',
      });
    }
    if (stale) await gh.deleteAsset(stale.id);
  }
  throw new CpyError('CPY_PUBLISH_UPLOAD_FAILED', `${name} could not be uploaded (an asset of that name kept coming back)`, {
    hint: `delete ${name} on the ${INDEX_RELEASE_TAG} release page, then run again`,
  });
}

/** Renames an asset of the index release; a name the release already has means another publish is at work. */
export async function renameAsset(gh: GitHubClient, asset: GitHubAsset, name: string): Promise<GitHubAsset> {
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

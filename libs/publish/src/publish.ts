import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { CpyError, sha256File } from '@cpy/artifact';
import { type GitHubAsset, type GitHubClient, type GitHubRelease } from './github.js';

export interface PublishAsset {
  readonly path: string;
  /** Default: the file's name. */
  readonly name?: string;
}

export interface PublishOptions {
  readonly github: GitHubClient;
  readonly tag: string;
  /** The commit (or branch) the tag is created at when the release is new. */
  readonly commit?: string;
  readonly title: string;
  /** The release notes, or a function of the uploaded assets (their download URLs are known only then). */
  readonly notes: string | ((assets: PublishResult['assets']) => string);
  readonly prerelease: boolean;
  readonly assets: readonly PublishAsset[];
  /** Replace a published asset whose bytes differ (default: refuse). */
  readonly replace?: boolean;
  readonly onEvent?: (event: PublishEvent) => void;
}

export type PublishEvent =
  | { readonly type: 'release'; readonly action: 'created' | 'found-draft' | 'found-published'; readonly url: string }
  | { readonly type: 'asset'; readonly name: string; readonly action: 'uploading' | 'uploaded' | 'unchanged' | 'replacing' | 'verified' };

export interface PublishResult {
  /** `published`: made public now; `unchanged`: it already was, with these exact assets. */
  readonly status: 'published' | 'unchanged';
  readonly tag: string;
  readonly url: string;
  readonly releaseId: number;
  readonly assets: readonly { name: string; sha256: string; size: number; url: string; action: 'uploaded' | 'unchanged' | 'replaced' }[];
}

interface Local {
  readonly path: string;
  readonly name: string;
  readonly size: number;
  readonly sha256: string;
}

/**
 * Publishes a GitHub Release transactionally, the way python-build-standalone
 * does: the release is created as a draft (with its tag at `commit`), every
 * asset is uploaded (retried; a half-uploaded one is deleted and sent again),
 * downloaded again and its sha256 compared with the local file, and only then
 * is the release made public. Any failure leaves a draft that a re-run
 * completes. A re-run of a published release skips identical assets and
 * refuses to replace a different one unless `replace` is set.
 */
export async function publishRelease(options: PublishOptions): Promise<PublishResult> {
  const gh = options.github;
  const emit = options.onEvent ?? (() => undefined);
  const locals: Local[] = [];
  for (const a of options.assets) {
    const st = await stat(a.path).catch(() => null);
    if (!st?.isFile()) throw new CpyError('CPY_PUBLISH_NO_ASSET', `${a.path} is not a file`, { hint: 'publish the files cpy build wrote (the .tgz, its .sha256 and .json)' });
    locals.push({ path: a.path, name: a.name ?? basename(a.path), size: st.size, sha256: await sha256File(a.path) });
  }
  const names = new Set(locals.map((l) => l.name));
  if (names.size !== locals.length) throw new CpyError('CPY_PUBLISH_DUPLICATE_ASSET', 'two assets have the same name', { hint: 'give each asset its own file name' });

  let release = (await gh.listReleases()).find((r) => r.tag_name === options.tag) ?? null;
  const wasPublished = release !== null && !release.draft;
  if (!release) {
    release = await gh.createRelease({
      tag_name: options.tag,
      ...(options.commit ? { target_commitish: options.commit } : {}),
      name: options.title,
      body: typeof options.notes === 'string' ? options.notes : 'cpy is uploading and verifying the assets of this release.',
      draft: true,
      prerelease: options.prerelease,
    });
    emit({ type: 'release', action: 'created', url: release.html_url });
  } else {
    emit({ type: 'release', action: wasPublished ? 'found-published' : 'found-draft', url: release.html_url });
  }

  // What is there already, and what each local file needs.
  const existing = new Map((await gh.listAssets(release.id)).map((a) => [a.name, a]));
  const plan: { local: Local; remote: GitHubAsset | null; action: 'upload' | 'check' | 'replace' }[] = [];
  for (const local of locals) {
    const remote = existing.get(local.name) ?? null;
    if (!remote) plan.push({ local, remote, action: 'upload' });
    else if (remote.state !== 'uploaded' || remote.size !== local.size) plan.push({ local, remote, action: wasPublished ? 'replace' : 'upload' });
    else plan.push({ local, remote, action: 'check' });
  }
  // Same name and size: compare the bytes. On a draft a difference is simply uploaded again; on a
  // published release it is refused (below) before anything is touched.
  for (const p of plan.filter((x) => x.action === 'check')) {
    if ((await gh.assetSha256(p.remote!)) !== p.local.sha256) p.action = wasPublished ? 'replace' : 'upload';
  }
  const conflicts = plan.filter((p) => p.action === 'replace');
  if (wasPublished && conflicts.length > 0 && !options.replace) {
    throw new CpyError('CPY_PUBLISH_ASSET_CONFLICT', `release ${options.tag} is published with different ${conflicts.map((c) => c.local.name).join(', ')}`, {
      hint: 'a published artifact is never changed silently: publish a new build number, or pass --replace to replace it',
      details: { assets: conflicts.map((c) => c.local.name) },
    });
  }

  const results: { name: string; sha256: string; size: number; url: string; action: 'uploaded' | 'unchanged' | 'replaced' }[] = [];
  for (const p of plan) {
    let asset: GitHubAsset;
    let action: 'uploaded' | 'unchanged' | 'replaced';
    if (p.action === 'check') {
      asset = p.remote!;
      action = 'unchanged';
      emit({ type: 'asset', name: p.local.name, action: 'unchanged' });
    } else {
      if (p.remote) {
        emit({ type: 'asset', name: p.local.name, action: 'replacing' });
        await gh.deleteAsset(p.remote.id);
      }
      emit({ type: 'asset', name: p.local.name, action: 'uploading' });
      asset = await upload(gh, release, p.local);
      action = p.remote && p.action === 'replace' ? 'replaced' : 'uploaded';
      emit({ type: 'asset', name: p.local.name, action: 'uploaded' });
    }
    results.push({ name: p.local.name, sha256: p.local.sha256, size: p.local.size, url: asset.browser_download_url, action });
  }

  // Every asset downloaded again and compared before anything is made public (skipped for a published release left as it was).
  const changed = results.some((r) => r.action !== 'unchanged');
  if (!wasPublished || changed) {
    const remote = new Map((await gh.listAssets(release.id)).map((a) => [a.name, a]));
    for (const local of locals) {
      const asset = remote.get(local.name);
      const got = asset ? await gh.assetSha256(asset) : null;
      if (got !== local.sha256) {
        throw new CpyError('CPY_PUBLISH_VERIFY_FAILED', `${local.name} on the release has sha256 ${got ?? '(missing)'}, the local file ${local.sha256}`, {
          hint: wasPublished ? 'run again with --replace' : 'run again: the release is still a draft, and the re-run uploads it again',
        });
      }
      emit({ type: 'asset', name: local.name, action: 'verified' });
    }
  }
  if (!wasPublished) {
    // A draft's assets download from an `untagged-...` address that dies when it is published: the
    // release is published first, and the notes (and the URLs returned) use the addresses it then has.
    release = await gh.updateRelease(release.id, { draft: false, name: options.title, prerelease: options.prerelease });
    const final = new Map(release.assets.map((a) => [a.name, a.browser_download_url]));
    for (const r of results) r.url = final.get(r.name) ?? r.url;
  }
  const body = typeof options.notes === 'string' ? options.notes : options.notes(results);
  if (!wasPublished || changed) release = await gh.updateRelease(release.id, { body });
  return { status: wasPublished && !changed ? 'unchanged' : 'published', tag: options.tag, url: release.html_url, releaseId: release.id, assets: results };
}

/** Uploads one asset; an upload that was cut off leaves a broken asset of that name, which is deleted and sent again. */
async function upload(gh: GitHubClient, release: GitHubRelease, local: Local): Promise<GitHubAsset> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const got = await gh.uploadAsset(release, local.path, local.name);
    if (got !== 'already_exists') return got;
    const stale = (await gh.listAssets(release.id)).find((a) => a.name === local.name);
    if (stale?.state === 'uploaded' && stale.size === local.size && (await gh.assetSha256(stale)) === local.sha256) return stale;
    if (stale) await gh.deleteAsset(stale.id);
  }
  throw new CpyError('CPY_PUBLISH_UPLOAD_FAILED', `${local.name} could not be uploaded (an asset of that name kept coming back)`, {
    hint: 'delete the asset on the release page, then run again',
  });
}

import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { CpyError } from '@cpy/core';
import { sha256File } from '@cpy/artifact';
import { signFile, type SigningKey } from '@cpy/signing';
import { type GitHubAsset, type GitHubClient, type GitHubRelease } from './github.js';
import { MAX_SMALL_ASSET } from './release-assets.js';
import { isOwnSignature, signatureName } from './signatures.js';

/** A replacement's name on the release until it is checked and swapped in (`<name>.new`). */
const NEXT_SUFFIX = '.new';

/** What a draft's notes say until its assets are uploaded and verified. */
const PLACEHOLDER_NOTES = 'cpy is uploading and verifying the assets of this release.';

export interface PublishAsset {
  readonly path: string;
  /** Default: the file's name. */
  readonly name?: string;
  /**
   * Names of assets that belong with this file's bytes (an artifact's debug symbols and test
   * suite, their `.sha256`). When this file is sent again (new bytes), one of them on the release
   * that this publish does not carry is deleted, with its signature: it belonged to the old bytes.
   */
  readonly companions?: readonly string[];
}

/** Release notes, or release notes and the title they call for. */
export type ReleaseText = string | { readonly title: string; readonly body: string };

export interface PublishOptions {
  readonly github: GitHubClient;
  readonly tag: string;
  /** The commit (or branch) the tag is created at when the release is new. */
  readonly commit?: string;
  readonly title: string;
  /**
   * The release notes, or a function of the uploaded assets (their download URLs are known only
   * then) and of everything on the release once this publish is done (a release can hold assets
   * other publishes put there). It gives the notes, or the notes with the title they call for,
   * which then replaces `title`.
   */
  readonly notes: string | ((assets: PublishResult['assets'], onRelease: readonly GitHubAsset[]) => ReleaseText | Promise<ReleaseText>);
  /** Pre-release or not: set when the release is made (and when a draft is published). */
  readonly prerelease: boolean;
  /**
   * Whether the release may become the repository's "Latest" when its draft is published
   * (GitHub's default makes every release published so; default true). False for an older
   * version's build published after a newer one's.
   */
  readonly latest?: boolean;
  /** `prerelease` was asked for, not derived: a published release is changed to it too. */
  readonly prereleaseAsked?: boolean;
  /** The notes were asked for (a changelog, a template): a published release's are written again too, when they differ. */
  readonly notesAsked?: boolean;
  readonly assets: readonly PublishAsset[];
  /** Replace a published asset whose bytes differ (default: refuse). */
  readonly replace?: boolean;
  /**
   * Signs every asset: a detached, ASCII-armored OpenPGP signature `<name>.asc` is uploaded beside
   * it (made before anything is uploaded). A signature already on the release that verifies the
   * file with this key is kept, so a re-run changes nothing.
   */
  readonly signingKey?: SigningKey;
  /**
   * Runs before a draft is made public, with everything then on it (other publishes' assets
   * among them); a throw leaves the release a draft. publishArtifact checks there that each other
   * build on the draft is whole (one a stopped publish left half uploaded must not go public).
   */
  readonly beforePublish?: (onRelease: readonly GitHubAsset[]) => Promise<void>;
  readonly onEvent?: (event: PublishEvent) => void;
}

export type PublishEvent =
  | { readonly type: 'release'; readonly action: 'created' | 'found-draft' | 'found-published'; readonly url: string }
  /**
   * `signed`: its signature was made (the asset `name` is that `.asc`); `deleted-stale`: an asset
   * of the bytes a file sent again replaces (its signature, when this publish does not sign; a
   * companion this publish does not carry), deleted.
   */
  | { readonly type: 'asset'; readonly name: string; readonly action: 'signed' | 'uploading' | 'uploaded' | 'unchanged' | 'replacing' | 'verified' | 'deleted-stale' };

export interface PublishedAsset {
  name: string;
  sha256: string;
  size: number;
  url: string;
  action: 'uploaded' | 'unchanged' | 'replaced';
  /** The URL of its detached signature `<name>.asc` on the release, when it has one that matches it. */
  signatureUrl?: string;
}

export interface PublishResult {
  /**
   * `published`: made public now, or its assets changed; `updated`: it already was, with these
   * exact assets, and its pre-release flag or notes were changed as asked; `unchanged`: nothing changed.
   */
  readonly status: 'published' | 'updated' | 'unchanged';
  readonly tag: string;
  readonly url: string;
  readonly releaseId: number;
  /** The files given, each followed by its `.asc` when signing. */
  readonly assets: readonly PublishedAsset[];
  /** The key that signed them (signingKey); null when unsigned. */
  readonly signer: { readonly fingerprint: string; readonly userId: string } | null;
  /** Whether the release is a pre-release, as it is now on GitHub. */
  readonly prerelease: boolean;
}

interface Local {
  readonly path: string;
  readonly name: string;
  size: number;
  sha256: string;
  /** For a signature: the file it signs. */
  readonly signs?: Local;
  readonly companions?: readonly string[];
}

/**
 * Publishes a GitHub Release transactionally, the way python-build-standalone
 * does: the release is created as a draft (with its tag at `commit`), every
 * asset is uploaded (retried; a half-uploaded one is deleted and sent again),
 * downloaded again and its sha256 compared with the local file, and only then
 * is the release made public. Any failure leaves a draft that a re-run
 * completes. A re-run of a published release skips identical assets and
 * refuses to replace a different one unless `replace` is set.
 *
 * With `signingKey`, every asset `X` gets its detached signature `X.asc`, uploaded and verified
 * the same way. Without one, a file uploaded again loses the `X.asc` beside it (it would no
 * longer match), and signatures beside unchanged files are left as they are.
 */
export async function publishRelease(options: PublishOptions): Promise<PublishResult> {
  const files: Local[] = [];
  for (const a of options.assets) {
    const st = await stat(a.path).catch(() => null);
    if (!st?.isFile()) throw new CpyError('CPY_PUBLISH_NO_ASSET', `${a.path} is not a file`, { hint: 'publish the files cpy build wrote (the .tgz, its .sha256 and .json)' });
    files.push({ path: a.path, name: a.name ?? basename(a.path), size: st.size, sha256: await sha256File(a.path), ...(a.companions ? { companions: a.companions } : {}) });
  }
  const key = options.signingKey ?? null;
  const names = [...files.map((l) => l.name), ...(key ? files.map((l) => signatureName(l.name)) : [])];
  if (new Set(names).size !== names.length) throw new CpyError('CPY_PUBLISH_DUPLICATE_ASSET', 'two assets have the same name', { hint: 'give each asset its own file name (when signing, cpy makes each <name>.asc itself)' });
  if (!key) return publishLocals(options, files, null);
  const work = await mkdtemp(join(tmpdir(), 'cpy-sign-'));
  try {
    // Every signature is made before anything is uploaded: a key that cannot sign leaves the release as it was.
    const locals: Local[] = [];
    for (const file of files) {
      const path = join(work, signatureName(file.name));
      await writeFile(path, await signFile(file.path, key));
      locals.push(file, { path, name: signatureName(file.name), ...(await measure(path)), signs: file });
      options.onEvent?.({ type: 'asset', name: signatureName(file.name), action: 'signed' });
    }
    return await publishLocals(options, locals, key);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const measure = async (path: string) => ({ size: (await stat(path)).size, sha256: await sha256File(path) });

async function publishLocals(options: PublishOptions, locals: Local[], key: SigningKey | null): Promise<PublishResult> {
  const gh = options.github;
  const emit = options.onEvent ?? (() => undefined);

  // The published release of the tag, else its draft: a draft an earlier GitHub left beside the
  // published one (several drafts may have a tag) is not where a build goes.
  const releases = (await gh.listReleases()).filter((r) => r.tag_name === options.tag);
  let release = releases.find((r) => !r.draft) ?? releases[0] ?? null;
  const wasPublished = release !== null && !release.draft;
  if (!release) {
    release = await gh.createRelease({
      tag_name: options.tag,
      ...(options.commit ? { target_commitish: options.commit } : {}),
      name: options.title,
      body: typeof options.notes === 'string' ? options.notes : PLACEHOLDER_NOTES,
      draft: true,
      prerelease: options.prerelease,
    });
    emit({ type: 'release', action: 'created', url: release.html_url });
  } else {
    emit({ type: 'release', action: wasPublished ? 'found-published' : 'found-draft', url: release.html_url });
  }

  // What is there already, and what each local file needs.
  const existing = new Map((await gh.listAssets(release.id)).map((a) => [a.name, a]));
  // A signature made afresh never has the bytes of one made before (it holds its time). One on the
  // release that verifies the file with this key is as good: it is kept, and the re-run changes nothing.
  if (key) {
    for (const local of locals) {
      const remote = existing.get(local.name);
      if (!local.signs || remote?.state !== 'uploaded' || remote.size > MAX_SMALL_ASSET) continue;
      const text = (await gh.downloadAsset(remote)).toString('utf8');
      if (await isOwnSignature({ file: local.signs.path, signature: text, key, label: local.signs.name, source: `${local.name} on release ${options.tag}` })) {
        await writeFile(local.path, text);
        Object.assign(local, await measure(local.path));
      }
    }
  }
  const plan: { local: Local; remote: GitHubAsset | null; action: 'upload' | 'check' | 'replace' }[] = [];
  for (const local of locals) {
    const remote = existing.get(local.name) ?? null;
    if (!remote) plan.push({ local, remote, action: 'upload' });
    // An upload that never finished (a killed run, a job's timeout) published nothing: it is sent
    // again, on a published release too (without --replace, a re-run could never complete it).
    else if (remote.state !== 'uploaded') plan.push({ local, remote, action: 'upload' });
    else if (remote.size !== local.size) plan.push({ local, remote, action: wasPublished ? 'replace' : 'upload' });
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

  // What an earlier pack put beside a file sent again now (its debug symbols, its test suite) and
  // this publish does not carry: it belonged to the old bytes, and would go public beside the new.
  // Deleted before the file takes its name: a run stopped after that found the file unchanged and
  // kept them for good. A file uploaded now (onto a draft) goes first; one replaced on a
  // published release once its replacement is there whole, below: until then its old bytes, with
  // their companions, stay as they were.
  const deleted = new Set<number>();
  const carried = new Set(locals.map((l) => l.name));
  const deleteCompanions = async (action: 'upload' | 'replace') => {
    for (const p of plan.filter((x) => x.action === action)) {
      for (const name of (p.local.companions ?? []).flatMap((c) => [c, signatureName(c)])) {
        const stale = existing.get(name);
        if (!stale || carried.has(name) || deleted.has(stale.id)) continue;
        await gh.deleteAsset(stale.id);
        deleted.add(stale.id);
        emit({ type: 'asset', name, action: 'deleted-stale' });
      }
    }
  };
  await deleteCompanions('upload');

  // A published file replaced (--replace) is uploaded beside it first, as <name>.new, and checked:
  // its old bytes stay public until every replacement is there whole (a cut upload left a published
  // release with an empty artifact, which the index still listed). Then each is swapped in.
  const staged = new Map<string, GitHubAsset>();
  for (const p of plan.filter((x) => x.action === 'replace')) {
    const next = `${p.local.name}${NEXT_SUFFIX}`;
    const stale = existing.get(next);
    if (stale) await gh.deleteAsset(stale.id);
    emit({ type: 'asset', name: p.local.name, action: 'replacing' });
    emit({ type: 'asset', name: p.local.name, action: 'uploading' });
    const asset = await upload(gh, release, { ...p.local, name: next });
    const got = await gh.assetSha256(asset);
    if (got !== p.local.sha256) {
      throw new CpyError('CPY_PUBLISH_VERIFY_FAILED', `${next} on the release has sha256 ${got}, the local file ${p.local.sha256}`, {
        hint: `run again with --replace: ${p.local.name} on the release was not changed`,
      });
    }
    emit({ type: 'asset', name: p.local.name, action: 'uploaded' });
    staged.set(p.local.name, asset);
  }
  await deleteCompanions('replace');

  const results: PublishedAsset[] = [];
  for (const p of plan) {
    let asset: GitHubAsset;
    let action: 'uploaded' | 'unchanged' | 'replaced';
    if (p.action === 'check') {
      asset = p.remote!;
      action = 'unchanged';
      emit({ type: 'asset', name: p.local.name, action: 'unchanged' });
    } else {
      // A file sent again: the signature beside it goes first, so the release never pairs new bytes
      // with an old signature (kept only when it verifies these bytes with the signing key).
      const sig = p.local.signs ? null : existing.get(signatureName(p.local.name));
      if (sig && !deleted.has(sig.id) && plan.find((x) => x.local.name === sig.name)?.action !== 'check') {
        await gh.deleteAsset(sig.id);
        deleted.add(sig.id);
        emit({ type: 'asset', name: sig.name, action: key ? 'replacing' : 'deleted-stale' });
      }
      const next = staged.get(p.local.name);
      if (next) {
        // The old file deleted and the new one renamed into its place, or neither: a stop between
        // them left the release without the file.
        asset = await gh.together(async () => {
          if (p.remote && !deleted.has(p.remote.id)) await gh.deleteAsset(p.remote.id);
          return gh.updateAsset(next.id, { name: p.local.name });
        });
        action = 'replaced';
      } else {
        if (p.remote && !deleted.has(p.remote.id)) {
          emit({ type: 'asset', name: p.local.name, action: 'replacing' });
          await gh.deleteAsset(p.remote.id);
        }
        emit({ type: 'asset', name: p.local.name, action: 'uploading' });
        asset = await upload(gh, release, p.local);
        action = 'uploaded';
        emit({ type: 'asset', name: p.local.name, action: 'uploaded' });
      }
    }
    results.push({ name: p.local.name, sha256: p.local.sha256, size: p.local.size, url: asset.browser_download_url, action });
  }
  // A replacement a stopped run left, never swapped in: not part of the release.
  for (const local of locals) {
    const left = existing.get(`${local.name}${NEXT_SUFFIX}`);
    if (left && !staged.has(local.name)) await gh.deleteAsset(left.id);
  }
  // Each file's signature: the one uploaded or kept now, or (unsigned) one left on the release beside an unchanged file.
  const signatures = new Set(locals.filter((l) => l.signs).map((l) => l.name));
  for (const r of results) {
    if (signatures.has(r.name)) continue;
    if (key) {
      r.signatureUrl = results.find((x) => x.name === signatureName(r.name))?.url;
    } else if (r.action === 'unchanged') {
      const left = existing.get(signatureName(r.name));
      if (left?.state === 'uploaded' && !deleted.has(left.id)) r.signatureUrl = left.browser_download_url;
    }
  }

  // Every asset downloaded again and compared before anything is made public (skipped for a published release left as it was).
  const changed = results.some((r) => r.action !== 'unchanged');
  let onDraft: readonly GitHubAsset[] = [];
  if (!wasPublished || changed) {
    onDraft = await gh.listAssets(release.id);
    const remote = new Map(onDraft.map((a) => [a.name, a]));
    for (const local of locals) {
      const asset = remote.get(local.name);
      // A replacement was checked before it was swapped in (renamed, the same bytes).
      const got = asset && asset.id === staged.get(local.name)?.id ? local.sha256 : asset ? await gh.assetSha256(asset) : null;
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
    await options.beforePublish?.(onDraft);
    release = await gh.updateRelease(release.id, { draft: false, name: options.title, prerelease: options.prerelease, ...(options.latest === false ? { make_latest: 'false' as const } : {}) });
    const final = new Map(release.assets.map((a) => [a.name, a.browser_download_url]));
    for (const r of results) {
      r.url = final.get(r.name) ?? r.url;
      if (r.signatureUrl) r.signatureUrl = final.get(signatureName(r.name)) ?? r.signatureUrl;
    }
  }
  let updated = false;
  if (wasPublished && options.prereleaseAsked && release.prerelease !== options.prerelease) {
    release = await gh.updateRelease(release.id, { prerelease: options.prerelease });
    updated = true;
  }
  // Also when a run was stopped between publishing the release and writing its notes: the
  // release still says it is being uploaded, and an unchanged re-run writes them.
  if (!wasPublished || changed || release.body === PLACEHOLDER_NOTES || options.notesAsked) {
    const text = typeof options.notes === 'string' ? options.notes : await options.notes(results, wasPublished ? await gh.listAssets(release.id) : release.assets);
    const { title, body } = typeof text === 'string' ? { title: options.title, body: text } : text;
    if (body !== release.body || title !== release.name) {
      updated = true;
      release = await gh.updateRelease(release.id, { body, ...(title !== release.name ? { name: title } : {}) });
    }
  }
  return {
    status: wasPublished && !changed ? (updated ? 'updated' : 'unchanged') : 'published',
    tag: options.tag,
    url: release.html_url,
    releaseId: release.id,
    assets: results,
    signer: key ? { fingerprint: key.fingerprint, userId: key.userId } : null,
    prerelease: release.prerelease,
  };
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

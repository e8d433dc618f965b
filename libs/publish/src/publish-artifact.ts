import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { checksumFileName, CpyError, debugSymbolsFileName, isCpyError, newestFirst, parseVersion, testsFileName } from '@cpy/core';
import { checkSideChecksum, INDEX_RELEASE_TAG, indexEntryFor, readArtifactEntry, readArtifactFileMetadata, refuseIncompleteTree, refuseRejected, sha256File, TRUSTED_KEYS_FILE } from '@cpy/artifact';
import { readPublicKeys, verifyPinned, type SigningKey, type TrustedKeys } from '@cpy/signing';
import type { GitHubAsset, GitHubClient, GitHubRelease } from './github.js';
import { updateIndexes, type IndexUpdateEvent } from './index-update.js';
import { checkIndexBeforeSigning, readPublishedIndexIfValid, type IndexTrust, type PublishIndexResult } from './index-release.js';
import { DEFAULT_NOTES_TEMPLATE, renderNotes } from './notes.js';
import { publishRelease, type PublishEvent, type PublishResult } from './publish.js';
import { smallAssetText } from './release-assets.js';
import { buildsOnRelease, refuseHalfPublished, releaseTitle } from './release-builds.js';
import { addPublishedBuild } from './retention.js';
import { readKeysAsset } from './keys-file.js';
import { signatureName } from './signatures.js';
import { parseReleaseTag, releaseTag } from './tag.js';

export interface PublishArtifactOptions {
  /** The repository's client (gitHub()); the release and the index go to its repository. */
  readonly github: GitHubClient;
  /** Default `cpython-<version>-build<N>`. */
  readonly tag?: string | undefined;
  /** The commit (or branch) a new tag is created at (default: the default branch). */
  readonly commit?: string | undefined;
  /** The notes template, its text (default DEFAULT_NOTES_TEMPLATE); `{{field}}` placeholders. */
  readonly notesTemplate?: string | undefined;
  /** The Changelog section of the notes. */
  readonly changelog?: string | undefined;
  /** The Feature reference in the notes' devcontainer.json snippet. */
  readonly featureRef?: string | undefined;
  /**
   * `true` marks the release pre-release, `false` never does. Unset, the rule decides: the first
   * release of a version (no other release in the repository has it), and any CPython pre-release
   * (`3.14.0rc1`), is marked pre-release.
   */
  readonly prerelease?: boolean | undefined;
  /** Replace published assets whose bytes differ (default: refuse, CPY_PUBLISH_ASSET_CONFLICT). */
  readonly replace?: boolean | undefined;
  /** Add the build to the index on the cpy-index release (default true). */
  readonly index?: boolean | undefined;
  /** Also keep a copy of the index in this folder: `index.json` and `ARTIFACTS.md`. */
  readonly register?: string | undefined;
  /** Signs every asset and the index (see publishRelease, publishIndex); unset: nothing is signed. */
  readonly signingKey?: SigningKey | undefined;
  /** With `signingKey`: what the signed index update trusts besides an index that key signed (IndexTrust). */
  readonly indexTrust?: IndexTrust | undefined;
  readonly onEvent?: ((event: PublishArtifactEvent) => void) | undefined;
}

export type PublishArtifactEvent =
  /** Every local check passed: the release is published next, with this tag, marked pre-release or not. */
  | { readonly type: 'publishing'; readonly tag: string; readonly repository: string; readonly prerelease: boolean }
  /** A step of the release (publishRelease's events). */
  | { readonly type: 'release'; readonly event: PublishEvent }
  | IndexUpdateEvent;

export interface PublishArtifactResult {
  /** `owner/name`. */
  readonly repository: string;
  readonly release: PublishResult;
  /** Whether the release is marked pre-release. */
  readonly prerelease: boolean;
  /** The index on the cpy-index release; null with `index: false`. */
  readonly index: PublishIndexResult | null;
  /** The register's `index.json`; null without `register`. */
  readonly register: string | null;
}

/** The artifact's own metadata (its first entry), its name and the .json beside it checked against it. */
async function metadataOf(path: string) {
  return readArtifactFileMetadata(path).catch((error: unknown) => {
    if (!isCpyError(error, 'CPY_INDEX_NOT_AN_ARTIFACT')) throw error;
    throw new CpyError('CPY_PUBLISH_NOT_AN_ARTIFACT', error.message, { hint: 'publish an artifact made by cpy build or cpy artifact pack', cause: error });
  });
}

/**
 * Publishes an artifact made by cpy build (or cpy artifact pack) as the GitHub Release
 * `cpython-<version>-build<N>`, then adds it to the index. What is published:
 *
 * - the artifact, its `.sha256` and `.json`; the debug-symbols and tests assets
 *   (debugSymbolsFileName, testsFileName) and their `.sha256` when they are beside it (when the
 *   artifact is sent again, those of an earlier pack this publish does not carry are deleted); and the
 *   PSF license read from inside the artifact, as `LICENSE.txt`. Every file is checked before
 *   anything is sent (CPY_PUBLISH_NO_ASSET, CPY_PUBLISH_NO_LICENSE), and so is the index entry
 *   the build will get; an artifact whose checks failed when it was packed (a `<name>.rejected`
 *   note beside it) is refused (CPY_ARTIFACT_REJECTED);
 * - the release (publishRelease: a draft until every asset is verified), titled and with notes
 *   rendered from the metadata, marked pre-release by the rule of `prerelease`; signed with
 *   `signingKey`;
 * - the index (publishIndex, unless `index: false`) and the `register` folder: this build active,
 *   builds beyond the last KEEP_BUILDS of its line deprecated (BR-005).
 *
 * A failure leaves what a re-run completes (a draft release, the index as it was).
 */
export async function publishArtifact(artifact: string, options: PublishArtifactOptions): Promise<PublishArtifactResult> {
  const emit = options.onEvent ?? (() => undefined);
  const { github } = options;
  const key = options.signingKey ?? null;
  const updateIndex = options.index ?? true;
  if (!existsSync(artifact)) throw new CpyError('CPY_PUBLISH_NO_ASSET', `${artifact} does not exist`, { hint: 'build one first: cpy build <version>' });
  // One whose checks failed when it was packed (kept in rejected/ with a note) is never published.
  await refuseRejected(artifact);
  const metadata = await metadataOf(artifact);
  const tag = options.tag ?? releaseTag(metadata.version, metadata.build);
  // A tag that reads as another build's (cpython-3.13.4-build1 for 3.13.5): retention and prune
  // find a build's release by that name, and would delete one and leave the other listed.
  const named = parseReleaseTag(tag);
  if (named && (named.version !== metadata.version || named.build !== metadata.build)) {
    throw new CpyError('CPY_PUBLISH_BAD_TAG', `--tag ${tag} names CPython ${named.version} build ${named.build}, but ${basename(artifact)} is CPython ${metadata.version} build ${metadata.build}`, {
      hint: `leave --tag out (the release is ${releaseTag(metadata.version, metadata.build)}), or give a tag that does not start with cpython-`,
    });
  }
  const work = await mkdtemp(join(tmpdir(), 'cpy-publish-'));
  try {
    const artifactName = basename(artifact);
    const paths = [artifact, join(dirname(artifact), checksumFileName(artifactName)), `${artifact}.json`];
    // The side assets cpy build wrote, when they are there: debug symbols, the test suite.
    const sides = [debugSymbolsFileName(artifactName), testsFileName(artifactName)];
    for (const side of sides) {
      const path = join(dirname(artifact), side);
      if (existsSync(path)) paths.push(path, join(dirname(artifact), checksumFileName(side)));
    }
    const license = await readArtifactEntry(artifact, metadata.contents.license.replace(/^\//, ''));
    if (!license) throw new CpyError('CPY_PUBLISH_NO_LICENSE', `${artifact} holds no ${metadata.contents.license}`, { hint: 'pack it again with cpy artifact pack' });
    await writeFile(join(work, 'LICENSE.txt'), license);
    paths.push(join(work, 'LICENSE.txt'));
    for (const p of paths) if (!existsSync(p)) throw new CpyError('CPY_PUBLISH_NO_ASSET', `${p} is missing`, { hint: 'publish the files cpy build wrote, side by side' });
    // The tree its metadata describes, whole, as cpy index add checks it: one cut short, or
    // repacked by hand, was published and indexed, and every install of it failed.
    await refuseIncompleteTree(artifact, metadata).catch((error: unknown) => {
      if (!isCpyError(error, 'CPY_INDEX_NOT_AN_ARTIFACT')) throw error;
      throw new CpyError('CPY_PUBLISH_NOT_AN_ARTIFACT', error.message, { hint: 'publish the .tgz cpy build or cpy artifact pack wrote, as it wrote it: nothing was published', details: error.details, cause: error });
    });
    // Each .sha256 says its file's sha256: a wrong one published has every installer refuse the build.
    for (const p of paths) if (paths.includes(join(dirname(p), checksumFileName(basename(p))))) await checkSideChecksum(p);

    // What the index will say of it, and the notes, checked before anything is published (the URL
    // is known only after the upload): a template with an unknown field failed once the release was
    // public, its notes left saying it was being uploaded.
    const url = `https://github.com/${github.repository}/releases/download/${tag}/${artifactName}`;
    if (updateIndex || options.register) {
      const { size } = await stat(artifact);
      indexEntryFor(metadata, { file: artifactName, url, sha256: '0'.repeat(64), size, ...(key ? { signatureUrl: `${url}.asc` } : {}) });
    }
    const template = options.notesTemplate ?? DEFAULT_NOTES_TEMPLATE;
    renderNotes(template, { metadata, tag, artifactUrl: url, assets: [] });
    const releases = await github.listReleases();
    // Other bytes under a file the index lists (a release replaced or deleted by hand, published
    // again): without updating the index (--no-index) every install of it would fail its checksum;
    // updating it, mirrors and caches holding the listed bytes would refuse the new ones, which
    // cpy index add does only with --replace (and this did without a word). (An index that cannot
    // be read is left alone, as --no-index says; updating, its update says why.)
    const listed = (await readPublishedIndexIfValid(github, releases))?.artifacts.find((e) => e.file === artifactName && e.state !== 'removed');
    const bytes = listed ? await sha256File(artifact) : null;
    if (listed && listed.sha256 !== bytes) {
      if (!updateIndex) {
        throw new CpyError('CPY_PUBLISH_INDEX_WOULD_DISAGREE', `the index on the ${INDEX_RELEASE_TAG} release lists ${artifactName} with sha256 ${listed.sha256}: publishing other bytes under that name without updating the index (--no-index) makes every install of it fail its checksum`, {
          hint: 'drop --no-index: the index is updated with the new bytes; nothing was published',
        });
      }
      if (!options.replace) {
        throw new CpyError('CPY_INDEX_REPLACES_BYTES', `the index on the ${INDEX_RELEASE_TAG} release lists ${artifactName} with sha256 ${listed.sha256}, and this file has sha256 ${bytes}: caches and mirrors holding the listed bytes would refuse the new ones`, {
          hint: 'give the new build its own build number (cpy build --build <N+1>), or publish it in place of the listed bytes knowingly with --replace: nothing was published',
          details: { file: artifactName, listed: listed.sha256, given: bytes },
        });
      }
    }
    // A signed index update refuses an index it does not trust: said before anything is published.
    if (key && updateIndex) await checkIndexBeforeSigning({ github, releases, signingKey: key, indexTrust: options.indexTrust });
    // (A draft is no earlier release: nothing of it was published.)
    const firstOfVersion = !releases.some((r) => !r.draft && r.tag_name !== tag && parseReleaseTag(r.tag_name)?.version === metadata.version);
    // A release already published keeps what it is unless told otherwise (and says so).
    const published = releases.find((r) => r.tag_name === tag && !r.draft);
    // Another build on it left half published: said before this one's assets go public beside it
    // (its notes, written after the upload, could not describe the release).
    if (published) refuseHalfPublished(await github.listAssets(published.id), artifactName);
    const prerelease = options.prerelease ?? published?.prerelease ?? (firstOfVersion || parseVersion(metadata.version)?.pre !== null);
    emit({ type: 'publishing', tag, repository: github.repository, prerelease });
    // Not the repository's "Latest" when a newer version or build is published already (a 3.12
    // build published after 3.13's took it). A pre-release is never GitHub's Latest: it does not count.
    const newer = releases.some((r) => {
      const other = !r.draft && !r.prerelease && r.tag_name !== tag ? parseReleaseTag(r.tag_name) : null;
      return other !== null && newestFirst(other, metadata) < 0;
    });
    const release = await publishRelease({
      github,
      tag,
      latest: !newer,
      ...(options.commit ? { commit: options.commit } : {}),
      title: releaseTitle([{ metadata }]),
      // The notes describe every build on the release (one tag holds each distribution and
      // architecture of a version and build number): this one and those published before it.
      notes: async (assets, onRelease) => {
        const builds = await buildsOnRelease(github, onRelease, { fileName: artifactName, metadata, assets });
        const pinnable = builds.length > 1 ? await pinnableKeys(github, releases, key) : null;
        const sections = [];
        for (const b of builds) {
          // Each section pins the signer that signed that build: this key for the build published
          // now; for another, the key whose signature of it is on the release (this one, or one
          // cpy-keys.asc holds: a build signed before a rotation, or by a signed publish when this
          // one is unsigned), and none when no key verifies it (published unsigned, its snippet
          // would pin a signer the Feature then finds no signature of).
          const signer = b.fileName === artifactName ? (key?.fingerprint ?? null) : await signerOf(github, onRelease, b.fileName, pinnable, work);
          sections.push(
            renderNotes(template, {
              metadata: b.metadata,
              tag,
              artifactUrl: b.url,
              assets: b.assets,
              ...(options.changelog ? { changelog: options.changelog } : {}),
              ...(options.featureRef ? { featureRef: options.featureRef } : {}),
              ...(signer ? { signer } : {}),
            }),
          );
        }
        return { title: releaseTitle(builds), body: sections.join('\n\n---\n\n') };
      },
      // A draft holds what other publishes of this tag uploaded too: each of their builds must be
      // whole (its .json readable) before the release goes public with them. A publish stopped
      // half way left a draft with, say, a debian12 .tgz and nothing else; publishing debian11
      // then made that unverified file public and failed on the notes, the release left public.
      beforePublish: async (onDraft) => void (await buildsOnRelease(github, onDraft, { fileName: artifactName, metadata, assets: [] })),
      prerelease,
      ...(options.prerelease !== undefined ? { prereleaseAsked: true } : {}),
      // A re-run with a changelog, a Feature reference or a template writes the notes again: they were kept without a word.
      ...(options.changelog || options.featureRef || options.notesTemplate ? { notesAsked: true } : {}),
      // An earlier pack's side assets go with its bytes when the artifact is sent again.
      assets: paths.map((path) => (path === artifact ? { path, companions: sides.flatMap((side) => [side, checksumFileName(side)]) } : { path })),
      ...(options.replace ? { replace: true } : {}),
      ...(key ? { signingKey: key } : {}),
      onEvent: (event) => emit({ type: 'release', event }),
    });
    const main = release.assets.find((a) => a.name === artifactName);
    if (!main) throw new CpyError('CPY_PUBLISH_NO_ASSET', `the release has no asset named ${artifactName}`, { hint: 'run cpy publish again; it completes the release' });
    const { index, register } = await updateIndexes(addPublishedBuild(metadata, main), {
      github,
      release: updateIndex,
      register: options.register,
      signingKey: options.signingKey,
      indexTrust: options.indexTrust,
      emit,
    });
    return { repository: github.repository, release, prerelease: release.prerelease, index, register };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The public keys whose signatures a release's notes may pin: this publish's signing key, and
 * those in cpy-keys.asc on the index release (the publisher's keys, earlier ones included). A
 * keys file that cannot be read adds none (the notes then pin fewer builds; the index update
 * says what is wrong with it).
 */
async function pinnableKeys(github: GitHubClient, releases: readonly GitHubRelease[], key: SigningKey | null): Promise<TrustedKeys | null> {
  const asset = releases.find((r) => r.tag_name === INDEX_RELEASE_TAG)?.assets.find((a) => a.name === TRUSTED_KEYS_FILE);
  const published = asset ? await readKeysAsset(github, asset).catch((error: unknown) => (isCpyError(error) ? null : Promise.reject(error))) : null;
  const text = `${key?.publicKey.trimEnd() ?? ''}\n${published?.text ?? ''}`.trim();
  return text ? readPublicKeys(text, `the signing key and ${TRUSTED_KEYS_FILE} on release ${INDEX_RELEASE_TAG}`) : null;
}

/**
 * Which of `keys` signed the build `fileName` on the release: the fingerprint whose signature of
 * its `.sha256` (small, and published with every build) is there and verifies; a signed publish
 * signs each asset with one key, so this stands for the build's artifact too. Null for none.
 */
async function signerOf(github: GitHubClient, onRelease: readonly GitHubAsset[], fileName: string, keys: TrustedKeys | null, work: string): Promise<string | null> {
  if (!keys) return null;
  const sums = checksumFileName(fileName);
  const byName = new Map(onRelease.map((a) => [a.name, a]));
  const [text, signature] = await Promise.all([smallAssetText(github, byName.get(sums)), smallAssetText(github, byName.get(signatureName(sums)))]);
  if (text === null || signature === null) return null;
  const file = join(work, `other-${sums}`);
  await writeFile(file, text);
  const signers = keys.keys.map((k) => k.fingerprint);
  return verifyPinned({ file, signature, signatureSource: `${signatureName(sums)} on the release`, trusted: keys, signers, label: sums }).then(
    (check) => check.fingerprint,
    (error: unknown) => (isCpyError(error) ? null : Promise.reject(error)),
  );
}

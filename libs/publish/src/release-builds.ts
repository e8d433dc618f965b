import { type ArtifactMetadata, artifactMetadataSchema, checksumFileName, CpyError, debugSymbolsFileName, parseArtifactFileName, testsFileName } from '@cpy/core';
import type { GitHubAsset, GitHubClient } from './github.js';
import type { PublishedAsset } from './publish.js';
import { MAX_SMALL_ASSET, smallAssetText } from './release-assets.js';

/** One build on a release: its artifact, its metadata, and the assets that belong to it. */
export interface ReleaseBuild {
  readonly fileName: string;
  readonly metadata: ArtifactMetadata;
  /** The artifact's download URL. */
  readonly url: string;
  readonly assets: readonly { readonly name: string; readonly sha256: string; readonly size: number }[];
}

/** Whether `name` is the artifact's or one of its own assets (checksum, metadata, signature, debug symbols, tests). */
function belongsTo(name: string, artifact: string): boolean {
  return [artifact, debugSymbolsFileName(artifact), testsFileName(artifact)].some((a) => name === a || name.startsWith(`${a}.`));
}

/**
 * Refuses a release holding a build other than `fileName` whose publish was stopped half way: its
 * artifact cut off (GitHub keeps it, state "open"), or gone with its .json or .sha256 left
 * (deleted by a re-run, not uploaded again). Checked before a draft is published, and before
 * anything is uploaded to a release already public (CPY_PUBLISH_RELEASE_UNREADABLE).
 */
export function refuseHalfPublished(onRelease: readonly GitHubAsset[], fileName: string): void {
  const names = new Set(onRelease.map((a) => a.name));
  for (const a of onRelease) {
    const of = /^(.*)\.(json|sha256|asc)$/.exec(a.name)?.[1];
    const cut = a.state !== 'uploaded' && parseArtifactFileName(a.name) !== null;
    const orphan = of !== undefined && parseArtifactFileName(of) !== null && !names.has(of);
    const name = cut ? a.name : orphan ? of : null;
    if (name === null || name === fileName) continue;
    throw new CpyError('CPY_PUBLISH_RELEASE_UNREADABLE', `the release holds ${cut ? `${name} not uploaded whole (state ${a.state})` : `${a.name} without ${name}`}: a publish of that build was stopped half way`, {
      hint: `publish that build again (cpy publish ${name}) to complete it, or delete its assets from the release; nothing was published`,
    });
  }
}

/**
 * The builds a release holds, in the order their artifacts were uploaded. One tag
 * (`cpython-<version>-build<N>`) holds every build of that version and build number: one per
 * distribution and architecture. `current` is the build just published, described from what
 * was uploaded; each other one from its `.json` and `.sha256` assets on the release (small
 * files: a big asset's sha256 is the one its `.sha256` records).
 */
export async function buildsOnRelease(
  github: GitHubClient,
  onRelease: readonly GitHubAsset[],
  current: { readonly fileName: string; readonly metadata: ArtifactMetadata; readonly assets: readonly PublishedAsset[] },
): Promise<ReleaseBuild[]> {
  const byName = new Map(onRelease.map((a) => [a.name, a]));
  const text = (name: string) => smallAssetText(github, byName.get(name));
  const builds: ReleaseBuild[] = [];
  const artifacts = onRelease.filter((a) => parseArtifactFileName(a.name) !== null).map((a) => a.name);
  refuseHalfPublished(onRelease, current.fileName);
  if (!artifacts.includes(current.fileName)) artifacts.push(current.fileName);
  for (const fileName of artifacts) {
    if (fileName === current.fileName) {
      const url = current.assets.find((a) => a.name === fileName)?.url ?? byName.get(fileName)?.browser_download_url ?? '';
      builds.push({ fileName, metadata: current.metadata, url, assets: current.assets });
      continue;
    }
    const json = await text(`${fileName}.json`);
    let metadata: ArtifactMetadata | null = null;
    try {
      metadata = json === null ? null : artifactMetadataSchema.parse(JSON.parse(json));
    } catch {
      metadata = null;
    }
    if (!metadata) {
      throw new CpyError('CPY_PUBLISH_RELEASE_UNREADABLE', `the release holds ${fileName} without a readable ${fileName}.json, so its notes cannot describe it`, {
        hint: `publish that build again (cpy publish ${fileName}, with its .json beside it) to restore its metadata asset, or delete it from the release`,
      });
    }
    const assets = [];
    for (const asset of onRelease.filter((a) => belongsTo(a.name, fileName))) {
      const recorded = asset.size > MAX_SMALL_ASSET ? /^[0-9a-f]{64}/.exec((await text(checksumFileName(asset.name))) ?? '')?.[0] : null;
      assets.push({ name: asset.name, size: asset.size, sha256: recorded ?? (await github.assetSha256(asset)) });
    }
    builds.push({ fileName, metadata, url: byName.get(fileName)!.browser_download_url, assets });
  }
  return builds;
}

/**
 * The release's title: `CPython 3.13.5 (build 1, debian 12, x86_64)` for one build; for several,
 * each distribution with its architectures (`debian 12, x86_64 and aarch64; debian 11, x86_64`).
 */
export function releaseTitle(builds: readonly Pick<ReleaseBuild, 'metadata'>[]): string {
  const first = builds[0]!.metadata;
  const systems = new Map<string, string[]>();
  for (const { metadata: m } of builds) {
    const system = `${m.platform.os} ${m.platform.osVersion}`;
    const archs = systems.get(system) ?? [];
    if (!archs.includes(m.platform.arch)) archs.push(m.platform.arch);
    systems.set(system, archs);
  }
  const platforms = [...systems].map(([system, archs]) => `${system}, ${archs.join(' and ')}`).join('; ');
  return `CPython ${first.version} (build ${first.build}, ${platforms})`;
}

import { type ArtifactMetadata, KEEP_BUILDS, keepNewest, newestFirst, parseArtifactFileName, type PlatformBuild, retentionGroup } from '@cpy/core';
import { addEntry, type ArtifactIndex, type IndexEntry, indexEntryFor, markRemoved, planRetention } from '@cpy/artifact';
import type { GitHubRelease } from './github.js';
import type { PublishedAsset } from './publish.js';
import { parseReleaseTag, releaseTag } from './tag.js';

export interface PrunePlan {
  /** Published cpy releases kept: each holds one of the newest `keep` builds of a line on some platform. */
  readonly keep: readonly GitHubRelease[];
  /** Older published cpy releases: deleted with their tags when the plan is applied. */
  readonly remove: readonly GitHubRelease[];
  /** Drafts (unfinished publishes) and releases that are not cpy's: never touched. */
  readonly ignored: readonly GitHubRelease[];
  /**
   * Published cpy releases whose build the repository's index does not list (published with
   * --no-index): not counted among the builds kept, and never deleted. Counted, they pushed
   * builds the index lists as active out of the last `keep`: deleted, installers lost their rollback.
   */
  readonly unlisted: readonly GitHubRelease[];
  /**
   * cpy release tags that no release has (a prune stopped between a release and its tag, or a
   * release deleted by hand), older than the newest `keep` builds of their line that stay:
   * deleted when the plan is applied, and their builds marked removed in the index.
   */
  readonly strayTags: readonly string[];
}

/**
 * BR-005, core's one retention policy applied to releases, counted as the index counts them: the
 * last `keep` builds (default KEEP_BUILDS, 3) of each release line per os, os version and
 * architecture (retentionGroup) stay, newest version and build first. One release holds a build
 * for each platform it was published for (its assets' names say which), so it is removed only
 * when every platform it holds has `keep` newer builds: counted per line alone, a distribution
 * that the later builds left out lost its newest build, still active in the index. A release
 * whose assets name no artifact counts as one build of its line. Pure: pruneReleases applies it
 * (only with `apply`; without, it is the dry run).
 */
export function planPrune(releases: readonly GitHubRelease[], keep = KEEP_BUILDS, tags: readonly string[] = [], index: ArtifactIndex | null = null): PrunePlan {
  const ignored: GitHubRelease[] = [];
  const unlisted: GitHubRelease[] = [];
  // With an index, the releases it knows of (any state: one marked removed by a prune stopped before its deletion is deleted now).
  const listed = index ? new Set(index.artifacts.map((e) => releaseTag(e.version, e.build))) : null;
  const builds: (PlatformBuild & { release: GitHubRelease })[] = [];
  for (const release of releases) {
    const tag = parseReleaseTag(release.tag_name);
    if (!tag || release.draft) {
      ignored.push(release);
      continue;
    }
    if (listed && !listed.has(release.tag_name)) {
      unlisted.push(release);
      continue;
    }
    const held = new Map<string, PlatformBuild & { release: GitHubRelease }>();
    for (const asset of release.assets ?? []) {
      const named = parseArtifactFileName(asset.name);
      if (!named || named.version !== tag.version || named.build !== tag.build) continue;
      const build = { release, version: tag.version, build: tag.build, os: named.os, osVersion: named.osVersion, arch: named.arch };
      held.set(retentionGroup(build), build);
    }
    if (held.size === 0) held.set('', { release, version: tag.version, build: tag.build, os: '', osVersion: '', arch: '' });
    builds.push(...held.values());
  }
  const plan = keepNewest(builds, retentionGroup, keep);
  // Each release once, newest first.
  const releasesOf = (list: typeof builds) => [...new Map([...list].sort(newestFirst).map((b) => [b.release, b])).keys()];
  const kept = releasesOf(plan.keep);
  return { keep: kept, remove: releasesOf(plan.drop).filter((r) => !kept.includes(r)), ignored, unlisted, strayTags: strayTags(tags, releases, kept, keep) };
}

/**
 * The tags of `tags` that are cpy release tags without a release (drafts included), with at least
 * `keep` newer builds of their release line among the releases kept. A tag without a release of a
 * recent build is left alone: someone may be publishing it again.
 */
function strayTags(tags: readonly string[], releases: readonly GitHubRelease[], kept: readonly GitHubRelease[], keep: number): string[] {
  const released = new Set(releases.map((r) => r.tag_name));
  const keptBuilds = kept.map((r) => parseReleaseTag(r.tag_name)).filter((b) => b !== null);
  return tags.filter((tag) => {
    const stray = released.has(tag) ? null : parseReleaseTag(tag);
    return stray !== null && keptBuilds.filter((b) => b.line === stray.line && newestFirst(b, stray) < 0).length >= keep;
  });
}

/**
 * The index change that adds a published build: its entry active (at the artifact asset's URL,
 * sha256 and size, with its signature's URL when it has one), and builds beyond the last
 * KEEP_BUILDS of its line (per os, os version and architecture) deprecated. A build published
 * again unchanged keeps its date (addEntry), and an index that already says all this is returned as it is
 * (the same object: nothing to write).
 */
export function addPublishedBuild(metadata: ArtifactMetadata, main: PublishedAsset): (index: ArtifactIndex) => ArtifactIndex {
  return (index) => {
    const entry = indexEntryFor(metadata, {
      file: main.name,
      url: main.url,
      sha256: main.sha256,
      size: main.size,
      ...(main.signatureUrl ? { signatureUrl: main.signatureUrl } : {}),
    });
    const next = planRetention(addEntry(index, entry), KEEP_BUILDS).index;
    return JSON.stringify(next.artifacts) === JSON.stringify(index.artifacts) ? index : next;
  };
}

/**
 * The index change after a prune: the builds of the deleted releases (by their tags) stay in the
 * index, marked removed (installers skip them). An index with none left to mark is returned as it is.
 */
export function markPrunedBuilds(deletedTags: readonly string[]): (index: ArtifactIndex) => ArtifactIndex {
  const gone = new Set(deletedTags);
  const isGone = (e: IndexEntry) => e.state !== 'removed' && gone.has(releaseTag(e.version, e.build));
  return (index) => (index.artifacts.some(isGone) ? markRemoved(index, isGone) : index);
}

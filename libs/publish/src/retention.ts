import { parseVersion } from '@cpy/artifact';
import type { GitHubRelease } from './github.js';
import { parseReleaseTag } from './tag.js';

/** A final release after its release candidates, rc after beta after alpha. */
const preRank = (pre: { kind: 'a' | 'b' | 'rc'; number: number } | null) => (pre ? { a: 0, b: 1, rc: 2 }[pre.kind] * 1000 + pre.number : 10_000);

export interface PrunePlan {
  /** Published cpy releases kept: the newest `keep` builds of each version line. */
  readonly keep: readonly GitHubRelease[];
  /** Older published cpy releases: deleted with their tags when the plan is applied. */
  readonly remove: readonly GitHubRelease[];
  /** Drafts (unfinished publishes) and releases that are not cpy's: never touched. */
  readonly ignored: readonly GitHubRelease[];
}

/**
 * BR-005: keep the last `keep` builds (default 3) of each release line (3.13,
 * 3.12...), newest version and build first, so older ones stay available for
 * rollback until they fall out of the window. Pure: the CLI prints it (a dry
 * run) and applies it only with --yes.
 */
export function planPrune(releases: readonly GitHubRelease[], keep = 3): PrunePlan {
  const lines = new Map<string, { release: GitHubRelease; version: string; build: number }[]>();
  const ignored: GitHubRelease[] = [];
  for (const release of releases) {
    const tag = parseReleaseTag(release.tag_name);
    if (!tag || release.draft) {
      ignored.push(release);
      continue;
    }
    lines.set(tag.line, [...(lines.get(tag.line) ?? []), { release, version: tag.version, build: tag.build }]);
  }
  const kept: GitHubRelease[] = [];
  const remove: GitHubRelease[] = [];
  for (const entries of lines.values()) {
    entries.sort((a, b) => {
      const va = parseVersion(a.version)!;
      const vb = parseVersion(b.version)!;
      return vb.major - va.major || vb.minor - va.minor || vb.micro - va.micro || preRank(vb.pre) - preRank(va.pre) || b.build - a.build;
    });
    kept.push(...entries.slice(0, keep).map((e) => e.release));
    remove.push(...entries.slice(keep).map((e) => e.release));
  }
  return { keep: kept, remove, ignored };
}

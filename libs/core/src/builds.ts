import { compareVersions, parseVersion } from './version.js';

/** Anything that names one build of one CPython version: an index entry, a release, a cached artifact. */
export interface VersionedBuild {
  readonly version: string;
  readonly build: number;
}

/** BR-005: how many builds of a release line stay available (for rollback) before older ones go. */
export const KEEP_BUILDS = 3;

/** The newest build first: the one version order (pre-releases before their final release), then the build number. */
export function newestFirst(a: VersionedBuild, b: VersionedBuild): number {
  return compareVersions(b.version, a.version) || b.build - a.build;
}

/**
 * The one retention policy (BR-005): in each group (a release line, or a line per os, os version
 * and architecture), the items of the newest `keep` builds stay and the older ones go. Pure; each list is
 * newest first, groups in the order they were first seen.
 */
export function keepNewest<T extends VersionedBuild>(items: readonly T[], groupOf: (item: T) => string, keep = KEEP_BUILDS): { keep: T[]; drop: T[] } {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = groupOf(item);
    const members = groups.get(key);
    if (members) members.push(item);
    else groups.set(key, [item]);
  }
  const kept: T[] = [];
  const drop: T[] = [];
  for (const members of groups.values()) {
    // Builds, not items: one build's items (its .tgz and its .tar.zst in an index) count once.
    const builds = new Set<string>();
    for (const item of [...members].sort(newestFirst)) {
      const id = `${item.version}\0${item.build}`;
      if (builds.size < keep) builds.add(id);
      (builds.has(id) ? kept : drop).push(item);
    }
  }
  return { keep: kept, drop };
}

/** Where a build runs: os-release ID and VERSION_ID of its builder, and its architecture. */
export interface PlatformBuild extends VersionedBuild {
  readonly os: string;
  readonly osVersion: string;
  readonly arch: string;
}

/**
 * The group the retention policy counts a build in: its release line, per os, os version and
 * architecture (`3.13/debian12/x86_64`). The index's entries and the releases that hold them are
 * counted alike, so a release is deleted only when every platform it holds a build for has newer ones.
 */
export function retentionGroup(b: PlatformBuild): string {
  return `${parseVersion(b.version)?.line ?? b.version}/${b.os}${b.osVersion}/${b.arch}`;
}

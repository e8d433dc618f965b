import { artifactFileName } from '@cpy/core';
import { addEntry, emptyIndex, type ArtifactIndex, type IndexEntry } from '@cpy/artifact';

/**
 * An index entry for tests of resolution, publishing and `cpy outdated`: a Debian 12 x86_64
 * build of `version`, active, published 2026-11-30, that needs nothing; `overrides` changes any
 * field (the file name and URL follow the os, os version and arch given there).
 */
export function indexEntry(version: string, build: number, overrides: Partial<IndexEntry> = {}): IndexEntry {
  const os = overrides.os ?? 'debian';
  const osVersion = overrides.osVersion ?? '12';
  const arch = overrides.arch ?? 'x86_64';
  const file = artifactFileName({ version, os, osVersion, arch, build });
  return {
    version,
    build,
    os,
    osVersion,
    arch,
    libc: 'glibc',
    glibcFloor: '2.34',
    file,
    url: `https://example.test/releases/download/cpython-${version}-build${build}/${file}`,
    sha256: `${osVersion.replace(/\D/g, '')}${build}`.padEnd(64, '0'),
    size: 19_000_000,
    needs: [],
    state: 'active',
    publishedAt: '2026-11-30T12:00:00.000Z',
    ...overrides,
  };
}

/** An index of these entries, in the index's order. */
export function indexOf(...entries: IndexEntry[]): ArtifactIndex {
  return entries.reduce((index, e) => addEntry(index, e), emptyIndex());
}

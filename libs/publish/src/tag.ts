import { parseVersion } from '@cpy/core';

/** What every release tag starts with. */
export const RELEASE_TAG_PREFIX = 'cpython-';

/** The release tag for a build: `cpython-<version>-build<N>` (one release per build). */
export function releaseTag(version: string, build: number): string {
  if (!parseVersion(version)) throw new TypeError(`not a CPython release version: ${version}`);
  if (!Number.isInteger(build) || build < 1) throw new TypeError(`build number must be a positive integer: ${build}`);
  return `${RELEASE_TAG_PREFIX}${version}-build${build}`;
}

/** Reads a release tag back; null for tags that are not cpy releases. */
export function parseReleaseTag(tag: string): { version: string; line: string; build: number } | null {
  const m = /^cpython-(.+)-build([1-9][0-9]*)$/.exec(tag);
  const v = m ? parseVersion(m[1]) : null;
  return m && v ? { version: v.full, line: v.line, build: Number(m[2]) } : null;
}

import { randomUUID } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CpyError, parseVersion } from '@cpy/core';
import { displayUrl, downloadToFile, TransferError, type HttpClient } from '@cpy/transfer';

/** python.org's release tree. */
export const PYTHON_ORG = 'https://www.python.org/ftp/python/';

/** A mirror as given (an http(s) or file URL, or a directory) as a base URL ending in `/`. */
export function mirrorUrl(spec: string, cwd = process.cwd()): URL {
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(spec) ? new URL(spec) : pathToFileURL(isAbsolute(spec) ? spec : resolve(cwd, spec));
  if (!['http:', 'https:', 'file:'].includes(url.protocol)) {
    throw new CpyError('CPY_OUTDATED_BAD_MIRROR', `cannot read releases from '${spec}': ${url.protocol}// is not supported`, {
      hint: `give an https:// or file:// URL, or a directory laid out like ${PYTHON_ORG}`,
    });
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/** The names a directory listing holds: an HTML index's links, or a directory's entries. */
async function listing(url: URL, client: HttpClient): Promise<string[]> {
  if (url.protocol === 'file:') {
    const dir = fileURLToPath(url);
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => null);
    if (!entries) return [];
    // A release directory may be a link (a mirror made of links to where the tarballs are).
    const isDir = async (e: Dirent) => e.isDirectory() || (e.isSymbolicLink() && (await stat(join(dir, e.name)).then((st) => st.isDirectory(), () => false)));
    return Promise.all(entries.map(async (e) => ((await isDir(e)) ? `${e.name}/` : e.name)));
  }
  const work = await mkdtemp(join(tmpdir(), 'cpy-upstream-'));
  try {
    const file = join(work, `${randomUUID()}.html`);
    await downloadToFile(url, file, { client });
    const html = await readFile(file, 'utf8');
    return [...html.matchAll(/href="([^"?#]+)"/g)].map((m) => decodeURIComponent(m[1]!).replace(/^.*\/(?=[^/]+\/?$)/, ''));
  } catch (error) {
    if (error instanceof TransferError && error.kind === 'not-found') return [];
    if (error instanceof TransferError) {
      throw new CpyError('CPY_OUTDATED_UPSTREAM_UNAVAILABLE', `cannot read ${displayUrl(url)}: ${error.message}`, {
        hint: 'check the network (HTTPS_PROXY), or point --mirror at a copy of the release tree',
        cause: error,
      });
    }
    throw error;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The newest final release of each of `lines` upstream. python.org makes a release's
 * directory before its final tarball exists (it holds the pre-releases until then), so a
 * version counts only when `Python-<version>.tar.xz` (or `.tgz`) is in its directory. A mirror
 * that lists no release at all is CPY_OUTDATED_UPSTREAM_UNAVAILABLE.
 */
export async function newestReleases(mirror: URL, lines: readonly string[], client: HttpClient): Promise<Map<string, string>> {
  const versions = (await listing(mirror, client))
    .map((name) => /^(\d+\.\d+\.\d+)\/$/.exec(name)?.[1])
    .filter((v): v is string => v !== undefined && parseVersion(v) !== null);
  // A release tree always lists releases: none means the wrong place (a mistyped --mirror, a
  // file, a page that is not the tree), which must not read as "nothing is missing".
  if (versions.length === 0) {
    throw new CpyError('CPY_OUTDATED_UPSTREAM_UNAVAILABLE', `${displayUrl(mirror)} lists no release directories (3.13.5/ and the like): it is missing, empty, or not a release tree`, {
      hint: `check --mirror: it must be laid out like ${PYTHON_ORG} (a directory per release, its tarballs inside)`,
    });
  }
  const found = new Map<string, string>();
  for (const line of lines) {
    const candidates = versions.filter((v) => parseVersion(v)!.line === line).sort((a, b) => parseVersion(b)!.micro - parseVersion(a)!.micro);
    for (const v of candidates) {
      const files = await listing(new URL(`${v}/`, mirror), client);
      if (files.includes(`Python-${v}.tar.xz`) || files.includes(`Python-${v}.tgz`)) {
        found.set(line, v);
        break;
      }
    }
  }
  return found;
}

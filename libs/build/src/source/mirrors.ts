import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CpyError, type PythonVersion } from '@cpy/core';

/** Where python.org keeps its releases. */
export const DEFAULT_MIRROR = 'https://www.python.org/ftp/python';

/** Environment variable with mirrors to use instead of python.org, separated by spaces or commas. */
export const MIRRORS_ENV = 'CPY_PYTHON_MIRRORS';

/**
 * Turns a mirror as a user writes it into a base URL ending in `/`: an
 * http(s):// or file:// URL, or a plain directory path (relative to `cwd`).
 */
export function parseMirror(spec: string, cwd: string = process.cwd()): URL {
  const text = spec.trim();
  let url: URL;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    try {
      url = new URL(text);
    } catch {
      throw badMirror(spec, 'it is not a valid URL');
    }
    if (!['http:', 'https:', 'file:'].includes(url.protocol)) throw badMirror(spec, `${url.protocol}// is not supported`);
    if (url.username || url.password) throw badMirror(spec, 'credentials in mirror URLs are not supported (they would end up in logs)');
    // It was dropped without a word: a mirror that authenticates by a token there then failed, unexplained.
    if (url.search) throw badMirror(spec, 'a query in a mirror URL is not supported (each release file is fetched by its name under the path; a token there would end up in logs)');
  } else if (text) {
    url = pathToFileURL(isAbsolute(text) ? text : resolve(cwd, text));
  } else {
    throw badMirror(spec, 'it is empty');
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  url.search = '';
  url.hash = '';
  return url;
}

function badMirror(spec: string, why: string): CpyError {
  // Credentials and a query (a token) are never shown: everything up to the last @ before the
  // query goes (a password may hold an @, a token a /, which the URL parser then reads as the path).
  const shown = spec.replace(/\?[^#]*/, '?***').replace(/\/\/[^?#]*@/, '//***@');
  return new CpyError('CPY_SOURCE_BAD_MIRROR', `cannot use mirror '${shown}': ${why}`, {
    hint: `give an https://, http:// or file:// URL, or a directory laid out like ${DEFAULT_MIRROR}/ (<X.Y.Z>/Python-<version>.tar.xz)`,
  });
}

/** The mirrors to try, in order: the explicit list, else $CPY_PYTHON_MIRRORS, else python.org. */
export function resolveMirrors(explicit: readonly string[] | undefined, env: NodeJS.ProcessEnv = process.env, cwd?: string): URL[] {
  const fromEnv = (env[MIRRORS_ENV] ?? '').split(/[\s,]+/).filter(Boolean);
  const specs = explicit?.length ? explicit : fromEnv.length ? fromEnv : [DEFAULT_MIRROR];
  return specs.map((s) => parseMirror(s, cwd));
}

/** The release's files, in the order cpy prefers the tarball formats. */
export interface ReleaseFiles {
  /** `3.14.0`: python.org's directory for the release (no pre-release tag). */
  readonly directory: string;
  readonly tarballs: readonly string[];
}

export function releaseFiles(version: PythonVersion): ReleaseFiles {
  return {
    directory: version.directory,
    tarballs: [`Python-${version.full}.tar.xz`, `Python-${version.full}.tgz`],
  };
}

/** The URL of a release file on a mirror. */
export function releaseFileUrl(mirror: URL, version: PythonVersion, name: string): URL {
  return new URL(`${version.directory}/${name}`, mirror);
}

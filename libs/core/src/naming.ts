import * as z from 'zod/mini';
import { parseVersion, pythonVersionSchema } from './version.js';

export type Compression = 'gzip' | 'zstd';

/** A sha256 digest as cpy writes and compares it: 64 lower-case hex digits. */
export const SHA256_HEX_RE = /^[0-9a-f]{64}$/;
/** A sha256 digest as a user may give it (either case; lower-cased before use). */
export const SHA256_ANY_CASE_RE = /^[0-9a-fA-F]{64}$/;

const EXTENSION: Record<Compression, string> = { gzip: 'tgz', zstd: 'tar.zst' };

/**
 * An OS id as /etc/os-release spells it (`debian`, `ubuntu`), plus its version (`12`, `20.04`). The
 * name runs them together (`debian12`): the id is letters only, or where the version begins could
 * not be read back (parseArtifactFileName).
 */
const osIdSchema = z.string().check(z.regex(/^[a-z]+$/, 'expected a lower-case os id of letters such as debian'));
const osVersionSchema = z.string().check(z.regex(/^[0-9][0-9.]*$/, 'expected an os version such as 12 or 20.04'));

export const artifactNameSchema = z.object({
  version: pythonVersionSchema,
  os: osIdSchema,
  osVersion: osVersionSchema,
  build: z.int().check(z.minimum(1), z.maximum(9999)),
  /** `uname -m`: x86_64 (the default, left out of the name), aarch64... */
  arch: z._default(z.string().check(z.regex(/^[a-z][a-z0-9_]*$/, 'expected an architecture such as aarch64')), 'x86_64'),
  compression: z._default(z.enum(['gzip', 'zstd']), 'gzip'),
});

export type ArtifactNameParts = z.input<typeof artifactNameSchema>;

/**
 * Why a builder's os-release ID and VERSION_ID cannot name an artifact, or null when they can:
 * `opensuse-leap`, or Alpine edge's `3.21.0_alpha20240807`. Asked before a build (a name that
 * cannot be made was found only when packing it).
 */
export function unnameablePlatform(os: string, osVersion: string): string | null {
  if (!osIdSchema.safeParse(os).success) return `its ID '${os}' is not lower-case letters only`;
  if (!osVersionSchema.safeParse(osVersion).success) return `its VERSION_ID '${osVersion}' is not digits and dots`;
  return null;
}

/** The architecture a name without one is built for: every artifact before multi-arch builds. */
export const DEFAULT_ARCH = 'x86_64';

/**
 * `cpython-<version>-<os><osversion>[-<arch>]-build<N>.tgz`, e.g.
 * `cpython-3.13.5-debian12-build1.tgz` (x86_64: the arch is left out, so the names published
 * before multi-arch builds stay what they were), `cpython-3.13.5-debian12-aarch64-build1.tgz`
 * (`.tar.zst` for zstd).
 */
export function artifactFileName(parts: ArtifactNameParts): string {
  const p = artifactNameSchema.parse(parts);
  const arch = p.arch === DEFAULT_ARCH ? '' : `-${p.arch}`;
  return `cpython-${p.version}-${p.os}${p.osVersion}${arch}-build${p.build}.${EXTENSION[p.compression]}`;
}

/** The checksum file that sits beside an artifact: `<name>.sha256`. */
export function checksumFileName(artifactName: string): string {
  return `${artifactName}.sha256`;
}

/** Where an artifact whose checks failed goes, in the output directory: `rejected/`. */
export const REJECTED_DIR = 'rejected';

/** The note beside a rejected artifact, saying what failed: `<name>.rejected`. */
export function rejectedNoteName(artifactName: string): string {
  return `${artifactName}.rejected`;
}

const NAME_RE = /^cpython-([0-9][0-9a-z.]*)-([a-z][a-z]*)([0-9][0-9.]*)(?:-([a-z][a-z0-9_]*))?-build([1-9][0-9]{0,3})\.(tgz|tar\.zst)$/;

/** Reads an artifact file name back into its parts; null when it does not follow the scheme. */
export function parseArtifactFileName(name: string): Required<ArtifactNameParts> | null {
  const m = NAME_RE.exec(name);
  if (!m) return null;
  const [, version, os, osVersion, arch, build, ext] = m;
  if (!parseVersion(version) || arch === DEFAULT_ARCH) return null;
  return {
    version,
    os,
    osVersion,
    build: Number(build),
    arch: arch ?? DEFAULT_ARCH,
    compression: ext === 'tgz' ? 'gzip' : 'zstd',
  };
}

/** A line `sha256sum -c` accepts: `<64 hex>  <name>` (two spaces: text mode). */
export function formatChecksumLine(sha256: string, fileName: string): string {
  if (!SHA256_HEX_RE.test(sha256)) throw new TypeError(`not a sha256 hex digest: ${sha256}`);
  if (/[\n\\]/.test(fileName)) throw new TypeError(`file name not representable in a checksum file: ${fileName}`);
  return `${sha256}  ${fileName}\n`;
}

/** Parses the first line of a `.sha256` file (`<hex>  <name>` or `<hex> *<name>`, or a bare digest). */
export function parseChecksumLine(text: string): { sha256: string; fileName: string | null } | null {
  const line = text.split('\n', 1)[0].trim();
  const m = /^([0-9a-fA-F]{64})(?:\s+\*?(\S.*))?$/.exec(line);
  if (!m) return null;
  return { sha256: m[1].toLowerCase(), fileName: m[2] ?? null };
}

/** `cpython-3.13.5-debian12-build1.tgz` -> `cpython-3.13.5-debian12-build1.debug.tgz`: the build's split debug symbols. */
export function debugSymbolsFileName(artifactName: string): string {
  return artifactName.replace(/\.(tgz|tar\.zst)$/, '.debug.$1');
}

/** `cpython-3.13.5-debian12-build1.tgz` -> `cpython-3.13.5-debian12-build1.tests.tgz`. */
export function testsFileName(artifactName: string): string {
  return artifactName.replace(/\.(tgz|tar\.zst)$/, '.tests.$1');
}

/** How a URL is shown: no credentials, no query string (it may hold a token); a file URL as its path. */
export function displayUrl(url: URL): string {
  return url.protocol === 'file:' ? decodeURIComponent(url.pathname) : `${url.origin}${url.pathname}`;
}

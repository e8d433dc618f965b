import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFile, rm } from 'node:fs/promises';
import { CpyError, isCpyError, MAX_SMALL_TEXT, parseVersion, type PythonVersion, SHA256_HEX_RE } from '@cpy/core';
import { sha256File } from '@cpy/artifact';
import { checkReleaseInside } from './release-inside.js';
import { SourceCache, defaultCacheDir, type CacheEntry } from './cache.js';
import { releaseFileUrl, releaseFiles, resolveMirrors } from './mirrors.js';
import type { TrustedKey } from './openpgp.js';
import {
  createHttpClient,
  displayUrl,
  downloadToFile,
  TransferError,
  type HttpClient,
  type RetryPolicy,
  type TransferEvents,
} from '@cpy/transfer';
import { refuseUnverifiable, verifySource, type SourceVerification, type VerifySourceOptions } from './verify.js';

export interface FetchSourceOptions extends TransferEvents {
  /** Mirrors to try in order (URLs or directories); default $CPY_PYTHON_MIRRORS, else python.org. */
  readonly mirrors?: readonly string[];
  /** Default: defaultCacheDir(env). */
  readonly cacheDir?: string;
  /** The tarball's sha256 must be this (a pin from a lock file, say). */
  readonly expectedSha256?: string;
  readonly extraKeys?: readonly TrustedKey[];
  readonly allowUnsigned?: boolean;
  /** Extra CA certificates (PEM) for HTTPS mirrors and proxies. */
  readonly caFile?: string;
  readonly retry?: RetryPolicy;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly signal?: AbortSignal;
  /** Skip the cache lookup (still stores the result). */
  readonly refresh?: boolean;
}

export interface FetchedSource {
  readonly version: string;
  /** The verified tarball, in the cache. */
  readonly path: string;
  readonly fileName: string;
  readonly sha256: string;
  readonly bytes: number;
  /** Where it was downloaded from (no query string). */
  readonly url: string;
  readonly fromCache: boolean;
  readonly verification: SourceVerification;
}


interface MirrorFailure {
  readonly mirror: string;
  readonly reason: string;
  readonly notFound: boolean;
}

/**
 * Downloads an optional file (a signature): null when the mirror does not have it. Stopped past
 * MAX_SIGNATURE_BYTES (a mirror serving a page or the tarball there filled the cache's disk before
 * its size was looked at). A failure names the file: "HTTP 403" alone read as the tarball's.
 */
async function optional(url: URL, dest: string, client: HttpClient, options: FetchSourceOptions): Promise<string | null> {
  try {
    // (A .sigstore bundle is ~5 KB: one past core's small-file bound is stopped as it arrives.)
    await downloadToFile(url, dest, { client, maxBytes: MAX_SMALL_TEXT, ...pick(options) });
    return await readFile(dest, 'utf8');
  } catch (error) {
    if (error instanceof TransferError && error.kind === 'not-found') return null;
    // Storage that answers 403 for an object it does not hold (S3): absent, as a 404 is (the
    // tarball beside it was served, so the mirror can be read; a required signature is still required).
    if (error instanceof TransferError && error.kind === 'http' && /^HTTP 40[13]$/.test(error.message)) return null;
    if (error instanceof TransferError) throw new TransferError(`${basename(url.pathname)}: ${error.message}`, error.kind === 'too-large' ? 'http' : error.kind, error.retryable, error.retryAfterMs, { cause: error });
    throw error;
  }
}

function pick(options: FetchSourceOptions) {
  return {
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onRetry ? { onRetry: options.onRetry.bind(options) } : {}),
  };
}

/** The signing policy applied to a fetched (or cached) source, with the caller's trust options. */
function verifyDownloaded(options: FetchSourceOptions, source: Omit<VerifySourceOptions, 'extraKeys' | 'allowUnsigned'>): Promise<SourceVerification> {
  return verifySource({
    ...source,
    ...(options.extraKeys ? { extraKeys: options.extraKeys } : {}),
    ...(options.allowUnsigned ? { allowUnsigned: true } : {}),
  });
}

/** What a mirror's copy is refused for: another mirror's copy of the release may pass. */
const COPY_REFUSALS: ReadonlySet<string> = new Set([
  'CPY_SOURCE_CHECKSUM_MISMATCH',
  'CPY_SOURCE_SIGNATURE_INVALID',
  'CPY_SOURCE_SIGNATURE_MISSING',
  'CPY_SOURCE_UNTRUSTED_SIGNER',
  'CPY_SOURCE_KEY_NOT_VALID_AT_SIGNING',
  'CPY_SOURCE_SIGSTORE_INVALID',
  'CPY_SOURCE_SIGSTORE_IDENTITY_MISMATCH',
  'CPY_SOURCE_WRONG_RELEASE',
]);

/**
 * Every mirror's copy refused (or missing): the first refusal, its code kept, naming the mirror
 * that served it, and that nothing of it was kept (its hint said to delete a file there is not).
 */
function refusedCopy(refused: readonly { mirror: string; error: CpyError }[], others: string, mirrors: number): CpyError {
  const [first, ...rest] = refused;
  const also = [...rest.map((r) => `${r.mirror}: ${r.error.message}`), ...(others ? [others] : [])].join('; ');
  const hint =
    ['CPY_SOURCE_CHECKSUM_MISMATCH', 'CPY_SOURCE_SIGNATURE_MISSING', 'CPY_SOURCE_WRONG_RELEASE'].includes(first!.error.code)
      ? first!.error.hint
      : `the mirror does not serve the file the release manager signed (damaged or altered there); nothing of it was kept: ${mirrors > 1 ? 'no mirror given served a good copy; fetch from another' : 'fetch from another mirror'} (--mirror, or CPY_PYTHON_MIRRORS)`;
  return new CpyError(first!.error.code, `${first!.mirror} served a copy cpy refused: ${first!.error.message}${also ? ` (also: ${also})` : ''}`, {
    hint,
    cause: first!.error,
    details: { ...first!.error.details, mirror: first!.mirror },
  });
}

function checksumMismatch(fileName: string, expected: string, actual: string): CpyError {
  return new CpyError('CPY_SOURCE_CHECKSUM_MISMATCH', `${fileName} has sha256 ${actual}, not the pinned ${expected}`, {
    hint: 'the pin and the release disagree: check where the pin came from; do not build this file',
    details: { expected, actual },
  });
}

/** The cached source, verified again; null when it is damaged; what refuses it when this run's policy does (for when no mirror can give another copy). */
async function fromCache(cache: SourceCache, version: PythonVersion, entry: CacheEntry, options: FetchSourceOptions): Promise<FetchedSource | CpyError | null> {
  const dir = cache.objectDir(entry.sha256);
  const path = join(dir, entry.fileName);
  try {
    if ((await sha256File(path)) !== entry.sha256) return null; // damaged: fetch again
  } catch {
    return null;
  }
  const asc = entry.asc ? await readFile(`${path}.asc`, 'utf8').catch(() => null) : null;
  const sigstore = entry.sigstore ? await readFile(`${path}.sigstore`, 'utf8').catch(() => null) : null;
  if ((entry.asc && asc === null) || (entry.sigstore && sigstore === null)) return null;
  // Verified again, as this run asks (an entry cached --allow-unsigned, a signature damaged since):
  // one that does not pass is fetched again, and the fresh copy verified, rather than refused here.
  let verification;
  try {
    verification = await verifyDownloaded(options, { file: path, version, asc, sigstore, sha256: entry.sha256, fileName: entry.fileName });
    // A release not read when it was cached (no xz then, or an older cpy) is read now: the cache
    // hands it on under this version's name.
    if (entry.releaseChecked !== true) {
      const unchecked = await checkReleaseInside(path, entry.fileName, version.full);
      if (unchecked) verification = { ...verification, warnings: [...verification.warnings, unchecked] };
    }
  } catch (error) {
    if (error instanceof CpyError) return error;
    throw error;
  }
  return { version: version.full, path, fileName: entry.fileName, sha256: entry.sha256, bytes: entry.bytes, url: entry.url, fromCache: true, verification };
}

/**
 * Gets a CPython source release, verified, from the cache or the mirrors.
 *
 * Each mirror is tried in turn (`.tar.xz`, then `.tgz`), with the signatures
 * taken from the mirror that served the tarball. What is downloaded is checked
 * (pin, then signatures) before it enters the cache; nothing unverified is kept.
 * A cached source is re-hashed and re-verified, offline, on every use.
 */
export async function fetchSource(versionText: string, options: FetchSourceOptions = {}): Promise<FetchedSource> {
  const version = parseVersion(versionText);
  if (!version) {
    throw new CpyError('CPY_SOURCE_BAD_VERSION', `'${versionText}' is not a CPython release version`, {
      hint: 'give a version as python.org names it: 3.13.5, 3.14.0rc2',
    });
  }
  const expected = options.expectedSha256?.toLowerCase();
  if (expected !== undefined && !SHA256_HEX_RE.test(expected)) {
    throw new CpyError('CPY_SOURCE_BAD_CHECKSUM', `'${options.expectedSha256}' is not a sha256`, { hint: 'give 64 hex digits' });
  }
  // A line no signer of which is known: refused before anything is fetched (it was after).
  refuseUnverifiable(version, options);
  const env = options.env ?? process.env;
  const mirrors = resolveMirrors(options.mirrors, env, options.cwd);
  const cache = new SourceCache(options.cacheDir ?? defaultCacheDir(env));

  // A pin the cached source does not match is checked against a download, and the cached entry
  // kept: a mistyped pin is a checksum mismatch, not a lost cache (nor, offline, a network error).
  // When no mirror gives a copy (offline), what was wrong with the cached one is the answer: the
  // pin it does not match, or the signature this run asks for; not "could not download".
  let cachedWrong: CpyError | null = null;
  let cachedAt = '';
  // A cached copy found damaged (its bytes changed since it was stored): removed, and said, on
  // the download's success and on its failure (offline, that was "could not download" alone).
  let damaged: string | null = null;
  if (!options.refresh) {
    const entry = await cache.lookup(version.full);
    if (entry) cachedAt = join(cache.objectDir(entry.sha256), entry.fileName);
    if (entry && expected && expected !== entry.sha256) {
      cachedWrong = checksumMismatch(entry.fileName, expected, entry.sha256);
    } else if (entry) {
      const hit = await fromCache(cache, version, entry, options);
      if (hit instanceof CpyError) cachedWrong = hit;
      else if (hit) return hit;
      // Damaged: forgotten. (One this run refuses stays until a verified copy replaces it.)
      else {
        damaged = `the cached ${entry.fileName} was damaged (its sha256 or signatures changed since it was stored) and is removed`;
        await cache.forget(version.full);
      }
    }
  }

  const files = releaseFiles(version);
  const failures: MirrorFailure[] = [];
  // Copies a mirror served that verification refused: the next mirror is tried (its copy may be the release).
  const refused: { mirror: string; error: CpyError }[] = [];
  const client = await createHttpClient({ env, userAgent: 'cpy (CPython source fetcher)', ...(options.caFile ? { caFile: options.caFile } : {}) });
  try {
    for (const mirror of mirrors) {
      const scratch = await cache.scratch().catch((error: unknown) => {
        throw cacheWriteFailed(cache.dir, error);
      });
      let stored = false;
      try {
        let got: { name: string; url: URL; sha256: string; bytes: number } | null = null;
        for (const name of files.tarballs) {
          const url = releaseFileUrl(mirror, version, name);
          try {
            const result = await downloadToFile(url, join(scratch, name), {
              client,
              ...pick(options),
              ...(options.onProgress ? { onProgress: options.onProgress.bind(options) } : {}),
            });
            got = { name, url, ...result };
            break;
          } catch (error) {
            if (error instanceof TransferError && error.kind === 'not-found') continue;
            throw error;
          }
        }
        if (!got) {
          // A mirror that is a directory which is not there (a typo) is said as such, not as a release it lacks.
          const gone = mirror.protocol === 'file:' && !existsSync(fileURLToPath(mirror));
          failures.push({ mirror: displayUrl(mirror), reason: gone ? 'no such directory' : `has no ${files.tarballs.join(' or ')} under ${files.directory}/`, notFound: true });
          continue;
        }
        const path = join(scratch, got.name);
        const asc = await optional(releaseFileUrl(mirror, version, `${got.name}.asc`), `${path}.asc`, client, options);
        const sigstore = await optional(releaseFileUrl(mirror, version, `${got.name}.sigstore`), `${path}.sigstore`, client, options);

        if (expected && got.sha256 !== expected) throw checksumMismatch(got.name, expected, got.sha256);
        const verified = await verifyDownloaded(options, { file: path, version, asc, sigstore, sha256: got.sha256, fileName: got.name });
        // Signed by the right manager, but is it this release? (Recorded under this version next.)
        const unchecked = await checkReleaseInside(path, got.name, version.full);
        const verification = unchecked ? { ...verified, warnings: [...verified.warnings, unchecked] } : verified;
        const entry: CacheEntry = {
          version: version.full,
          fileName: got.name,
          sha256: got.sha256,
          bytes: got.bytes,
          url: displayUrl(got.url),
          asc: asc !== null,
          sigstore: sigstore !== null,
          fetchedAt: new Date().toISOString(),
          releaseChecked: unchecked === null,
        };
        const finalPath = await cache.store(scratch, entry).catch((error: unknown) => {
          throw cacheWriteFailed(cache.dir, error);
        });
        stored = true;
        const said = damaged ? { ...verification, warnings: [...verification.warnings, `${damaged}: downloaded again`] } : verification;
        return { version: version.full, path: finalPath, fileName: got.name, sha256: got.sha256, bytes: got.bytes, url: entry.url, fromCache: false, verification: said };
      } catch (error) {
        if (isCpyError(error) && COPY_REFUSALS.has(error.code)) {
          refused.push({ mirror: displayUrl(mirror), error });
          continue;
        }
        if (!(error instanceof TransferError)) throw error;
        if (error.kind === 'local') throw cacheWriteFailed(cache.dir, error);
        failures.push({ mirror: displayUrl(mirror), reason: error.message, notFound: false });
      } finally {
        if (!stored) await rm(scratch, { recursive: true, force: true });
      }
    }
  } finally {
    await client.close();
  }

  const lines = failures.map((f) => `${f.mirror}: ${f.reason}`).join('; ') + (damaged ? ` (${damaged})` : '');
  if (refused.length) throw refusedCopy(refused, lines, mirrors.length);
  // What refused the cached copy is the answer, with where it is and why no other copy came (offline).
  if (cachedWrong) {
    throw new CpyError(cachedWrong.code, `${cachedWrong.message} (the cached copy, ${cachedAt}), and no mirror gave another: ${lines}`, {
      hint: `${cachedWrong.hint}; once a mirror can be reached, run again: a verified copy replaces the cached one`,
      cause: cachedWrong,
      details: { ...cachedWrong.details, cached: cachedAt, failures },
    });
  }
  if (failures.every((f) => f.notFound)) {
    throw new CpyError('CPY_SOURCE_NOT_FOUND', `Python ${version.full} was not found: ${lines}`, {
      hint: 'check the version (python.org lists releases at https://www.python.org/downloads/) or the mirror',
      details: { failures },
    });
  }
  throw new CpyError('CPY_SOURCE_DOWNLOAD_FAILED', `could not download Python ${version.full}: ${lines}`, {
    hint: 'check the network, the proxy settings (HTTPS_PROXY, NO_PROXY) and the mirrors, then run again',
    details: { failures },
  });
}

/**
 * The cache cannot take the download: its disk is full, it is not writable, or a file is where a
 * directory of it goes (`--cache-dir` naming a file). A file system error that is not one (a bug)
 * is passed on as it is.
 */
function cacheWriteFailed(dir: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (!(error instanceof TransferError) && !['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST'].includes(code ?? '')) return error;
  return new CpyError('CPY_SOURCE_LOCAL_WRITE_FAILED', `cannot store the download in ${dir}: ${(error as Error).message}`, {
    hint:
      code === 'ENOTDIR' || code === 'EEXIST'
        ? `a file is where ${dir} or a directory in it goes: choose another cache directory (--cache-dir or $CPY_CACHE_DIR)`
        : 'free some space, or make it writable, or choose another cache directory (--cache-dir or $CPY_CACHE_DIR)',
    cause: error,
  });
}

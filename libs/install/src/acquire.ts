import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ArtifactMetadata, artifactMetadataSchema, CpyError, displayUrl, makeDirectory, newestFirst, parseArtifactFileName, parseChecksumLine, processOwner, randomId, removeLeftByDeadProcesses, SHA256_HEX_RE, sha256Hex, writeFileAtomic } from '@cpy/core';
import { INDEX_FILE, parseIndexText, type ArtifactIndex } from '@cpy/artifact/index-format';
import type { HttpClient, TransferError, TransferProgress } from '@cpy/transfer';
import * as z from 'zod/mini';
import type { Distro } from './archive.js';
import { fileSystemFault } from './faults.js';
import { cacheRootOf } from './layout.js';
import { transferLibrary } from './lazy.js';
import { matchesRequest, type VersionRequest } from './request.js';
import { readJsonFile } from './state.js';

/** The most an index is read (it is read whole): about 30,000 entries; a larger file is no index. Install.sh reads the same. */
const MAX_INDEX_BYTES = 32 * 1024 * 1024;

/** A verified artifact in the cache: `<cacheDir>/<sha256>.tgz`. */
export interface CachedArtifact {
  readonly path: string;
  readonly sha256: string;
  readonly fileName: string;
  /** Where it was downloaded from (for messages and the install marker). */
  readonly source: string;
  readonly fromCache: boolean;
  /** The pinned signer whose signature vouched for it when it was installed (cache entries made since signing existed). */
  readonly signedBy?: string | undefined;
}

const indexSchema = z.object({ fileName: z.string(), version: z.string(), build: z.int(), source: z.string(), signedBy: z.optional(z.string()) });

/** `https://...`, `file://...` or a path, as a URL; another scheme (ftp://, s3://) is refused, not read as a relative path. */
export function toUrl(location: string): URL {
  if (/^(https?|file):\/\//.test(location)) return new URL(location);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(location)?.[1];
  if (scheme) {
    // Said without what may follow the scheme's user part (ftp://user:password@host).
    const shown = URL.canParse(location) ? ((u) => `${u.protocol}//${u.host}${u.pathname}`)(new URL(location)) : `${scheme}://...`;
    throw new CpyError('CPY_INSTALL_BAD_OPTIONS', `${shown}: cpy reads http://, https:// and file:// URLs and paths, not ${scheme}://`, {
      hint: `get the file with a tool that speaks ${scheme}, then give its path (or serve it over https)`,
    });
  }
  return pathToFileURL(resolve(location));
}

/** What to do about an HTTP 401 or 403 (install.sh says the same). */
const ACCESS_DENIED_HINT =
  "check the URL and who may read it: a private repository's assets need a token, which cpy and the Feature do not send (publish them where they can be read, or copy them into the image), a signed URL may have expired, and some storage answers 403 for a file that is not there: nothing was installed";

/** Not the network: the server refused (a private asset, an expired signed URL). */
const accessDenied = (error: TransferError) => error.kind === 'http' && /^HTTP 40[13]$/.test(error.message);

const NETWORK_HINT = 'check the network (HTTPS_PROXY, --ca-file) and run again: nothing was installed';

/**
 * A fetch that failed (a TransferError, told by its fields: @cpy/transfer is loaded lazily where
 * this is used): what its message gets after it, and what to do. Refused (401, 403), or the network.
 */
export function fetchFailure(cause: unknown): { readonly said: string; readonly hint: string } {
  const denied = typeof cause === 'object' && cause !== null && 'kind' in cause && accessDenied(cause as TransferError);
  return denied ? { said: ', access denied', hint: ACCESS_DENIED_HINT } : { said: '', hint: NETWORK_HINT };
}

/**
 * A failed transfer, said for what it was. One that could not be written where it goes (`writingIn`,
 * the artifact cache: a directory root left behind, a read-only or full disk) is that directory's
 * fault (CPY_INSTALL_NOT_WRITABLE, CPY_INSTALL_DISK_FULL, naming it), not a failed download.
 */
function transferFailed(what: string, url: URL, error: TransferError, notFound = NOT_FOUND_HINT, writingIn?: string): CpyError {
  const local = error.kind === 'local' && writingIn ? fileSystemFault(error.cause, writingIn, cacheRootOf(writingIn)) : null;
  if (local) return local;
  const denied = accessDenied(error);
  return new CpyError(
    error.kind === 'not-found' ? 'CPY_INSTALL_NOT_FOUND' : 'CPY_INSTALL_DOWNLOAD_FAILED',
    `cannot get the ${what} ${displayUrl(url)}: ${error.message}${denied ? ', access denied' : ''}`,
    {
      hint:
        error.kind === 'not-found'
          ? notFound
          : denied
            ? ACCESS_DENIED_HINT
            : error.kind === 'local'
            ? 'free some disk space in the cache directory (CPY_CACHE_DIR), then run again'
            : error.kind === 'source'
              ? 'make the file readable by this user, or give another path'
              : NETWORK_HINT,
      cause: error,
    },
  );
}

const NOT_FOUND_HINT = 'check the URL or path (and the release it belongs to)';

/** What to do when an artifact the index lists is not where it says. */
const listedButGoneHint = (index: string) =>
  `the index ${index} lists it, but it is not there (its release was deleted, or the index is stale): tell its publisher, or ask for another version (cpy list --available)`;

/**
 * An artifact URL with nothing there, found when its checksum file was not there either: the
 * artifact is what is missing (a URL typed wrong), not only its checksum (CPY_INSTALL_NOT_FOUND).
 */
export async function refuseMissingArtifact(url: URL, client: HttpClient): Promise<void> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return;
  const { httpMissing } = await transferLibrary();
  const why = await httpMissing(url, client);
  if (why) throw new CpyError('CPY_INSTALL_NOT_FOUND', `cannot get the artifact ${displayUrl(url)}: ${why}`, { hint: `${NOT_FOUND_HINT}: nothing was installed` });
}

/**
 * Reads the expected sha256 from a `sha256sum` file; its file name, if any, must be the artifact's.
 * Fetched into the system's temporary directory (a few bytes): not the artifact cache, which a
 * user may read and not write (root's, shared), and then installs from.
 */
export async function fetchChecksum(url: URL, artifactName: string, client: HttpClient): Promise<string> {
  const tmp = join(tmpdir(), `cpy-checksum-${process.pid}-${randomId()}`);
  const { downloadToFile, TransferError } = await transferLibrary();
  try {
    await downloadToFile(url, tmp, { client });
    const text = await readFile(tmp, 'utf8');
    const line = text.length < 4096 ? parseChecksumLine(text) : null;
    if (!line) {
      throw new CpyError('CPY_INSTALL_BAD_CHECKSUM_FILE', `${displayUrl(url)} is not a sha256sum line`, {
        hint: 'point --checksum-url at the .sha256 file published with the artifact, or pass --sha256',
      });
    }
    // `sha256sum dist/<name>` (or ./<name>) writes the path it was given: its file name counts.
    if (line.fileName && basename(line.fileName) !== artifactName) {
      throw new CpyError('CPY_INSTALL_BAD_CHECKSUM_FILE', `${displayUrl(url)} is the checksum of ${line.fileName}, not of ${artifactName}`, {
        hint: 'use the .sha256 file published beside this artifact',
      });
    }
    return line.sha256;
  } catch (error) {
    if (error instanceof TransferError && error.kind === 'not-found') {
      throw new CpyError('CPY_INSTALL_NOT_FOUND', `cannot get the checksum file ${displayUrl(url)}: ${error.message}`, {
        hint: 'an artifact is installed only against its sha256: put the .sha256 published with it beside it (or point --checksum-url at it), or pass --sha256 <hex> from a source you trust',
        cause: error,
      });
    }
    if (error instanceof TransferError) throw transferFailed('checksum file', url, error, undefined, tmpdir());
    throw error;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** The index published beside `index.json` while a publish swaps it in (see @cpy/publish publishIndex). */
const PREVIOUS_INDEX = 'index.previous.json';

/**
 * Reads the index at a URL or path. An `index.json` URL that answers 404 is read from
 * `index.previous.json` beside it: a publish renames the old index there a moment before
 * the new one takes its name.
 */
export async function fetchIndex<S>(
  location: string,
  client: HttpClient,
  scratch: string,
  verify?: (file: string, url: URL) => Promise<S>,
): Promise<{ index: ArtifactIndex; source: string; signature: S | null; sha256: string }> {
  const url = toUrl(location);
  await makeDirectory(scratch);
  const tmp = join(scratch, `index-${randomId()}.json`);
  const { downloadToFile, TransferError } = await transferLibrary();
  const read = async (u: URL) => {
    await downloadToFile(u, tmp, { client, maxBytes: MAX_INDEX_BYTES });
    let signature: S | null = null;
    if (verify) {
      try {
        signature = await verify(tmp, u);
      } catch (error) {
        // A publish swaps the index and its signature by two renames: read both once more.
        if (!/^CPY_SIGNATURE_(INVALID|MISSING)$/.test((error as CpyError).code ?? '')) throw error;
        await downloadToFile(u, tmp, { client, maxBytes: MAX_INDEX_BYTES });
        signature = await verify(tmp, u);
      }
    }
    // The sha256 of the bytes read (an index is small): what `cpy publish --adopt-index` takes once they are checked.
    const bytes = await readFile(tmp);
    return { index: parseIndexText(bytes.toString('utf8'), displayUrl(u)), source: displayUrl(u), signature, sha256: sha256Hex(bytes) };
  };
  // Whether index.previous.json was looked for too (and was not there either): the error says so.
  let triedPrevious = false;
  try {
    try {
      return await read(url);
    } catch (error) {
      if (!(error instanceof TransferError && error.kind === 'not-found' && url.pathname.endsWith(`/${INDEX_FILE}`))) throw error;
      const previous = new URL(url.href);
      previous.pathname = previous.pathname.slice(0, -INDEX_FILE.length) + PREVIOUS_INDEX;
      return await read(previous).catch((fallback: unknown) => {
        // No previous index either: the index's own error. A previous index that is there but
        // refused (its signature, the trusted keys) says so.
        triedPrevious = fallback instanceof TransferError && fallback.kind === 'not-found';
        throw fallback instanceof TransferError ? error : fallback;
      });
    }
  } catch (error) {
    // Past MAX_INDEX_BYTES (an artifact given as the index, a page): no index, stopped there.
    if (error instanceof TransferError && error.kind === 'too-large') {
      throw new CpyError('CPY_INDEX_INVALID', `the index ${displayUrl(url)} is larger than ${MAX_INDEX_BYTES / 1024 / 1024} MiB: it is no cpy index (an artifact, or a page, given as one?)`, {
        hint: 'point at the index.json cpy publish or cpy index add wrote',
      });
    }
    // An index refused (401, 403) is no unreachable index: said as such, and no cached build stands in for it.
    if (error instanceof TransferError && (error.kind === 'local' || error.kind === 'source' || accessDenied(error))) throw transferFailed('index', url, error, undefined, scratch);
    if (error instanceof TransferError && error.kind === 'not-found') {
      throw new CpyError('CPY_INSTALL_INDEX_NOT_FOUND', `cannot read the index ${displayUrl(url)}: ${error.message}${triedPrevious ? ` (nor ${PREVIOUS_INDEX} beside it, which a publish serves while it replaces the index)` : ''}`, {
        hint: 'check --index (or CPY_INDEX_URL): cpy publish keeps it at https://github.com/<owner>/<repo>/releases/download/cpy-index/index.json',
        cause: error,
      });
    }
    if (error instanceof TransferError) {
      throw new CpyError('CPY_INSTALL_INDEX_UNAVAILABLE', `cannot read the index ${displayUrl(url)}: ${error.message}`, {
        // Read by cpy outdated, list --available and venv upgrade too: what to do about the network first.
        hint: 'check the network (HTTPS_PROXY, --ca-file) and run again; to install meanwhile, give the artifact itself: cpy install --from <file or url>',
        cause: error,
      });
    }
    throw error;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** The metadata published beside an artifact (`<artifact>.json`), or null when there is none. */
export async function fetchSideMetadata(url: URL, client: HttpClient, scratch: string): Promise<ArtifactMetadata | null> {
  const tmp = join(scratch, `metadata-${randomId()}`);
  try {
    const { downloadToFile } = await transferLibrary();
    await downloadToFile(url, tmp, { client, retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0, maxRetryAfterMs: 0 } });
    return await readJsonFile(tmp, artifactMetadataSchema);
  } catch {
    return null;
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * The cache's entry for `sha256`, not yet read: `<sha256>.tgz` beside an index that says what it
 * is. Whether its bytes are that sha256 is known once they are read.
 */
export async function cachedEntry(cacheDir: string, sha256: string): Promise<CachedArtifact | null> {
  const path = join(cacheDir, `${sha256}.tgz`);
  // A damaged index is a cache miss (the artifact is fetched again), never an error.
  const index = await readJsonFile(join(cacheDir, `${sha256}.json`), indexSchema);
  if (!index || !(await stat(path).then((s) => s.isFile(), () => false))) return null;
  return { path, sha256, fileName: index.fileName, source: index.source, fromCache: true, ...(index.signedBy ? { signedBy: index.signedBy } : {}) };
}

/**
 * The newest cached build that answers a request (`3.13.5`, `3.13`), for installs without an index
 * or offline. With `host`, the builds its file name says are for this architecture and this
 * distribution come first, then those for this architecture: a cache shared by runners of two
 * distributions gave the newest build of either, which the other then refused. `accept` judges
 * each build that is not this very system's (whether it runs here): one it turns down is passed over.
 */
export async function newestCached(
  cacheDir: string,
  request: VersionRequest,
  host?: { readonly arch: string; readonly distro: Distro | null },
  accept?: (hit: CachedArtifact) => Promise<boolean>,
): Promise<CachedArtifact | null> {
  const names = await readdir(cacheDir).catch(() => [] as string[]);
  const found: { sha256: string; version: string; build: number; rank: number }[] = [];
  for (const name of names.filter((n) => n.endsWith('.json') && SHA256_HEX_RE.test(n.slice(0, -'.json'.length)))) {
    const entry = await readJsonFile(join(cacheDir, name), indexSchema);
    if (!entry || !matchesRequest(entry.version, request)) continue;
    const named = parseArtifactFileName(entry.fileName);
    const here = !host || !named || named.arch === host.arch;
    const sameSystem = here && !!host?.distro && named?.os === host.distro.id && named.osVersion === host.distro.versionId;
    found.push({ sha256: name.slice(0, 64), version: entry.version, build: entry.build, rank: sameSystem ? 0 : here ? 1 : 2 });
  }
  for (const { sha256, rank } of found.sort((a, b) => a.rank - b.rank || newestFirst(a, b))) {
    const hit = await cachedEntry(cacheDir, sha256);
    if (hit && (rank === 0 || !accept || (await accept(hit)))) return hit;
  }
  return null;
}

/** Removes a cache entry whose bytes are not its sha256 (damaged since it was stored). */
export async function dropCached(cacheDir: string, sha256: string): Promise<void> {
  await rm(join(cacheDir, `${sha256}.tgz`), { force: true });
  await rm(join(cacheDir, `${sha256}.json`), { force: true });
}

/**
 * Partial downloads of processes that were killed: `.download-<owner>-<pid>-<id>.tgz`, judged only
 * when `owner` is this process's (host and pid namespace: on a cache shared by containers, another's
 * download in progress was deleted as dead); `.download-<pid>-<id>.tgz`, as a cpy before
 * 2026-12-07 named them, as before.
 */
export const removeDeadDownloads = (cacheDir: string) => removeLeftByDeadProcesses(cacheDir, new RegExp(`^\\.+download-(?:${processOwner().replace(/\./g, '\\.')}-)?(\\d+)-`));

export interface DownloadArtifactOptions {
  readonly url: URL;
  readonly expectedSha256: string;
  readonly cacheDir: string;
  readonly client: HttpClient;
  readonly onProgress?: (p: TransferProgress) => void;
  readonly signal?: AbortSignal;
  /** Checks the downloaded file (its signature) before it enters the cache; a throw deletes it. */
  readonly verify?: (file: string) => Promise<void>;
  /** Reads the bytes as they are written (see downloadToFile's `follow`). */
  readonly follow?: (bytes: AsyncIterable<Uint8Array>) => void;
  /** The index that listed the artifact, when one did: a 404 then says the index names a file that is gone. */
  readonly listedBy?: string;
}

/**
 * Streams the artifact into the cache, hashing as it goes; only a file whose
 * sha256 is the expected one is kept (as `<sha256>.tgz`). Anything else is
 * deleted and reported: nothing unverified ever reaches extraction.
 */
export async function downloadArtifact(options: DownloadArtifactOptions): Promise<Omit<CachedArtifact, 'fromCache'>> {
  await makeDirectory(options.cacheDir);
  const fileName = basename(decodeURIComponent(options.url.pathname));
  await removeDeadDownloads(options.cacheDir);
  const tmp = join(options.cacheDir, `.download-${processOwner()}-${process.pid}-${randomId()}.tgz`);
  let got: { sha256: string; bytes: number };
  const { downloadToFile, TransferError } = await transferLibrary();
  try {
    got = await downloadToFile(options.url, tmp, {
      client: options.client,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.follow ? { follow: options.follow } : {}),
    });
  } catch (error) {
    await rm(tmp, { force: true });
    if (error instanceof TransferError) throw transferFailed('artifact', options.url, error, options.listedBy ? listedButGoneHint(options.listedBy) : undefined, options.cacheDir);
    throw error;
  }
  if (got.sha256 !== options.expectedSha256) {
    await rm(tmp, { force: true });
    throw new CpyError('CPY_INSTALL_CHECKSUM_MISMATCH', `${fileName} has sha256 ${got.sha256}, but ${options.expectedSha256} was expected`, {
      hint: 'the download is damaged or is not the published artifact: nothing was installed; download it again or check the checksum source',
      details: { expected: options.expectedSha256, actual: got.sha256 },
    });
  }
  if (options.verify) {
    try {
      await options.verify(tmp);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }
  const path = join(options.cacheDir, `${got.sha256}.tgz`);
  await rename(tmp, path);
  return { path, sha256: got.sha256, fileName, source: displayUrl(options.url) };
}

/** Records what a cached artifact is, so `install <version>` can find it offline. */
export async function indexCached(cacheDir: string, artifact: Omit<CachedArtifact, 'fromCache'>, metadata: ArtifactMetadata, signedBy?: string): Promise<void> {
  const entry = { fileName: artifact.fileName, version: metadata.version, build: metadata.build, source: artifact.source, ...(signedBy ? { signedBy } : {}) };
  const path = join(cacheDir, `${artifact.sha256}.json`);
  const text = JSON.stringify(entry, null, 2) + '\n';
  // Written only when it changes: a cache this user may read but not write (root's, shared) then
  // serves its builds (every install rewrote the entry, and was refused: not writable).
  if ((await readFile(path, 'utf8').catch(() => null)) === text) return;
  // Whole or not at all: a cut-off entry would hide the cached build from offline installs.
  await writeFileAtomic(path, text);
}

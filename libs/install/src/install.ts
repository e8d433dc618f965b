import { lstat, readdir, readlink, realpath, rename, rm, rmdir, stat, statfs } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ArtifactMetadata, artifactMetadataSchema, CpyError, displayUrl, isCpyError, makeDirectory, parseArtifactFileName, randomId, runtimeNeeds, writeFileAtomic } from '@cpy/core';
import type { HttpClient } from '@cpy/transfer';
import * as z from 'zod/mini';
import type { IndexEntry } from '@cpy/artifact/index-format';
import {
  downloadArtifact,
  fetchChecksum,
  fetchSideMetadata,
  cachedEntry,
  refuseMissingArtifact,
  dropCached,
  indexCached,
  newestCached,
  toUrl,
  type CachedArtifact,
} from './acquire.js';
import { loadIndex } from './available.js';
import { checkCompatibility, installPackages, loadableLibraries, missingLibraries, type MissingLibrary } from './compat.js';
import { matchesRequest, parseVersionRequest, type VersionRequest } from './request.js';
import { readDistro } from './archive.js';
import { defaultHostContext, fitOf, resolveBuild, type HostContext, type Resolution } from './resolve.js';
import { detectHost, hostArch, type HostPlatform } from './host.js';
import { cacheRootOf, resolveLayout, type Environment, type InstallLayout } from './layout.js';
import { artifactLibrary, installerClient } from './lazy.js';
import { fileSystemFault, pythonFileSystemFault } from './faults.js';
import { withLock } from './lock.js';
import { installOptionsSchema, OPTION_PATTERNS, type InstallOptions, type ResolvedInstallOptions } from './options.js';
import { MARKER_FILE, readJsonFile, readMarker, readState, type InstallMarker } from './state.js';
import { signaturePolicy, signatureUrlOf, SignatureVerifier, type SignaturePolicy, type SignatureRecord } from './trust.js';
import { checkPython3Link, heldBack, leftBehind, linkedLayout, linksMoved, prefixLockPath, recordInstall, type Recorded, replacedAt, signMarker, writeMarker } from './versions.js';
import { openStateSession, type StateSession } from './record.js';
import { damagedInstall, treeDamage } from './intact.js';

export type InstallPhase = 'resolve' | 'download' | 'verify' | 'system-packages' | 'extract' | 'relocate' | 'validate' | 'activate';

export type InstallEvent =
  | { readonly type: 'phase'; readonly phase: InstallPhase; readonly detail: string }
  | { readonly type: 'download'; readonly received: number; readonly total: number | null }
  | { readonly type: 'extract'; readonly bytes: number; readonly total: number }
  /** Another install holds a lock: `on` names what it locks (the prefix, the state directory, or a signed index's record), `holder` who holds it. */
  | { readonly type: 'waiting'; readonly holder: string; readonly on: string }
  | { readonly type: 'warning'; readonly message: string };

export interface InstallHooks {
  /** Progress; the library never prints. */
  readonly onEvent?: (event: InstallEvent) => void;
  /**
   * Stops the install (Ctrl-C), until its tree is put in place: the download stops, the staging
   * tree is removed, and the error is CPY_INSTALL_CANCELLED. Once the tree is renamed into place,
   * the install runs to its end (the record, the links).
   */
  readonly signal?: AbortSignal;
  /** Default process.env (for CPY_HOME, CPY_CACHE_DIR, proxies). */
  readonly env?: Environment;
  /** Default detectHost(). */
  readonly host?: HostPlatform;
  /** Default: /etc/os-release, ldconfig and apt-cache (for choosing a build and checking its packages before the download). */
  readonly hostContext?: () => Promise<HostContext>;
}

export interface InstallResult {
  /** `already-installed`: the marker matched and nothing was downloaded or written (except activation). */
  readonly status: 'installed' | 'replaced' | 'already-installed';
  readonly version: string;
  readonly build: number;
  readonly prefix: string;
  readonly python: string;
  readonly sha256: string;
  readonly artifact: string;
  readonly source: string;
  readonly fromCache: boolean;
  readonly activated: boolean;
  /** Where the python3 links are (made or moved there when `activated`); null: no links. */
  readonly binDir: string | null;
  readonly warnings: readonly string[];
  /** The index entry chosen for a version request, and why; null when the artifact was given or came from the cache. */
  readonly resolution: Resolution | null;
  /** Whose signature vouched for the artifact, when signers are pinned; null otherwise. */
  readonly signature: SignatureRecord | null;
  readonly durationMs: number;
}

/** Parses install options, or throws CPY_INSTALL_BAD_OPTIONS naming the first bad one. */
export function parseInstallOptions(input: unknown): ResolvedInstallOptions {
  const parsed = installOptionsSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new CpyError('CPY_INSTALL_BAD_OPTIONS', `${issue.path.join('.') || 'options'}: ${issue.message}`, {
    hint: 'see `cpy install --help` (or the Feature options in its README)',
  });
}

const staging = (prefix: string) => `.cpy-staging-${basename(prefix)}-`;
const aside = (prefix: string) => `.cpy-old-${basename(prefix)}-`;
const journalPath = (prefix: string) => join(dirname(prefix), `.cpy-journal-${basename(prefix)}.json`);

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** What a replacement writes before its two renames. */
const journalSchema = z.object({ prefix: z.string(), staged: z.string(), aside: z.string() });

function readJournal(prefix: string): Promise<z.infer<typeof journalSchema> | null> {
  return readJsonFile(journalPath(prefix), journalSchema);
}

/**
 * Finishes or undoes what a killed run left beside `prefix` (call with the prefix lock held):
 * a replacement interrupted between its two renames is completed from the
 * journal; staging and set-aside trees of dead runs are removed.
 */
async function recoverPrefix(prefix: string): Promise<void> {
  const journal = await readJournal(prefix);
  // Only a journal of this prefix that names this prefix's own trees is followed (as install.sh does).
  if (journal && journal.prefix === prefix && ours(prefix, journal.staged) && ours(prefix, journal.aside) && !(await exists(prefix))) {
    // The staged tree was complete and validated before the journal was written.
    if (await exists(journal.staged)) await rename(journal.staged, prefix);
    else if (await exists(journal.aside)) await rename(journal.aside, prefix);
  }
  await rm(journalPath(prefix), { force: true });
  const parent = dirname(prefix);
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    if (ours(prefix, join(parent, name))) await rm(join(parent, name), { recursive: true, force: true });
  }
}

/**
 * Whether `path` is in a staging or set-aside tree of `prefix` (`.cpy-staging-<name>-<8 letters or
 * digits>` beside it, or a path inside one): exactly, so that recovering /opt/py never touches
 * /opt/py-3's trees. The library names its trees with hex digits, install.sh's mktemp with letters
 * of both cases and digits; each recovers what the other left.
 */
function ours(prefix: string, path: string): boolean {
  const rel = relative(dirname(prefix), path);
  if (!rel || rel.startsWith('..') || isAbsolute(rel)) return false;
  const name = rel.split('/')[0]!;
  return [staging(prefix), aside(prefix)].some((start) => name.startsWith(start) && /^[A-Za-z0-9]{8}$/.test(name.slice(start.length)));
}

/**
 * CPython's own scripts do not quote their prefix (bin/python3.X-config runs `cd` and `sed s#..#..#`
 * on it; the sysconfig data holds it between '...'): at a prefix with a space, a quote or a #, the
 * tree's python3-config is broken, or the tree cannot be relocated. An installPrefix is held to
 * OPTION_PATTERNS.path where options are checked; one made from CPY_HOME, XDG_DATA_HOME or HOME
 * is held to it here, before the artifact is fetched.
 */
function refuseUnsafePrefix(prefix: string, env: Environment): void {
  if (OPTION_PATTERNS.path.test(prefix)) return;
  const from = env['CPY_HOME'] ? 'CPY_HOME' : env['XDG_DATA_HOME'] && isAbsolute(env['XDG_DATA_HOME']) ? 'XDG_DATA_HOME' : 'HOME';
  throw new CpyError('CPY_INSTALL_BAD_OPTIONS', `the prefix ${prefix} (made from ${from}) has characters CPython's own scripts do not handle: cpy installs at paths of letters, digits and . _ / + @ - only`, {
    hint: `set ${from === 'HOME' ? 'CPY_HOME' : from} to such a path, or give the prefix (--prefix)`,
    details: { prefix, from },
  });
}

/**
 * What is at `path`, as install.sh's test -L, -e, -d judge it: nothing; a link that leads to no
 * file (gone, a loop, through a file), in words; a file; or a directory (or a link to one).
 */
async function whatIsAt(path: string): Promise<{ kind: 'nothing' | 'directory' | 'file' } | { kind: 'dangling'; said: string }> {
  const [link, target] = await Promise.all([lstat(path).catch(() => null), stat(path).catch(() => null)]);
  if (!link) return { kind: 'nothing' };
  if (!target) return { kind: 'dangling', said: `${path} is a link to ${await readlink(path)}, which is not there` };
  return { kind: target.isDirectory() ? 'directory' : 'file' };
}

/**
 * What stands where `dir` or a directory above it should be: the first of them that is there, when
 * it is a file or a link to nothing (install.sh's parent_blocker), in words; else null.
 */
async function blockerOf(dir: string): Promise<string | null> {
  for (let at = dir; ; at = dirname(at)) {
    const there = await whatIsAt(at);
    if (there.kind === 'dangling') return there.said;
    if (there.kind !== 'nothing') return there.kind === 'file' ? `${at} is a file` : null;
    if (dirname(at) === at) return null;
  }
}

/**
 * Makes `dir`, `forWhat` it is (`for the prefix ...`); what stands in the way (a file, a link to
 * nothing, a file system that makes no directory there, as /proc) is named: CPY_INSTALL_NOT_WRITABLE.
 */
async function makeNamedDirectory(dir: string, forWhat: string, hint: string, cacheRoot?: string): Promise<void> {
  await makeDirectory(dir).catch(async (error: unknown) => {
    const { code, path } = error as NodeJS.ErrnoException;
    const fault = fileSystemFault(error, dir, cacheRoot);
    if (fault || !(code === 'EEXIST' || code === 'ENOTDIR' || code === 'ENOENT')) throw fault ?? error;
    const why = (await blockerOf(dir)) ?? `${path ?? dir} cannot be made (${code}): its file system makes no directory there`;
    throw new CpyError('CPY_INSTALL_NOT_WRITABLE', `cannot make ${dir} ${forWhat}: ${why}`, { hint, cause: error });
  });
}

/** The directory the prefix goes in (and its staging tree beside it), made; what stands in the way is named. */
const makePrefixParent = (prefix: string) =>
  makeNamedDirectory(dirname(prefix), `for the prefix ${prefix}`, 'choose another prefix (--prefix, CPY_HOME), or make that directory yourself');

/**
 * A prefix that exists, is not empty and has no cpy marker holds something cpy
 * did not install (`--prefix /usr/local` by mistake): replacing it would delete it. So would
 * replacing a file there (`--prefix notes.txt`), or a directory whose entries cannot be read;
 * a link that leads nowhere cannot be installed through. `recordedFor`: the version the state
 * records at the prefix (the one being installed), when it does. Its install without a marker is
 * refused too, and said as such: the record alone does not say that the files there are still
 * cpy's (a tree deleted by hand, and another Python built into its place), and `cpy uninstall`
 * is the user's word that they are.
 */
async function refuseForeignPrefix(prefix: string, recordedFor: string | null): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(prefix);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const hint = 'choose another prefix (each version gets its own, e.g. /opt/python-<version>)';
    const there = await whatIsAt(prefix);
    if (there.kind === 'dangling') throw new CpyError('CPY_INSTALL_PREFIX_NOT_EMPTY', there.said, { hint: `${hint}, or make the directory it points to (or remove the link) yourself` });
    if (there.kind === 'file') throw new CpyError('CPY_INSTALL_PREFIX_NOT_EMPTY', `${prefix} is a file, not a directory; cpy installs only into a new or empty directory, or over its own install`, { hint: `${hint}, or move that file away yourself` });
    if (there.kind === 'nothing') return;
    // Unreadable (mode 000 as a normal user): what it holds cannot be known, so it is not replaced.
    throw new CpyError('CPY_INSTALL_NOT_WRITABLE', `cannot read ${prefix} (${code ?? (error as Error).message}): what it holds cannot be checked, so it is not replaced`, {
      hint: 'choose a prefix this user can read and write (--prefix, CPY_HOME), or make that directory readable',
      cause: error,
    });
  }
  if (entries.length === 0 || entries.includes(MARKER_FILE)) return;
  if (recordedFor) {
    throw new CpyError('CPY_INSTALL_PREFIX_NOT_EMPTY', `${prefix} has no install marker, though cpy recorded CPython ${recordedFor} there: its marker was deleted, or other files took its place`, {
      hint: `if it is that install, delete ${prefix} yourself and install again; if the files are someone else's, choose another prefix (cpy uninstall ${recordedFor} forgets the version and leaves them)`,
    });
  }
  // Named in order (readdir's is the file system's), as install.sh names them.
  const names = [...entries].sort();
  throw new CpyError('CPY_INSTALL_PREFIX_NOT_EMPTY', `${prefix} already holds files that cpy did not install (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''})`, {
    // Never "empty it" of /usr or /usr/local (install.sh's rule is the same).
    hint: systemDirectory(prefix)
      ? `choose another prefix, a directory of its own (each version gets its own, e.g. /opt/python-<version>): ${prefix} is a system directory`
      : 'choose another prefix (each version gets its own, e.g. /opt/python-<version>), or empty that directory yourself',
  });
}


/**
 * Where a version goes when no prefix is given: where the state records it, while a tree is there
 * (`cpy install 3.13.5` after an install of it at --prefix is that install: it was installed again
 * at the default prefix, and the one the user chose was left unlisted); else the default. A state
 * that cannot be read is said by the record, later. (install.sh's prefix_for.)
 */
async function prefixOf(layout: InstallLayout, version: string): Promise<string> {
  const recorded = (await readState(layout.stateDir).catch(() => null))?.installs[version]?.prefix;
  if (recorded && (await exists(recorded))) return recorded;
  return layout.prefixFor(version);
}

/** A directory of the system's own (/, /opt, /usr, /usr/local...): one level down, or two under /usr. */
function systemDirectory(prefix: string): boolean {
  const parts = prefix.split('/').filter(Boolean);
  return parts.length <= 1 || (parts[0] === 'usr' && parts.length <= 2);
}

/** The distributions in a tree's own site-packages (pip install outside a venv): [name, version], each one found (install.sh's glob lib/python[0-9]*.[0-9]*). */
async function sitePackages(root: string): Promise<[string, string][]> {
  const found: [string, string][] = [];
  const lib = join(root, 'lib');
  for (const line of await readdir(lib).catch(() => [] as string[])) {
    if (!/^python\d.*\.\d/.test(line)) continue;
    for (const name of await readdir(join(lib, line, 'site-packages')).catch(() => [] as string[])) {
      const named = /^([^-]+)-(.+)\.(?:dist|egg)-info$/.exec(name);
      if (named) found.push([named[1]!, named[2]!]);
    }
  }
  return found;
}

/**
 * A prefix that is a link to a directory (made by hand, to put Python on another disk) is not
 * installed through: the tree is put in place with a rename, which replaces the link, so the new
 * tree landed beside it and the directory it points to stayed as it was (install.sh's rule too).
 * An install already there through the link answers before this (nothing to do).
 */
async function refuseLinkPrefix(prefix: string): Promise<void> {
  if (!(await lstat(prefix).catch(() => null))?.isSymbolicLink()) return;
  const target = await realpath(prefix).catch(() => null);
  if (!target) return; // (one that leads nowhere: refuseForeignPrefix said so)
  throw new CpyError('CPY_INSTALL_PREFIX_IS_LINK', `${prefix} is a link to ${target}: cpy puts its tree in place with a rename, which would replace the link rather than fill the directory it points to`, {
    hint: `give the directory itself as the prefix (--prefix ${target}), or remove the link`,
    details: { prefix, target },
  });
}

/**
 * A prefix that is a mount point (a volume or a disk mounted there, a Dev Container's named volume)
 * cannot take the tree unpacked beside it: renaming into it, or it aside, is refused (EBUSY), and
 * that was said with no code once everything was downloaded and unpacked. Said before anything is
 * fetched (install.sh says the same).
 */
async function refuseMountPoint(prefix: string): Promise<void> {
  const [here, parent] = await Promise.all([stat(prefix).catch(() => null), stat(dirname(prefix)).catch(() => null)]);
  if (!here?.isDirectory() || !parent || here.dev === parent.dev) return;
  throw new CpyError('CPY_INSTALL_PREFIX_MOUNTED', `${prefix} is a mount point (a volume or a disk mounted there): cpy puts its tree in place with a rename from beside it, which a mount point does not allow`, {
    hint: `install in a directory inside it (--prefix ${prefix}/python-<version>), or mount it one level up`,
    details: { prefix },
  });
}

/** What the prefix's own site-packages holds whose name `tree` (replacing it) does not: `name version`, in order. */
async function packagesLost(prefix: string, tree: string): Promise<string[]> {
  const [before, after] = await Promise.all([sitePackages(prefix), sitePackages(tree)]);
  const kept = new Set(after.map(([name]) => name));
  return before.flatMap(([name, version]) => (kept.has(name) ? [] : [`${name} ${version}`])).sort();
}

/**
 * Moves `tree` to `prefix`: one rename (into an empty directory, made for it, too: it said
 * "replaced"), or (replacing a broken or other build) two renames covered by a journal.
 */
async function putInPlace(tree: string, prefix: string): Promise<'installed' | 'replaced'> {
  if (!(await exists(prefix)) || (await rmdir(prefix).then(() => true, () => false))) {
    await rename(tree, prefix);
    return 'installed';
  }
  const old = join(dirname(prefix), `${aside(prefix)}${randomId().slice(0, 8)}`);
  await writeFileAtomic(journalPath(prefix), JSON.stringify({ prefix, staged: tree, aside: old }));
  try {
    await rename(prefix, old);
  } catch (error) {
    await rm(journalPath(prefix), { force: true });
    throw unmovable(prefix, error);
  }
  try {
    await rename(tree, prefix);
  } catch (error) {
    // The install that was there goes back (it was hidden until the next run's recovery).
    await rename(old, prefix).then(() => rm(journalPath(prefix), { force: true }), () => undefined);
    throw unmovable(prefix, error);
  }
  await rm(journalPath(prefix), { force: true });
  await rm(old, { recursive: true, force: true });
  return 'replaced';
}

/**
 * A rename the prefix's file system refuses: a mount point under it or at it (EBUSY), a directory of
 * an image's lower layer on overlayfs (EXDEV). Said with what to do; other errors as they are.
 */
function unmovable(prefix: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== 'EBUSY' && code !== 'EXDEV') return error;
  return new CpyError('CPY_INSTALL_NOT_WRITABLE', `cannot replace ${prefix}: its file system refuses to rename it (${code}: ${code === 'EBUSY' ? 'something is mounted there' : "a directory of an image's layer, or of another disk"}); the install there is as it was`, {
    hint: `install at a new prefix (--prefix), or remove ${prefix} yourself first`,
    cause: error,
  });
}

/** Whether an installed prefix is this plan's artifact (and, with pinned signers, was verified by one of them). */
function sameArtifact(marker: InstallMarker, plan: Pick<SourcePlan, 'version' | 'sha256' | 'artifactUrl'>, policy: SignaturePolicy | null): boolean {
  if (marker.version !== plan.version) return false;
  if (policy && !(marker.signedBy && policy.signers.includes(marker.signedBy))) return false;
  if (plan.sha256) return marker.sha256 === plan.sha256;
  if (plan.artifactUrl) return marker.artifact === basename(decodeURIComponent(toUrl(plan.artifactUrl).pathname));
  return true;
}

/** Where the artifact comes from, decided before anything is written. */
interface SourcePlan {
  readonly version: string;
  /** The build number the artifact was taken for: its file name's, or its index entry's. */
  readonly build?: number | undefined;
  readonly artifactUrl?: string | undefined;
  readonly checksumUrl?: string | undefined;
  readonly sha256?: string | undefined;
  readonly resolution: Resolution | null;
  /** The index the build was chosen from (where a 404 of its artifact says the index is at fault). */
  readonly listedBy?: string;
  /** The signed index (or the verified cache entry) that vouches for `sha256`; null: the artifact's own signature must, when signers are pinned. */
  readonly signature: SignatureRecord | null;
  readonly warnings: readonly string[];
  /** The newest cached build of the version asked for (no sha256 given): an older one may stand in for it. */
  readonly newestCached?: true;
}

/**
 * A cached build stands for a signed one only when a pinned signer vouched for it when it was
 * downloaded (the cache records whose signature that was).
 */
function trustCached(hit: CachedArtifact, policy: SignaturePolicy | null): SignatureRecord | null {
  if (!policy) return null;
  if (hit.signedBy && policy.signers.includes(hit.signedBy)) return { fingerprint: hit.signedBy, signedAt: null, covers: 'cache' };
  throw new CpyError('CPY_SIGNATURE_MISSING', `the cached ${hit.fileName} was not verified by a pinned signer (${policy.signers.join(', ')}) when it was downloaded`, {
    hint: 'install it online once, through the signed index (--index) or with its signature beside it (--from), so that cpy can check it; nothing was installed',
  });
}

/**
 * The version and the artifact: given (`artifactUrl`), chosen from the index for this host
 * (`version` + `indexUrl` or CPY_INDEX_URL), or the newest cached build of the version.
 */
async function planSource(
  options: ResolvedInstallOptions,
  layout: InstallLayout,
  env: Environment,
  hooks: InstallHooks,
  context: () => Promise<HostContext>,
  policy: SignaturePolicy | null,
): Promise<SourcePlan> {
  const request: VersionRequest | null = options.version ? parseVersionRequest(options.version) : null;
  if (options.artifactUrl) {
    await refuseLocalDirectory(toUrl(options.artifactUrl));
    const fileName = basename(decodeURIComponent(toUrl(options.artifactUrl).pathname));
    const named = parseArtifactFileName(fileName);
    const version = named?.version ?? (request?.exact ? request.text : undefined);
    if (!version) {
      await refuseMissingLocal(toUrl(options.artifactUrl));
      throw new CpyError('CPY_INSTALL_NO_VERSION', `which version? The artifact name${fileName ? ` (${fileName})` : ''} does not say (cpython-<version>-<os><osversion>-build<N>.tgz)`, {
        hint: 'pass the full version (cpy install 3.13.5 --from ...)',
      });
    }
    if (request && !matchesRequest(version, request)) {
      throw new CpyError('CPY_INSTALL_VERSION_MISMATCH', `asked for ${request.text}, but the artifact is ${version}`, { hint: 'fix the version or the artifact URL' });
    }
    return { version, build: named?.build, artifactUrl: options.artifactUrl, checksumUrl: options.checksumUrl, sha256: options.sha256, resolution: null, signature: null, warnings: [] };
  }
  if (!request) {
    throw new CpyError('CPY_INSTALL_NO_VERSION', 'which version? Give a version (3.13, 3.13.5, latest) or the artifact', {
      hint: 'cpy install 3.13 --index <url> (or CPY_INDEX_URL), or cpy install --from <artifact>',
    });
  }
  // This host's architecture and distribution (the context's when a caller gives one) put its own builds first.
  const here = async () => (hooks.hostContext ? await context().then((c) => ({ arch: c.host.arch, distro: c.distro })) : { arch: hooks.host?.arch ?? hostArch(), distro: await readDistro() });
  // Cached builds for another system that cannot run here, passed over (and said when none is left).
  const unfitCached: string[] = [];
  const runsHere = async (hit: CachedArtifact): Promise<boolean> => {
    // One whose metadata cannot be read is taken: installing it says what is wrong with it.
    const metadata = await readVerifiedMetadata(hit).catch(() => null);
    if (!metadata) return true;
    const fit = await criticalFit(metadata, await context());
    if (fit.fits || fit.unknown) return true;
    unfitCached.push(`${hit.fileName}: ${fit.why}`);
    return false;
  };
  const cached = async () => (options.sha256 ? cachedEntry(layout.cacheDir, options.sha256) : newestCached(layout.cacheDir, request, await here(), runsHere));
  const passedOver = () => (unfitCached.length ? `; it holds builds for other systems that cannot run here (${unfitCached.join('; ')})` : '');
  const byVersion = options.sha256 ? {} : { newestCached: true as const };
  const indexUrl = options.indexUrl ?? env['CPY_INDEX_URL'];
  if (!indexUrl) {
    const hit = await cached();
    if (hit) return { version: cachedVersion(hit, request), sha256: hit.sha256, resolution: null, signature: trustCached(hit, policy), warnings: [], ...byVersion };
    const wanted = request.text === 'latest' ? 'CPython' : `CPython ${request.text}`;
    throw new CpyError('CPY_INSTALL_NO_SOURCE', `no index given, and the cache (${layout.cacheDir}) holds no ${options.sha256 ? `artifact with sha256 ${options.sha256} (${wanted})` : wanted}${passedOver()}`, {
      hint: 'give the index (--index <url>, or CPY_INDEX_URL: cpy publish keeps it on the cpy-index release), or the artifact: cpy install --from <url or file>',
    });
  }
  let loaded: Awaited<ReturnType<typeof loadIndex>>;
  try {
    loaded = await loadIndex(indexUrl, {
      env,
      caFile: options.caFile,
      scratch: layout.cacheDir,
      signerFingerprints: options.signerFingerprints,
      trustedKeysUrl: options.trustedKeysUrl,
      stateDir: layout.stateDir,
      onWait: (holder, record) => hooks.onEvent?.({ type: 'waiting', holder, on: record }),
    });
  } catch (error) {
    // Offline, a build already in the cache still installs.
    const hit = (error as CpyError).code === 'CPY_INSTALL_INDEX_UNAVAILABLE' ? await cached() : null;
    if (!hit) {
      if (!unfitCached.length || !isCpyError(error)) throw error;
      throw new CpyError(error.code, `${error.message}; the cache holds no build of ${request.text} that runs here${passedOver()}`, { hint: error.hint, details: error.details, cause: error });
    }
    const signature = trustCached(hit, policy);
    const warning = `the index is unreachable (${(error as Error).message}); installing ${hit.fileName} from the cache`;
    hooks.onEvent?.({ type: 'warning', message: warning });
    return { version: cachedVersion(hit, request), sha256: hit.sha256, resolution: null, signature, warnings: [warning], ...byVersion };
  }
  if (loaded.signature) hooks.onEvent?.({ type: 'phase', phase: 'verify', detail: `the index is signed by ${loaded.signature.fingerprint} (pinned)` });
  const resolution = await resolveBuild(loaded.index, request, await context(), loaded.source, options.sha256);
  hooks.onEvent?.({ type: 'phase', phase: 'resolve', detail: `${request.text} -> ${resolution.entry.file}: ${resolution.reason}` });
  const warnings = [...loaded.warnings, ...(resolution.deprecated ? [deprecatedWarning(resolution.entry, options.sha256 ? 'its sha256' : request.text)] : [])];
  for (const message of warnings) hooks.onEvent?.({ type: 'warning', message });
  return { version: resolution.entry.version, build: resolution.entry.build, artifactUrl: resolution.entry.url, sha256: resolution.entry.sha256, resolution, listedBy: loaded.source, signature: loaded.signature, warnings };
}

/**
 * An artifact that holds another CPython than the one it was taken for, said by who took it for
 * that: the index that listed it, the version asked for, or its own file name (install.sh says the
 * same).
 */
function versionMismatch(plan: SourcePlan, asked: string | undefined, fileName: string, holds: string): CpyError {
  if (plan.listedBy) {
    return new CpyError('CPY_INSTALL_VERSION_MISMATCH', `the index ${plan.listedBy} lists ${fileName} as CPython ${plan.version}, but it holds CPython ${holds}`, {
      hint: 'the index or the file it names is wrong: tell its publisher; nothing was installed',
    });
  }
  if (asked === plan.version) return new CpyError('CPY_INSTALL_VERSION_MISMATCH', `asked for ${plan.version}, but ${fileName} holds CPython ${holds}`, { hint: 'fix the version or the artifact' });
  return new CpyError('CPY_INSTALL_VERSION_MISMATCH', `${fileName} is named for CPython ${plan.version}, but holds CPython ${holds}`, {
    hint: 'the file was renamed, or is not what its name says: install the artifact as it was published',
  });
}

/** An artifact that holds another build of the version than its index entry or its file name says (install.sh says the same). */
function buildMismatch(plan: SourcePlan, fileName: string, holds: number): CpyError {
  if (plan.listedBy) {
    return new CpyError('CPY_INSTALL_VERSION_MISMATCH', `the index ${plan.listedBy} lists ${fileName} as build ${plan.build} of CPython ${plan.version}, but it holds build ${holds}`, {
      hint: 'the index or the file it names is wrong: tell its publisher; nothing was installed',
    });
  }
  return new CpyError('CPY_INSTALL_VERSION_MISMATCH', `${fileName} is named for build ${plan.build} of CPython ${plan.version}, but holds build ${holds}`, {
    hint: 'the file was renamed, or is not what its name says: install the artifact as it was published',
  });
}

/** What is said when the index chose a deprecated build (a pinned version or sha256, and no active build of it). */
function deprecatedWarning(entry: IndexEntry, pinned: string): string {
  return `${entry.file} is deprecated in the index (newer builds of its line replace it, and a prune may delete it): installed because ${pinned} was asked for; ask for the release line to follow its newest build`;
}

/** The version of a cached artifact, from its name (the request itself when the name does not say). */
function cachedVersion(hit: CachedArtifact, request: VersionRequest): string {
  return parseArtifactFileName(hit.fileName)?.version ?? request.text;
}

function withSuffix(url: URL, suffix: string): URL {
  const u = new URL(url.href);
  u.pathname += suffix;
  return u;
}

/** Whether an artifact is unpacked as its bytes are read (a .tgz), in the same pass that hashes them. */
const onePass = (fileName: string) => /\.(tgz|tar\.gz)$/.test(fileName);

/**
 * The artifact in the cache, verified: its sha256, and with pinned signers and no signed index
 * vouching for that sha256, its own signature (`<url>.asc`), checked before it enters the cache.
 * A .tgz (from the cache, or downloaded) is unpacked by `follow` as it is read and hashed, unless
 * its own signature must be checked first; a cached one whose bytes are not its sha256 is removed
 * (and downloaded again, when there is a URL).
 */
async function obtainArtifact(
  plan: SourcePlan,
  layout: InstallLayout,
  context: () => Promise<HostContext>,
  client: HttpClient,
  hooks: InstallHooks,
  verifier: SignatureVerifier | null,
  passes: { follow(bytes: AsyncIterable<Uint8Array>, fileName: string, source: 'download' | 'cache'): Promise<boolean>; discard(): void },
): Promise<{ artifact: CachedArtifact; signature: SignatureRecord | null }> {
  const { follow } = passes;
  const emit = hooks.onEvent ?? (() => undefined);
  /**
   * The cached `hit`, read once (unpacked on the way when `unpack`): null when it is its sha256,
   * else what is wrong with it, and whether it was removed (a damaged one is; one that cannot be
   * read is left). What was unpacked of it is thrown away.
   */
  const unfit = async (hit: CachedArtifact, unpack: boolean): Promise<{ why: string; removed: boolean } | null> => {
    const { sha256File, sha256FileFollowed } = await artifactLibrary();
    const read = unpack ? sha256FileFollowed(hit.path, (bytes) => follow(bytes, hit.fileName, 'cache')) : sha256File(hit.path);
    const actual = await read.catch((error: unknown) => error as Error);
    if (actual === hit.sha256) return null;
    if (unpack) passes.discard();
    if (typeof actual !== 'string') return { why: `cannot be read (${actual.message})`, removed: false };
    await dropCached(layout.cacheDir, hit.sha256);
    return { why: `is damaged (its sha256 is not ${hit.sha256}): it was removed`, removed: true };
  };
  if (!plan.artifactUrl) {
    const hit = plan.sha256 ? await cachedEntry(layout.cacheDir, plan.sha256) : null;
    const wrong = hit ? await unfit(hit, onePass(hit.fileName)) : null;
    if (hit && !wrong) return { artifact: hit, signature: plan.signature };
    throw new CpyError('CPY_INSTALL_NO_SOURCE', hit ? `the cached ${hit.fileName} ${wrong!.why}, and nothing was installed` : `the cache (${layout.cacheDir}) no longer holds CPython ${plan.version}`, {
      hint: hit ? 'download it again: pass the artifact (cpy install --from <url or file>) or the index (--index <url>)' : 'pass the artifact: cpy install --from <url or file>, or the index: --index <url>',
      // installPython then tries the next newest cached build, as the same command run again would.
      ...(hit && plan.newestCached && wrong?.removed ? { details: { removed: hit.fileName, why: wrong.why } } : {}),
    });
  }
  const url = toUrl(plan.artifactUrl);
  const fileName = basename(decodeURIComponent(url.pathname));
  await makeNamedDirectory(layout.cacheDir, 'for the artifact cache', 'choose another cache directory (CPY_CACHE_DIR), or make that directory yourself', cacheRootOf(layout.cacheDir));
  // The metadata published beside the artifact lets an incompatible host refuse before the download
  // (an index entry was checked when it was chosen). When the checksum must be fetched, it is asked
  // for at the same time: one round trip before the download's first byte, not two. With the
  // sha256 given, a cached artifact needs no request at all, so it is asked for only on a miss.
  const sideMetadata = () => (plan.resolution ? Promise.resolve(null) : fetchSideMetadata(withSuffix(url, '.json'), client, layout.cacheDir).catch(() => null));
  const side = plan.sha256 ? null : sideMetadata();
  let expected: string;
  try {
    expected = plan.sha256 ?? (await fetchChecksum(plan.checksumUrl ? toUrl(plan.checksumUrl) : withSuffix(url, '.sha256'), fileName, client));
  } catch (error) {
    // No checksum file beside a local artifact that is not there either: the artifact is what is
    // missing. (Asked only then: a checksum from elsewhere may name a build the cache holds.)
    if (isCpyError(error, 'CPY_INSTALL_NOT_FOUND')) await refuseMissingLocal(url);
    // The same over http(s): an artifact URL typed wrong was said to lack its checksum file.
    if (isCpyError(error, 'CPY_INSTALL_NOT_FOUND') && !plan.checksumUrl) await refuseMissingArtifact(url, client);
    throw error;
  } finally {
    // Never left running: it writes (and then removes) a file in the cache.
    await side;
  }
  const needsOwnSignature = verifier !== null && plan.signature === null;
  const checkSignature = async (file: string): Promise<SignatureRecord> => {
    const check = await verifier!.verify(file, signatureUrlOf(url), fileName);
    emit({ type: 'phase', phase: 'verify', detail: `${fileName} is signed by ${check.fingerprint} (pinned)` });
    for (const message of check.warnings) emit({ type: 'warning', message });
    return { fingerprint: check.fingerprint, signedAt: check.signedAt, covers: 'artifact' };
  };
  const hit = await cachedEntry(layout.cacheDir, expected);
  if (hit) {
    const vouched = needsOwnSignature && hit.signedBy && verifier.policy.signers.includes(hit.signedBy) ? hit.signedBy : null;
    const ownSignature = needsOwnSignature && !vouched;
    const wrong = await unfit(hit, !ownSignature && onePass(hit.fileName));
    if (!wrong) {
      if (!needsOwnSignature) return { artifact: hit, signature: plan.signature };
      if (vouched) return { artifact: hit, signature: { fingerprint: vouched, signedAt: null, covers: 'cache' } };
      return { artifact: hit, signature: await checkSignature(hit.path) };
    }
    emit({ type: 'warning', message: `the cached ${hit.fileName} ${wrong.why}; it is downloaded again` });
  }
  const published = await (side ?? sideMetadata());
  if (published) await refuseUnfit(published, await context());
  // What refuses it whatever its bytes (no signature, no pinned key in the keys file) is said
  // before its download, not after it.
  if (needsOwnSignature) await verifier.prepare(signatureUrlOf(url), fileName);
  emit({ type: 'phase', phase: 'download', detail: `${fileName} from ${displayUrl(url)}` });
  let signature = plan.signature;
  const got = await downloadArtifact({
    url,
    expectedSha256: expected,
    cacheDir: layout.cacheDir,
    client,
    onProgress: (p) => emit({ type: 'download', received: p.received, total: p.total }),
    ...(hooks.signal ? { signal: hooks.signal } : {}),
    ...(plan.listedBy ? { listedBy: plan.listedBy } : {}),
    ...(needsOwnSignature ? { verify: async (file: string) => void (signature = await checkSignature(file)) } : {}),
    // One pass: a .tgz is unpacked as it arrives, unless its own signature must be checked first.
    ...(!needsOwnSignature && onePass(fileName) ? { follow: (bytes: AsyncIterable<Uint8Array>) => void follow(bytes, fileName, 'download') } : {}),
  });
  return { artifact: { ...got, fromCache: false }, signature };
}

function cancelledInstall(): CpyError {
  return new CpyError('CPY_INSTALL_CANCELLED', 'the install was stopped before its tree was put in place: nothing was installed', {
    hint: 'run the same command again (an artifact already downloaded and verified is in the cache)',
  });
}

/**
 * Refuses a local artifact (a path, a file: URL) that is not there, naming it: otherwise what is
 * read of it first would be named instead (its checksum file), or its version asked for.
 * install.sh's refuse_missing_artifact does the same (before its checksum: it keeps no cache).
 */
async function refuseMissingLocal(url: URL): Promise<void> {
  if (url.protocol !== 'file:') return;
  const path = fileURLToPath(url);
  // Only what says it is not there: a directory this user may not read says something else, later.
  const missing = await stat(path).then(
    () => false,
    (error: NodeJS.ErrnoException) => error.code === 'ENOENT' || error.code === 'ENOTDIR',
  );
  if (!missing) return;
  throw new CpyError('CPY_INSTALL_NOT_FOUND', `the artifact ${path} does not exist`, {
    hint: 'check the path given as the artifact (cpy install --from): nothing was installed',
  });
}

/** Refuses a local artifact that is a directory (`--from dist/artifacts`), before its name is read for a version or a checksum looked for beside it. */
async function refuseLocalDirectory(url: URL): Promise<void> {
  if (url.protocol !== 'file:') return;
  const path = fileURLToPath(url);
  if (!(await stat(path).catch(() => null))?.isDirectory()) return;
  throw new CpyError('CPY_INSTALL_NOT_FOUND', `the artifact ${path} is a directory, not an artifact file`, {
    hint: 'give the .tgz in it (cpython-<version>-<os><osversion>-build<N>.tgz), or a version to install from the index: nothing was installed',
  });
}

/**
 * An artifact that matched its sha256 and still cannot be unpacked (a truncated or damaged file,
 * an entry no artifact has) was published so: it leaves the cache, where an offline install would
 * take it again, and a damaged one is said as such (downloading it again gives the same bytes).
 */
async function damagedAsPublished(error: unknown, artifact: CachedArtifact, cacheDir: string): Promise<unknown> {
  if (!isCpyError(error, 'CPY_ARTIFACT_CORRUPT') && !isCpyError(error, 'CPY_ARTIFACT_UNSAFE_ENTRY')) return error;
  await dropCached(cacheDir, artifact.sha256);
  if (error.code === 'CPY_ARTIFACT_UNSAFE_ENTRY') return error;
  return new CpyError('CPY_ARTIFACT_CORRUPT', `${artifact.fileName} matches its sha256, but cannot be unpacked: ${String(error.details['reason'] ?? error.message)}`, {
    hint: 'it was packed or published damaged (its checksum was made of the damaged file), so a new download is the same: install another build, or pack and publish it again (cpy artifact validate checks one)',
    cause: error,
  });
}

/** Whether an artifact runs here, from its own metadata: platform, then the critical libraries only (the optional ones are reported after the install). */
const criticalFit = (metadata: ArtifactMetadata, ctx: HostContext) => fitOf({ ...metadata.platform, needs: runtimeNeeds(metadata) }, ctx, ['critical']);

/** Architecture, C library and glibc (with their own error codes), then whether this system can provide the libraries it needs. */
async function refuseUnfit(metadata: ArtifactMetadata, ctx: HostContext): Promise<void> {
  checkCompatibility(metadata, ctx.host);
  // Only critical libraries refuse an artifact given by name; the optional ones are reported after the install.
  const fit = await criticalFit(metadata, ctx);
  if (!fit.fits && !fit.unknown) {
    throw new CpyError('CPY_INSTALL_PACKAGES_UNAVAILABLE', `CPython ${metadata.version} build ${metadata.build} cannot run here: ${fit.why}`, {
      hint: `nothing was downloaded; use a build made for this distribution (cpy build ${metadata.version} --builder container --image <this image>)`,
    });
  }
}

async function readVerifiedMetadata(artifact: CachedArtifact): Promise<ArtifactMetadata> {
  const { readArtifactMetadata } = await artifactLibrary();
  return checkedMetadata(() => readArtifactMetadata(artifact.path), artifact.fileName);
}

/** The artifact's metadata, read by `read` and checked against the schema; CPY_INSTALL_NOT_AN_ARTIFACT otherwise. */
async function checkedMetadata(read: () => Promise<unknown>, fileName: string): Promise<ArtifactMetadata> {
  let raw: unknown;
  try {
    raw = await read();
  } catch (cause) {
    // An entry no artifact has (a metadata entry of megabytes) is said as such, as unpacking says it.
    if (isCpyError(cause, 'CPY_ARTIFACT_UNSAFE_ENTRY')) throw cause;
    // An artifact all the same (it was not one, and the file named was the cache's copy).
    if (isCpyError(cause, 'CPY_ARTIFACT_NO_ZSTD')) {
      throw new CpyError('CPY_ARTIFACT_NO_ZSTD', `${fileName} is zstd-compressed, and zstd cannot be run here: ${String(cause.details['reason'] ?? cause.message)}`, {
        hint: 'install zstd (apt-get install zstd) and run again, or install its .tgz build: nothing was installed',
        cause,
      });
    }
    throw new CpyError('CPY_INSTALL_NOT_AN_ARTIFACT', `${fileName} does not start with cpy-artifact.json: ${(cause as Error).message}`, {
      hint: 'install a .tgz made by `cpy build` or `cpy artifact pack`',
      cause,
    });
  }
  const parsed = artifactMetadataSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    // Only a format this cpy does not know says to update it; a field out of its bounds is the artifact's damage.
    const newer = issue.path[0] === 'schemaVersion' || issue.path[0] === 'name';
    throw new CpyError('CPY_INSTALL_NOT_AN_ARTIFACT', `the metadata of ${fileName} is not valid: ${issue.path.join('.')}: ${issue.message}`, {
      hint: newer ? 'this cpy may be older than the artifact: update cpy, or install an artifact made by this version' : 'its metadata is damaged or was edited: install an artifact made by cpy build or cpy artifact pack',
    });
  }
  return parsed.data;
}

async function ensureSpace(dir: string, bytes: number): Promise<void> {
  const fs = await statfs(dir).catch(() => null);
  if (!fs) return;
  const free = fs.bavail * fs.bsize;
  const need = Math.ceil((bytes * 105) / 100) + 16 * 1024 * 1024;
  if (free < need) {
    throw new CpyError('CPY_INSTALL_DISK_FULL', `${dir} has ${(free / 2 ** 20).toFixed(0)} MiB free; the install needs ${(need / 2 ** 20).toFixed(0)} MiB`, {
      hint: 'free some space (or choose another --prefix), then run again: nothing was changed',
    });
  }
}

/** Refuses an install whose critical libraries are missing, naming each and its package. */
function refuseMissingCritical(missing: readonly MissingLibrary[]): void {
  const critical = missing.filter((m) => m.group === 'critical');
  if (critical.length === 0) return;
  const unknown = critical.filter((m) => m.packages.length === 0);
  const needed = [...new Set(critical.flatMap((m) => m.packages))];
  const names = critical.map((m) => `${m.soname} (for ${m.modules.join(', ')}${m.packages.length ? `; package ${m.packages.join(' ')}` : ''})`);
  throw new CpyError('CPY_INSTALL_MISSING_LIBRARIES', `this host lacks libraries the artifact needs: ${names.join('; ')}`, {
    hint: needed.length
      ? `install them (apt-get install ${needed.join(' ')}) or let cpy do it: --install-system-deps (as root)`
      : `install the packages that provide ${unknown.map((m) => m.soname).join(', ')}`,
    details: { missing: critical.map((m) => m.soname), packages: needed },
  });
}

/**
 * Libraries the artifact needs and the host lacks. With installSystemDeps the critical ones (ssl,
 * sqlite3, readline...) and the small optional ones (curses, gdbm) are installed; tkinter's only
 * with installTk (Tk pulls X11 into every image). A critical library still missing refuses the
 * install; an optional one is a warning naming its package.
 */
async function handleSystemLibraries(
  metadata: ArtifactMetadata,
  options: ResolvedInstallOptions,
  hooks: InstallHooks,
  warnings: string[],
  loadable: () => Promise<ReadonlySet<string>>,
): Promise<void> {
  let missing = await missingLibraries(metadata, await loadable());
  // Refused before anything is installed: a critical library missing that no option here installs.
  if (!options.installSystemDeps) refuseMissingCritical(missing);
  const wanted = missing.filter((m) => (m.group === 'tk' ? options.installTk : options.installSystemDeps));
  const packages = [...new Set(wanted.flatMap((m) => m.packages))];
  if (packages.length > 0) {
    hooks.onEvent?.({ type: 'phase', phase: 'system-packages', detail: packages.join(' ') });
    try {
      await installPackages(packages);
    } catch (error) {
      // The optional ones (curses, gdbm, Tk) must not cost the install: the critical ones alone, and a warning.
      const critical = [...new Set(wanted.filter((m) => m.group === 'critical').flatMap((m) => m.packages))];
      if ((error as CpyError).code !== 'CPY_INSTALL_PACKAGES_FAILED' || critical.length === packages.length) throw error;
      warnings.push(`${(error as Error).message}; installing only the critical ones (${critical.join(' ') || 'none'})`);
      if (critical.length > 0) await installPackages(critical);
    }
    missing = await missingLibraries(metadata);
  }
  const critical = missing.filter((m) => m.group === 'critical');
  if (critical.length > 0 && options.installSystemDeps && packages.length > 0) {
    throw new CpyError('CPY_INSTALL_MISSING_LIBRARIES', `still missing after installing ${packages.join(' ')}: ${critical.map((m) => m.soname).join(', ')}`, {
      hint: `this host's packages differ from the builder's (${metadata.platform.os} ${metadata.platform.osVersion}); use an artifact built for this distribution`,
    });
  }
  refuseMissingCritical(missing);
  for (const m of missing) {
    const how = m.group === 'tk' ? ' (--install-tk, or the Feature option installTk, installs it)' : '';
    warnings.push(`${m.soname} is missing (package ${m.packages.join(' ') || 'unknown'}): ${m.modules.join(', ')} will not import${how}`);
  }
}

/**
 * Installs a cpy artifact: verified (sha256 before anything is extracted),
 * compatible (arch, libc, glibc floor, system libraries), atomic (extracted
 * and validated beside the prefix, then renamed into place), idempotent (a
 * matching marker returns at once, without network), and safe against hostile
 * archives. Concurrent installs of one prefix wait for each other.
 */
export async function installPython(input: InstallOptions, hooks: InstallHooks = {}): Promise<InstallResult> {
  const removed: string[] = [];
  try {
    for (;;) {
      try {
        const r = await install(input, hooks);
        return removed.length > 0 ? { ...r, warnings: [...removed, ...r.warnings] } : r;
      } catch (error) {
        // From the cache alone, by version: its newest build turned out damaged and was removed.
        // The next newest is tried (each try removes a file, so this ends); the last error (the
        // cache holds no more of that version) is reported with what was removed on the way.
        const gone = isCpyError(error, 'CPY_INSTALL_NO_SOURCE') ? error.details['removed'] : undefined;
        if (typeof gone !== 'string' || hooks.signal?.aborted) {
          throw removed.length > 0 && isCpyError(error) ? new CpyError(error.code, `${error.message} (before that: ${removed.join('; ')})`, { hint: error.hint, details: error.details, cause: error }) : error;
        }
        const warning = `the cached ${gone} ${String((error as CpyError).details['why'])}; another cached build of ${input.version ?? 'it'} is tried`;
        hooks.onEvent?.({ type: 'warning', message: warning });
        removed.push(warning);
      }
    }
  } catch (error) {
    // A full disk or a directory that cannot be written, wherever it was met, named as such (the
    // install record's python3 says so in its own words).
    throw fileSystemFault(error, undefined, cacheRootOf(resolveLayout({ cacheDir: input.cacheDir }, hooks.env ?? process.env).cacheDir)) ?? (isCpyError(error, 'CPY_INSTALL_RECORD_FAILED') ? pythonFileSystemFault(error.message, undefined, error) : null) ?? error;
  }
}

/**
 * The options with CPY_LOCK_TIMEOUT_MS (as install.sh reads it; empty is unset) as lockTimeoutMs
 * where they do not give one: both installers wait as long for the same prefix's lock.
 */
function lockTimeoutFrom(env: Environment, input: InstallOptions): InstallOptions {
  const given = env['CPY_LOCK_TIMEOUT_MS'];
  if (input.lockTimeoutMs !== undefined || !given) return input;
  if (!/^[1-9][0-9]{0,8}$/.test(given)) {
    throw new CpyError('CPY_INSTALL_BAD_OPTIONS', `CPY_LOCK_TIMEOUT_MS: must be a number of milliseconds (got '${given}')`, {
      hint: 'set it to a whole number of milliseconds, or unset it (600000, ten minutes)',
    });
  }
  return { ...input, lockTimeoutMs: Number(given) };
}

async function install(input: InstallOptions, hooks: InstallHooks): Promise<InstallResult> {
  // process.hrtime, not performance.now(): the global `performance` loads node:perf_hooks (eight
  // modules, about 2 ms of an already-installed install's start; issue 20).
  const started = process.hrtime.bigint();
  const env = hooks.env ?? process.env;
  const options = parseInstallOptions(lockTimeoutFrom(env, input));
  // The links go where the last install or use made them, unless told (--bin-dir, --no-link).
  const layout = await linkedLayout(resolveLayout({ stateDir: options.stateDir, binDir: options.binDir, cacheDir: options.cacheDir }, env), options.binDir !== undefined);
  // Detected only when needed: an install that is already there returns without it.
  let host: HostPlatform | null = hooks.host ?? null;
  const hostOf = () => (host ??= detectHost());
  let context: Promise<HostContext> | null = null;
  // `ldconfig -p` once per install (host context, admission, system libraries), again only after packages were installed.
  let loadable: Promise<Set<string>> | null = null;
  const loadableHere = () => (loadable ??= loadableLibraries());
  const hostContext = () => (context ??= (hooks.hostContext ?? (() => defaultHostContext(hostOf(), options.installTk, env, loadableHere)))());
  // Checked before anything else: a bad pin is an error even when the version is installed.
  const policy = signaturePolicy(options, env, options.indexUrl ?? env['CPY_INDEX_URL']);
  const warnings: string[] = [];
  const earlier = (m: InstallMarker): SignatureRecord | null => (policy && m.signedBy ? { fingerprint: m.signedBy, signedAt: null, covers: 'cache' } : null);
  const result = (
    status: InstallResult['status'],
    version: string,
    prefix: string,
    m: InstallMarker,
    fromCacheHit: boolean,
    activated: boolean,
    resolution: Resolution | null,
    signature: SignatureRecord | null = earlier(m),
  ): InstallResult => ({
    status,
    version,
    build: m.build,
    prefix,
    python: join(prefix, 'bin', 'python3'),
    sha256: m.sha256,
    artifact: m.artifact,
    source: m.source,
    fromCache: fromCacheHit,
    activated,
    binDir: layout.binDir,
    warnings,
    resolution,
    signature,
    durationMs: Math.round(Number(process.hrtime.bigint() - started) / 1e6),
  });

  /** Whether the install is now current; a tree its record left unlisted (the version recorded at another prefix before) is warned of. */
  const recorded = (r: Recorded, recordedVersion: string, at: string): boolean => {
    if (r.left) warnings.push(leftBehind(recordedVersion, r.left, at, r.stillLinked));
    if (r.movedFrom) warnings.push(linksMoved(r.movedFrom, layout.binDir));
    if (r.held) warnings.push(heldBack(recordedVersion, r.held));
    if (r.replaced?.length) warnings.push(replacedAt(r.replaced, recordedVersion, at));
    return r.current;
  };

  /** Whether the install at `prefix` can start (treeDamage); a damaged one is warned of once, and installed again. */
  const damageSaid = new Set<string>();
  const intact = async (of: string, prefix: string): Promise<boolean> => {
    const missing = await treeDamage(prefix, of);
    if (!missing) return true;
    if (!damageSaid.has(prefix)) {
      damageSaid.add(prefix);
      const warning = damagedInstall(of, prefix, missing);
      warnings.push(warning);
      hooks.onEvent?.({ type: 'warning', message: warning });
    }
    return false;
  };

  // A full version already installed: no index, no lock, no network.
  const lockOn = (on: string) => ({ timeoutMs: options.lockTimeoutMs, onWait: (holder: string) => hooks.onEvent?.({ type: 'waiting', holder, on }) });
  const stateLockOptions = lockOn(layout.stateDir);
  // Waiting for the prefix's lock (another install of it, up to CPY_LOCK_TIMEOUT_MS) ends at a stop:
  // nothing has changed yet. (The state's lock is waited for once a tree may be in place: its record
  // is finished first.)
  const prefixLock = async <T>(prefix: string, work: () => Promise<T>): Promise<T> => {
    let entered = false;
    const options = { ...lockOn(prefix), ...(hooks.signal ? { signal: hooks.signal } : {}) };
    return withLock(prefixLockPath(layout, prefix), options, () => {
      entered = true;
      return work();
    }).catch((error: unknown) => {
      throw !entered && hooks.signal?.aborted && isCpyError(error, 'CPY_INSTALL_CANCELLED') ? cancelledInstall() : error;
    });
  };
  const exact = !options.artifactUrl && options.version ? parseVersionRequest(options.version) : null;
  if (exact?.exact) {
    const prefix = options.installPrefix ? resolve(options.installPrefix) : await prefixOf(layout, exact.text);
    let present = await readMarker(prefix);
    if (!present && (await exists(journalPath(prefix)))) {
      // A replacement killed between its renames (by either installer) is finished first, under
      // the prefix's lock, as install.sh does: the version is then there, and needs no source.
      present = await prefixLock(prefix, async () => {
        await recoverPrefix(prefix);
        return readMarker(prefix);
      });
    }
    if (present && sameArtifact(present, { version: exact.text, sha256: options.sha256 }, policy) && (await intact(exact.text, prefix))) {
      const activated = recorded(await recordInstall(layout, exact.text, prefix, options.activate, stateLockOptions), exact.text, prefix);
      return result('already-installed', exact.text, prefix, present, false, activated, null);
    }
  }

  const plan = await planSource(options, layout, env, hooks, hostContext, policy);
  warnings.push(...plan.warnings);
  const version = plan.version;
  // Normalised (no trailing /): the lock is named by the prefix's hash, the same for both installers.
  const prefix = options.installPrefix ? resolve(options.installPrefix) : await prefixOf(layout, version);
  refuseUnsafePrefix(prefix, env);
  // A checksum given on its own (--checksum-url) is read even when the version is there: an
  // install is of the bytes it names, and a name alone does not say the installed ones are those.
  let named: Promise<string> | null = null;
  const checksumAgrees = async (marker: InstallMarker): Promise<boolean> => {
    if (!plan.checksumUrl || plan.sha256 || !plan.artifactUrl) return true;
    const { artifactUrl, checksumUrl } = plan;
    named ??= installerClient(env, options.caFile).then(async (client) => {
      try {
        return await fetchChecksum(toUrl(checksumUrl), basename(decodeURIComponent(toUrl(artifactUrl).pathname)), client);
      } finally {
        await client.close();
      }
    });
    return (await named) === marker.sha256;
  };
  /** The install there answers the plan: its marker's artifact, the checksum given on its own, a tree that can start. */
  const answers = async (marker: InstallMarker): Promise<boolean> => sameArtifact(marker, plan, policy) && (await checksumAgrees(marker)) && (await intact(version, prefix));
  const alreadyInstalled = async (marker: InstallMarker) => {
    const activated = recorded(await recordInstall(layout, version, prefix, options.activate, stateLockOptions), version, prefix);
    return result('already-installed', version, prefix, marker, false, activated, plan.resolution);
  };
  const present = await readMarker(prefix);
  if (present && (await answers(present))) return alreadyInstalled(present);

  await makePrefixParent(prefix);
  return prefixLock(prefix, async () => {
    await recoverPrefix(prefix);
    const done = await readMarker(prefix);
    if (done && (await answers(done))) return alreadyInstalled(done);
    // One the state records for this version is said as such: its marker was deleted, or its files replaced.
    await refuseForeignPrefix(prefix, (await readState(layout.stateDir).catch(() => null))?.installs[version]?.prefix === prefix ? version : null);
    await refuseLinkPrefix(prefix);
    await refuseMountPoint(prefix);
    // What the dynamic loader finds (ldconfig -p, about 10 ms) and the unpacking code (lazy.ts)
    // are needed as soon as the artifact's metadata arrives: asked for now, they load while the
    // checksum and the download start.
    void loadableHere();
    artifactLibrary().catch(() => undefined); // a failure surfaces where it is awaited

    const stage = join(dirname(prefix), `${staging(prefix)}${randomId().slice(0, 8)}`);
    // Checked from the metadata before the tree is unpacked, on both paths below.
    const fits = (metadata: ArtifactMetadata, fileName: string) => {
      if (metadata.version !== version) throw versionMismatch(plan, options.version, fileName, metadata.version);
      if (plan.build !== undefined && metadata.build !== plan.build) throw buildMismatch(plan, fileName, metadata.build);
      checkCompatibility(metadata, hostOf());
    };
    const prepare = async (metadata: ArtifactMetadata) => {
      if (options.activate) await checkPython3Link(layout);
      await ensureSpace(dirname(prefix), metadata.contents.bytes);
      return { root: metadata.prefix.replace(/^\//, ''), maxBytes: (await artifactLibrary()).extractLimit(metadata) };
    };
    const showExtract = (p: { bytes: number }, metadata: ArtifactMetadata) => hooks.onEvent?.({ type: 'extract', bytes: p.bytes, total: metadata.contents.bytes });

    // One pass (a .tgz downloaded, or read from the cache): unpacked into the staging tree as it
    // is written (or read), hashed on the way. The expected sha256 is known before the first byte;
    // nothing leaves the staging tree, and nothing is installed from the system's packages, before
    // the bytes matched it.
    // `done`: whether the pass unpacked the whole tree (null: no pass was made).
    // `fault`: the pass stopped on a full disk or a directory it cannot write, which unpacking the
    // verified file again would meet again: that is the error, and there is no second try.
    const pass: { done: Promise<boolean> | null; metadata: ArtifactMetadata | null; fault: CpyError | null } = { done: null, metadata: null, fault: null };
    // A pass of bytes found damaged (a cache entry's) is forgotten, its staging tree removed: the
    // next pass (its download's) starts from an empty one, and without one the verified file is
    // unpacked again.
    const forget = () => {
      const previous = pass.done;
      return (previous ?? Promise.resolve(false)).then(async () => {
        pass.metadata = null;
        pass.fault = null;
        if (previous) await rm(stage, { recursive: true, force: true });
      });
    };
    const passes = {
      discard: () => void (pass.done = forget().then(() => false)),
      follow: (bytes: AsyncIterable<Uint8Array>, fileName: string, source: 'download' | 'cache'): Promise<boolean> => {
        pass.done = forget()
          .then(() => artifactLibrary())
          .then(({ extractArtifactStream, parseMetadataEntry }) =>
            extractArtifactStream(bytes, fileName, {
              dest: stage,
              admit: async (text) => {
                const metadata = await checkedMetadata(async () => parseMetadataEntry(text, fileName), fileName);
                fits(metadata, fileName);
                // Refusing needs no verified bytes; installing packages waits for them (handleSystemLibraries).
                if (!options.installSystemDeps) refuseMissingCritical(await missingLibraries(metadata, await loadableHere()));
                const limits = await prepare(metadata);
                hooks.onEvent?.({ type: 'phase', phase: 'extract', detail: `into ${dirname(prefix)}, ${source === 'download' ? 'as it arrives' : 'as the cached file is read and hashed'}` });
                pass.metadata = metadata;
                return limits;
              },
              onProgress: (p) => showExtract(p, pass.metadata!),
            }),
          )
          .then(
            () => true,
            (error: unknown) => {
              pass.fault = fileSystemFault(error, stage);
              return false;
            },
          );
        return pass.done;
      },
    };

    const client = await installerClient(env, options.caFile);
    const verifier = policy ? new SignatureVerifier(policy, { env, caFile: options.caFile, scratch: layout.cacheDir }) : null;
    let artifact: CachedArtifact;
    let signature: SignatureRecord | null;
    try {
      ({ artifact, signature } = await obtainArtifact(plan, layout, hostContext, client, hooks, verifier, passes));
    } catch (error) {
      // The download's own failure (a checksum mismatch, a broken transfer) is what is reported.
      await pass.done;
      await rm(stage, { recursive: true, force: true });
      throw hooks.signal?.aborted ? cancelledInstall() : error;
    } finally {
      await client.close();
    }
    const stopIfAsked = () => {
      if (hooks.signal?.aborted) throw cancelledInstall();
    };
    let placed: 'installed' | 'replaced';
    let marker: InstallMarker;
    let session: StateSession | null = null;
    try {
      // A pass that failed (a retried download; a refusal) is done again from the verified file,
      // which then says why, exactly as an install from the cache does.
      const passed = (await pass.done) ? pass.metadata : null;
      if (!passed) await rm(stage, { recursive: true, force: true });
      // The verified artifact is recorded in the cache before a stop (Ctrl-C) ends the install: the
      // next run, offline too, installs from it, as the cancellation's hint says. (It was left there
      // unrecorded, and `cpy install <version>` said the cache held none.)
      const stopped = hooks.signal?.aborted === true;
      if (pass.fault && !stopped) {
        // The artifact is verified: recorded in the cache all the same, so that once the disk has
        // room the next run (offline too, by version) installs from it. (It stayed there unrecorded.)
        // (Its metadata was admitted, fits checked, as the pass began.)
        if (pass.metadata) await indexCached(layout.cacheDir, artifact, pass.metadata, signature?.fingerprint).catch(() => undefined);
        throw pass.fault;
      }
      const metadata = passed ?? (await readVerifiedMetadata(artifact));
      if (!passed) fits(metadata, artifact.fileName);
      await indexCached(layout.cacheDir, artifact, metadata, signature?.fingerprint);
      stopIfAsked();
      hooks.onEvent?.({ type: 'phase', phase: 'verify', detail: `sha256 ${artifact.sha256}` });
      const record = {
        version,
        build: metadata.build,
        sha256: artifact.sha256,
        artifact: artifact.fileName,
        source: artifact.source,
        builtFor: metadata.prefix,
        ...(signature ? { signedBy: signature.fingerprint } : {}),
      };
      if (done && done.sha256 === artifact.sha256 && (await intact(version, prefix))) {
        // The same bytes, now verified: the marker says so, and the next run needs no network.
        if (signature && done.signedBy !== signature.fingerprint) await signMarker(prefix, signature.fingerprint);
        const activated = recorded(await recordInstall(layout, version, prefix, options.activate, stateLockOptions), version, prefix);
        return result('already-installed', version, prefix, done, artifact.fromCache, activated, plan.resolution, signature);
      }
      const limits = passed ? null : await prepare(metadata);
      const { checkPythonTree, extractArtifact, hostRunner, relocateTree } = await artifactLibrary();
      // Ctrl-C stops the relocation's and the checks' python3, and what they started, at once.
      const runner = hostRunner(hooks.signal);
      stopIfAsked();
      await handleSystemLibraries(metadata, options, hooks, warnings, loadableHere);
      const tree = join(stage, metadata.prefix.replace(/^\//, ''));
      if (limits) {
        hooks.onEvent?.({ type: 'phase', phase: 'extract', detail: `into ${dirname(prefix)}` });
        await extractArtifact(artifact.path, { dest: stage, ...limits, onProgress: (p) => showExtract(p, metadata) }).catch(async (error: unknown) => {
          // Stopped (Ctrl-C also kills a zstd child, which then reads as a damaged file): the cached file stays.
          throw fileSystemFault(error, stage) ?? (hooks.signal?.aborted ? error : await damagedAsPublished(error, artifact, layout.cacheDir));
        });
      }
      stopIfAsked();
      // Its python3 starts now, beside the relocation and the checks; it writes the marker and the record.
      session = openStateSession(tree, join(prefix, 'bin', 'python3'));
      if (prefix !== metadata.prefix) {
        hooks.onEvent?.({ type: 'phase', phase: 'relocate', detail: `${metadata.prefix} -> ${prefix}` });
        const moved = await relocateTree(tree, metadata.prefix, prefix, runner).catch((cause: unknown) => {
          throw pythonFileSystemFault((cause as Error).message, stage, cause) ?? new CpyError('CPY_INSTALL_RELOCATION_FAILED', `cannot relocate ${artifact.fileName} from ${metadata.prefix} to ${prefix}: ${(cause as Error).message}`, {
            hint: `nothing was changed; install it at ${metadata.prefix} (the prefix it was built for), or use an artifact packed by this version of cpy`,
            cause,
          });
        });
        for (const name of moved.tooLong) warnings.push(`bin/${name}: its #! line is longer than Linux allows; run it as python3 -m instead`);
      }
      if (!options.skipValidation) {
        hooks.onEvent?.({ type: 'phase', phase: 'validate', detail: 'python3, critical modules, sysconfig, venv through a link, a C extension' });
        const failed = (await checkPythonTree(tree, version, { installedAt: prefix, workDir: join(stage, '.checks'), runner })).filter((c) => !c.ok);
        if (failed.length > 0) {
          const said = failed.map((c) => `${c.id}: ${c.detail}`).join('; ');
          // An artifact without its postinstall.py (packed by an older cpy) cannot be checked: said as
          // such, not as one that does not run here.
          const unpackable = failed.some((c) => c.id === 'postinstall');
          throw pythonFileSystemFault(said, stage, null) ?? new CpyError('CPY_INSTALL_VALIDATION_FAILED', `the unpacked python3 does not work: ${said}`, {
            hint: unpackable
              ? 'nothing was changed; use an artifact packed by this version of cpy (cpy artifact pack), or pass --skip-validation'
              : 'nothing was changed; the artifact does not run on this host: check its runtime needs (cpy artifact validate) or use an artifact built for this distribution',
          });
        }
      }
      stopIfAsked();
      // Every program the tree has, now that it is there (before, only python3 could be known):
      // someone else's pip3 refuses the install here, not after the tree is in place.
      marker = await writeMarker(layout, tree, record, options.activate ? prefix : null, session);
      // What was pip-installed into the prefix itself goes with the tree it replaces: said, by name.
      const lost = await packagesLost(prefix, tree);
      placed = await putInPlace(tree, prefix);
      if (lost.length > 0) warnings.push(`the packages installed into ${prefix} itself went with the build it replaced: ${lost.join(', ')}; install them again (venvs keep their own)`);
    } catch (error) {
      // Gone before its tree is: it reads from it while it starts.
      await session?.close();
      // Stopped: whatever the stop made fail (a python3 killed by the same Ctrl-C) is not the cause.
      throw hooks.signal?.aborted ? cancelledInstall() : error;
    } finally {
      await rm(stage, { recursive: true, force: true });
    }
    hooks.onEvent?.({ type: 'phase', phase: 'activate', detail: options.activate ? prefix : `${prefix} recorded; the current version stays` });
    try {
      const activated = recorded(await recordInstall(layout, version, prefix, options.activate, stateLockOptions, session), version, prefix);
      return result(placed, version, prefix, marker, artifact.fromCache, activated, plan.resolution, signature);
    } finally {
      await session.close();
    }
  });
}


import { existsSync } from 'node:fs';
import { lstat, readlink, realpath } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import * as z from 'zod/mini';
import { compareVersions, CpyError, isCpyError, parseVersion, sha256Hex } from '@cpy/core';
import { resolveLayout, type Environment, type InstallLayout, type LayoutOverrides } from './layout.js';
import { type LockOptions, withLock } from './lock.js';
import { layoutArgs, runStateScript, type StateSession } from './record.js';
import { matchesRequest, parseVersionRequest } from './request.js';
import { pythonFileSystemFault, recordFileSystemFault, type FaultHints } from './faults.js';
import { currentPrefix, MARKER_FILE, markerSchema, readMarker, readState, type InstallMarker, type InstallState } from './state.js';
import { treeDamage } from './intact.js';

const switchSchema = z.object({ version: z.string(), prefix: z.string(), from: z.nullable(z.string()), relinked: z.boolean(), movedFrom: z.optional(z.string()) });
const removedSchema = z.union([z.object({ version: z.string(), prefix: z.string(), wasCurrent: z.boolean(), unlinked: z._default(z.array(z.string()), []), kept: z._default(z.boolean(), false) }), z.object({ moved: z.string() })]);

export interface VersionOptions extends LayoutOverrides {
  readonly env?: Environment;
  readonly lockTimeoutMs?: number;
  /** Stops a wait for another install's lock (Ctrl-C): CPY_INSTALL_CANCELLED, nothing changed. Once the lock is taken, the change runs to its end. */
  readonly signal?: AbortSignal;
}

function layoutFor(options: VersionOptions): InstallLayout {
  return resolveLayout({ stateDir: options.stateDir, binDir: options.binDir, cacheDir: options.cacheDir }, options.env ?? process.env);
}

/**
 * The layout with the bin dir the links go in: the one the caller gave (`binDirGiven`: a
 * --bin-dir, or none with --no-link), else the one the state records (where the last install or
 * use made them, which cpy_state.py writes), else the default. A state that cannot be read leaves
 * the default: whoever reads it next says why.
 */
export async function linkedLayout(layout: InstallLayout, binDirGiven: boolean): Promise<InstallLayout> {
  if (binDirGiven || layout.binDir === null) return layout;
  const recorded = (await readState(layout.stateDir).catch(() => null))?.binDir;
  return recorded && recorded !== layout.binDir ? { ...layout, binDir: recorded } : layout;
}

/** layoutFor, with the bin dir the links are in (linkedLayout): for the commands that link or unlink. */
const linkingLayoutFor = (options: VersionOptions): Promise<InstallLayout> => linkedLayout(layoutFor(options), options.binDir !== undefined);

export function stateLock<T>(layout: InstallLayout, lock: LockOptions, work: () => Promise<T>, hints: FaultHints = 'install'): Promise<T> {
  return withLock(join(layout.stateDir, 'locks', 'state.lock'), lock, work, hints);
}

/**
 * The lock an install holds on its prefix, from the staging tree to the state (install.sh's
 * lock_prefix names it the same way). Whoever also takes the state lock takes this one first.
 */
export function prefixLockPath(layout: InstallLayout, prefix: string): string {
  return join(layout.stateDir, 'locks', `${sha256Hex(prefix).slice(0, 16)}.lock`);
}

/**
 * An entry in the bin dir that is someone else's (a system python3, a user's script): not a link
 * cpy made into a prefix with an install marker or one the state records (`state`: an install
 * whose marker is gone is still the one its links were made for), and not a dangling link. The
 * look once the artifact's metadata is read, before anything is put in place, when only python3
 * is known and no cpy python3 may exist yet; the authoritative check, of every program the tree
 * has, is cpy_state.py's (mark, record, use: its bin_entry).
 */
async function foreignEntry(path: string, stateOf: () => Promise<InstallState | null>): Promise<{ target: string | null } | null> {
  const st = await lstat(path).catch(() => null);
  if (!st) return null;
  if (!st.isSymbolicLink()) return { target: null };
  const target = resolve(dirname(path), await readlink(path));
  const into = dirname(dirname(target));
  if (existsSync(join(into, MARKER_FILE)) || !existsSync(target)) return null;
  // Read only now: this is on a first install's path, and most links have their marker.
  if (Object.values((await stateOf())?.installs ?? {}).some((i) => i.prefix === into)) return null;
  return { target };
}

/** The hint of CPY_INSTALL_BIN_CONFLICT, in the options this caller has. */
function binConflictHint(paths: readonly string[], linksOptional: boolean): string {
  // pip install --user writes its scripts to ~/.local/bin, cpy's bin dir for a user.
  const pip = paths.some((p) => /\/(pip|pip3(\.\d+)?)$/.test(p)) ? ' (pip install --user writes pip there: python3 -m pip runs the same)' : '';
  return `${linksOptional ? 'install without links (--no-link, or binDir: null), ' : ''}choose another --bin-dir, or remove ${paths.join(' ')}${pip}`;
}

/** cpy_state.py's refusal of someone else's bin entry, with this caller's hint. */
function withOwnHint<T>(work: Promise<T>, linksOptional: boolean): Promise<T> {
  return work.catch((error: unknown) => {
    if (isCpyError(error, 'CPY_INSTALL_BIN_CONFLICT') && typeof error.details['path'] === 'string') {
      const paths = Array.isArray(error.details['paths']) ? error.details['paths'].filter((p): p is string => typeof p === 'string') : [error.details['path']];
      throw new CpyError('CPY_INSTALL_BIN_CONFLICT', error.message, { hint: binConflictHint(paths, linksOptional), details: error.details });
    }
    throw error;
  });
}

/** Refuses, before anything is downloaded, a python3 in the bin dir that is not cpy's. */
export async function checkPython3Link(layout: InstallLayout): Promise<void> {
  if (!layout.binDir) return;
  const path = join(layout.binDir, 'python3');
  const found = await foreignEntry(path, () => readState(layout.stateDir).catch(() => null));
  if (found) {
    throw new CpyError('CPY_INSTALL_BIN_CONFLICT', `${path} exists and is not a cpy link${found.target ? ` (it points to ${found.target})` : ''}`, {
      hint: binConflictHint([path], true),
      details: { path },
    });
  }
}

/**
 * The install marker written into a staged tree before it is renamed into place (cpy_state.py
 * mark, run by the tree's python3). With `linksInto`, the prefix an install that makes links
 * links into, every program the tree has is first checked against the bin dir (someone else's
 * pip3 refuses the install), and a bin dir that cannot take links is refused: both before the
 * tree is in place (at the record, it would be placed and not recorded).
 */
export function writeMarker(
  layout: InstallLayout,
  tree: string,
  marker: Omit<InstallMarker, 'schemaVersion' | 'installedAt'>,
  linksInto: string | null,
  session?: StateSession,
): Promise<InstallMarker> {
  const args = {
    tree,
    version: marker.version,
    build: String(marker.build),
    sha256: marker.sha256,
    artifact: marker.artifact,
    source: marker.source,
    'built-for': marker.builtFor,
    'signed-by': marker.signedBy,
    ...(linksInto && layout.binDir ? { 'bin-dir': layout.binDir, prefix: linksInto, 'state-dir': layout.stateDir } : {}),
  };
  const written = withOwnHint(session ? session.run('mark', args, markerSchema) : runStateScript('mark', args, markerSchema, [tree]), true);
  // The first thing the unpacked python3 runs when nothing else did (skipValidation, at the prefix
  // it was built for): one that does not start is the artifact's failure here, as validation says.
  return written.catch((error: unknown) => {
    if (!isCpyError(error, 'CPY_INSTALL_RECORD_FAILED')) throw error;
    // A disk that filled up meanwhile is said as such (the python3 did start: it wrote nothing).
    throw pythonFileSystemFault(String(error.details['said']), tree, error) ?? new CpyError('CPY_INSTALL_VALIDATION_FAILED', `the unpacked python3 does not work: python3 does not run: ${String(error.details['said'])}`, {
      hint: 'nothing was changed; the artifact does not run on this host: check its runtime needs (cpy artifact validate) or use an artifact built for this distribution',
      cause: error,
    });
  });
}

/** The same bytes, verified again with a signature: the marker says who signed them. */
export function signMarker(prefix: string, signedBy: string): Promise<InstallMarker> {
  return runStateScript('sign-marker', { prefix, 'signed-by': signedBy }, markerSchema, [prefix]);
}

/**
 * The links cpy_state.py makes in the bin dir, and what each runs in the current install (its
 * LINKS; a test keeps the two the same). Only read here: whether an install already there needs
 * its record written at all.
 */
export const LINKS: readonly (readonly [string, string])[] = [
  ['python3', 'python3'],
  ['python', 'python3'],
  ['pip3', 'pip3'],
  ['pip', 'pip3'],
  ['pydoc3', 'pydoc3'],
  ['python3-config', 'python3-config'],
];

/**
 * The links cpy_state.py names for a release line (`%s`: 3.13), as `make install` names the
 * programs: python3.13, pip3.13, python3.13-config. One set per installed line, into the current
 * install for the current line and the line's newest install for the others (its VERSIONED_LINKS).
 */
export const VERSIONED_LINKS: readonly string[] = ['python%s', 'pip%s', 'python%s-config'];

/**
 * Whether every bin link is as the script leaves it for `prefix`: a link to each program it has,
 * nothing for a program it lacks. Conservative: anything else (someone else's entry too) sends
 * the install to the script, which decides what, if anything, changes.
 */
async function linksAsRecorded(layout: InstallLayout, prefix: string, state: InstallState): Promise<boolean> {
  if (!layout.binDir) return true;
  // Links made elsewhere, or never recorded: the script records (and moves) them.
  if (state.binDir !== layout.binDir) return false;
  for (const [name, runs] of LINKS) {
    const program = join(prefix, 'bin', runs);
    const there = await readlink(join(layout.binDir, name)).catch(() => null);
    if (existsSync(program) ? there !== program : there !== null) return false;
  }
  // Each installed line's: someone else's entry of that name is left as it is, so it counts as in place.
  for (const [name, program] of versionedTargets(state, prefix)) {
    const path = join(layout.binDir, name);
    if ((await readlink(path).catch(() => null)) !== program && !(await foreignEntry(path, async () => state))) return false;
  }
  return true;
}

/**
 * The links named for each installed release line, and the program each runs: the current
 * install's for its line, else the line's newest install whose python3.X is there; only programs
 * that are there (cpy_state.py's versioned_changes, which makes them).
 */
function versionedTargets(state: InstallState, current: string): [string, string][] {
  const chosen = new Map<string, { version: string; prefix: string }>();
  for (const [version, { prefix }] of Object.entries(state.installs)) {
    const line = parseVersion(version)?.line;
    if (!line || !existsSync(join(prefix, 'bin', `python${line}`))) continue;
    const had = chosen.get(line);
    if (!had || (had.prefix !== current && (prefix === current || compareVersions(version, had.version) > 0))) chosen.set(line, { version, prefix });
  }
  return [...chosen].flatMap(([line, { prefix }]) =>
    VERSIONED_LINKS.map((t) => t.replace('%s', line)).flatMap((name): [string, string][] => (existsSync(join(prefix, 'bin', name)) ? [[name, join(prefix, 'bin', name)]] : [])),
  );
}

const recordSchema = z.object({
  current: z.boolean(),
  left: z.optional(z.string()),
  movedFrom: z.optional(z.string()),
  stillLinked: z.optional(z.string()),
  held: z.optional(z.object({ version: z.string(), binDir: z.string() })),
  replaced: z.optional(z.array(z.string())),
});

/** What recording an install did: whether it is now current; `left`, the prefix the version was recorded at before, whose tree is still there. */
export interface Recorded {
  readonly current: boolean;
  readonly left: string | null;
  /** The bin dir the links were in before (the state's), from which this install moved them: a --bin-dir other than the last one. */
  readonly movedFrom?: string;
  /** With no bin dir (--no-link): the bin dir whose python3 still runs the `left` tree. */
  readonly stillLinked?: string;
  /** With no bin dir (--no-link): not made current, since the links in `binDir` run `version`, which stays current. */
  readonly held?: { readonly version: string; readonly binDir: string };
  /** Other versions recorded at this very prefix, whose tree this install replaced: no longer installed. */
  readonly replaced?: readonly string[];
}

/** The warning for versions recorded at the prefix an install of another version replaced (install.sh says the same). */
export const replacedAt = (replaced: readonly string[], version: string, prefix: string): string =>
  `CPython ${replaced.join(', ')} was installed at ${prefix}, which now holds CPython ${version}: ${replaced.length > 1 ? 'they are' : 'it is'} no longer installed (cpy rollback does not go back to ${replaced.length > 1 ? 'them' : 'it'}); each version gets a prefix of its own unless one is given`;

/** What a --bin-dir other than the last one's says: the links moved (cpy_state.py record_bin_dir). */
export const linksMoved = (from: string, to: string | null): string =>
  `the python3 links are now in ${to}: cpy's links in ${from} (where the last install or use made them) were removed; cpy use and cpy uninstall look in ${to} from now on`;

/** The warning for a tree that recording the version at another prefix left unlisted. */
export const leftBehind = (version: string, left: string, prefix: string, stillLinked?: string): string =>
  `CPython ${version} was recorded at ${left}, and is now at ${prefix}: the tree at ${left} stays, no longer listed, used or uninstalled by cpy; ${
    stillLinked
      ? `python3 in ${stillLinked} still runs it (--no-link changes no links): cpy use ${version} links ${prefix}, after which ${left} can be removed`
      : 'remove it yourself if it is not needed'
  }`;

/** The warning for an install that --no-link kept from being current: the links run another version. */
export const heldBack = (version: string, held: { readonly version: string; readonly binDir: string }): string =>
  `CPython ${version} is installed but not current: python3 in ${held.binDir} runs CPython ${held.version}, and --no-link changes no links; cpy use ${version} makes it current`;

/**
 * The version python3 runs through the links the state records, when they run the current one
 * (`current`, a prefix the state records): what a --no-link install leaves current (cpy_state.py
 * record's linked_into); else null.
 */
async function heldBy(state: InstallState, current: string | null): Promise<{ version: string; binDir: string } | null> {
  if (!current || !state.binDir) return null;
  const version = Object.entries(state.installs).find(([, entry]) => entry.prefix === current)?.[0];
  const runs = await readlink(join(state.binDir, 'python3')).catch(() => null);
  return version && runs?.startsWith(`${current}/bin/`) ? { version, binDir: state.binDir } : null;
}

/**
 * Records an install in the state, and (when asked) makes it the current version, remembering
 * the one before for rollback (cpy_state.py record, under the state lock). Says whether it is
 * now current, and the other prefix the version was recorded at, if its tree is still there.
 * Cheap when nothing changes (no lock, no python3): the state records the prefix for
 * the version, it is current, and its links are as the script leaves them (a run killed between
 * the `current` link and the links is seen here, and finished).
 */
export async function recordInstall(layout: InstallLayout, version: string, prefix: string, makeCurrent: boolean, lock: LockOptions, session?: StateSession): Promise<Recorded> {
  const state = await readState(layout.stateDir);
  const current = await currentPrefix(layout.stateDir);
  if (state.installs[version]?.prefix === prefix && (!makeCurrent || (current === prefix && (await linksAsRecorded(layout, prefix, state))))) return { current: current === prefix, left: null };
  // Recorded, and held by --no-link before (cpy_state.py record's `held`): so again, without the lock.
  const held = makeCurrent && !layout.binDir && current !== prefix && state.installs[version]?.prefix === prefix ? await heldBy(state, current) : null;
  if (held) return { current: false, left: null, held };
  return stateLock(layout, lock, async () => {
    const args = { ...layoutArgs(layout), version, prefix, current: makeCurrent };
    const recorded = (session ? session.run('record', args, recordSchema) : runStateScript('record', args, recordSchema, [prefix, await currentPrefix(layout.stateDir)])).catch((error: unknown) => {
      throw (isCpyError(error, 'CPY_INSTALL_RECORD_FAILED') && recordFileSystemFault(error.message, layout.stateDir, error)) || error;
    });
    const done = await withOwnHint(recorded, true);
    const { left, ...said } = done;
    return { ...said, left: left ?? null };
  });
}

export interface InstalledVersion {
  readonly version: string;
  readonly prefix: string;
  readonly current: boolean;
  readonly previous: boolean;
  /** Null when the prefix has no valid marker of this version: broken (an interrupted or damaged install, or another version's tree there now: `holds`). */
  readonly marker: InstallMarker | null;
  /**
   * The version whose marker the prefix has instead (another version installed there since, its
   * record not yet written: a full disk, a kill), or null. Such an entry is broken: used, it would
   * run that version, and installed again, it would replace that version's tree.
   */
  readonly holds?: string | null;
  /** What its tree lacks of what CPython needs to start (`bin/python3`, `lib/python3.X/os.py`; treeDamage), or null. */
  readonly damage?: string | null;
}

/**
 * The newest installed version that answers a request (`3.13`: 3.13.5; `3.13.5`: itself), or null;
 * `complete`: only installs whose marker is valid (not broken).
 */
export async function findInstalled(request: string, options: VersionOptions & { complete?: boolean } = {}): Promise<InstalledVersion | null> {
  const wanted = parseVersionRequest(request);
  const matching = (await listInstalled(options)).filter((r) => matchesRequest(r.version, wanted));
  // A broken one (no valid marker, or a tree that cannot start) is not what a request is answered with.
  const whole = matching.filter((r) => r.marker && !r.damage).at(-1) ?? null;
  return options.complete ? whole : (whole ?? matching.at(-1) ?? null);
}

/**
 * What to do about an install `cpy list` calls broken (no valid marker): `cpy install` replaces a
 * tree whose marker is there but damaged; one whose marker is gone it refuses (nothing says those
 * files are still cpy's), so that directory is deleted by hand first.
 */
export function repairHint(version: string, prefix: string, holds: string | null = null): string {
  // At its prefix: `cpy install <version>` alone installs at the default one, and what names this
  // prefix (venvs, pip's scripts) would stay broken.
  const again = `cpy install ${version} --prefix ${prefix}`;
  // Another version's tree: installed again, this one would replace it.
  if (holds) return `${prefix} holds CPython ${holds} now: forget ${version} (cpy uninstall ${version}; that tree stays), and record ${holds} there (cpy install ${holds} --prefix ${prefix})`;
  // A prefix deleted by hand: nothing to delete first (it said "delete <prefix> yourself").
  if (!existsSync(prefix)) return `${prefix} is gone: install it again (${again}), or forget it (cpy uninstall ${version})`;
  return existsSync(join(prefix, MARKER_FILE))
    ? `install it again (${again}): its tree is replaced`
    : `its install marker is gone, so cpy does not replace the files in ${prefix}: if they are that install, delete ${prefix} yourself, then install it again (${again})`;
}

/**
 * What the prefix recorded for `version` holds: its marker when it is this version's, the version
 * whose marker it has instead (`holds`: that version's tree, not this one's), and what the tree
 * lacks of what CPython needs to start (`damage`: two stat calls; a tree with its marker but
 * without its python3 was taken for whole).
 */
async function installState(prefix: string, version: string): Promise<Pick<InstalledVersion, 'marker'> & { readonly holds: string | null; readonly damage: string | null }> {
  const found = await readMarker(prefix);
  const marker = found?.version === version ? found : null;
  return { marker, holds: found && !marker ? found.version : null, damage: marker ? await treeDamage(prefix, version) : null };
}

/** The versions installed (from the state), which one is current, and which are broken. */
export async function listInstalled(options: VersionOptions = {}): Promise<InstalledVersion[]> {
  const layout = layoutFor(options);
  const state = await readState(layout.stateDir);
  const current = await currentPrefix(layout.stateDir);
  const rows: InstalledVersion[] = [];
  for (const [version, { prefix }] of Object.entries(state.installs)) {
    rows.push({ version, prefix, current: prefix === current, previous: state.previous === version, ...(await installState(prefix, version)) });
  }
  return rows.sort((a, b) => compareVersions(a.version, b.version));
}

export interface SwitchResult {
  readonly version: string;
  readonly prefix: string;
  /** The version that was current before, if any. */
  readonly from: string | null;
  /** Whether a python3/pip3 link was made or changed (also when the version was current already: a link was missing). */
  readonly relinked: boolean;
  /** The bin dir the links were in before (the state's), from which they moved: a --bin-dir other than the last one. */
  readonly movedFrom?: string;
}

/**
 * Makes a version the one `python3` runs: one atomic rename of the `current` link (cpy_state.py
 * use). `request`: an installed version, or a release line (3.13) or `latest`, for the newest
 * installed version it takes.
 */
export async function useVersion(request: string, options: VersionOptions = {}): Promise<SwitchResult> {
  const layout = await linkingLayoutFor(options);
  // A release line (3.13) or `latest`: the newest whole install it takes (a broken one is not
  // used, and when it is all the line has, the script says it is broken). None: the script
  // refuses it, naming what is installed.
  const chosen = async () =>
    parseVersionRequest(request).exact ? request : ((await findInstalled(request, options))?.version ?? request);
  // Nothing to change (the version is current, whole, and its links are as `use` leaves them):
  // said without the lock, so a user who may read the state but not write it (root's) is told.
  const already = await alreadyUsing(layout, await chosen());
  if (already) return already;
  return stateLock(layout, { timeoutMs: options.lockTimeoutMs ?? 60_000, signal: options.signal }, async () => {
    const { installs } = await readState(layout.stateDir);
    const version = await chosen();
    // Nothing installed: said here, as the script says it, since no python3 may be there to run it
    // (a minimal image said "spawn python3 ENOENT").
    if (Object.keys(installs).length === 0) {
      throw new CpyError('CPY_INSTALL_NOT_INSTALLED', `CPython ${version} is not installed`, { hint: `install it first: cpy install ${version} (from the index: --index or CPY_INDEX_URL), or cpy install --from <artifact>` });
    }
    // A tree that cannot start (its python3 or its stdlib gone) is not made the one python3 runs:
    // `use` switched to it, and left no python3 link at all, or one that could not find its stdlib.
    const target = installs[version]?.prefix;
    const { holds, damage } = target ? await installState(target, version) : { holds: null, damage: null };
    // Another version's tree there now (installed over it, its record not written): using it would
    // run that version (it switched, and said it used this one).
    if (target && holds) {
      throw new CpyError('CPY_INSTALL_BROKEN', `${target} (CPython ${version}) holds CPython ${holds} now: it is not made the one python3 runs`, {
        hint: repairHint(version, target, holds),
        details: { version, prefix: target, holds },
      });
    }
    if (target && damage) {
      throw new CpyError('CPY_INSTALL_BROKEN', `CPython ${version} in ${target} is damaged (${damage} is missing): it is not made the one python3 runs`, {
        hint: `install it again (cpy install ${version} --prefix ${target}): its tree is replaced; python3 still runs what it ran`,
        details: { version, prefix: target, missing: damage },
      });
    }
    const pythons = [installs[version]?.prefix ?? null, await currentPrefix(layout.stateDir), ...Object.values(installs).map((i) => i.prefix)];
    const switched = runStateScript('use', { ...layoutArgs(layout), version }, switchSchema, pythons).catch((error: unknown) => {
      throw (isCpyError(error, 'CPY_INSTALL_RECORD_FAILED') && pythonFileSystemFault(error.message, layout.binDir ?? layout.stateDir, error, 'manage')) || error;
    });
    return withOwnHint(switched, false);
  }, 'manage');
}

/** The answer of `use` for a version that is current already, whole, with its links in place; null when `use` has something to do. */
async function alreadyUsing(layout: InstallLayout, version: string): Promise<SwitchResult | null> {
  const state = await readState(layout.stateDir);
  const prefix = state.installs[version]?.prefix;
  // A tree that is another version's now, or cannot start, is not "already" used: the lock's checks say why.
  if (!prefix || (await currentPrefix(layout.stateDir)) !== prefix) return null;
  const { marker, damage } = await installState(prefix, version);
  if (!marker || damage || !(await linksAsRecorded(layout, prefix, state))) return null;
  return { version, prefix, from: version, relinked: false };
}

/** Goes back to the version used before the current one. */
export async function rollback(options: VersionOptions = {}): Promise<SwitchResult> {
  const layout = layoutFor(options);
  const state = await readState(layout.stateDir);
  // A previous that is the current version (an install of it at the current one's prefix, a use
  // killed between its steps): a "rollback" to it changed nothing, and said it had.
  const current = await currentPrefix(layout.stateDir);
  if (!state.previous || (current !== null && state.installs[state.previous]?.prefix === current)) {
    throw new CpyError('CPY_INSTALL_NOTHING_TO_ROLL_BACK', state.previous ? `the previous version recorded, ${state.previous}, is the current one` : 'no previous version is recorded', {
      hint: 'rollback returns to the version used before the last `cpy use` or install; see `cpy list`',
    });
  }
  return useVersion(state.previous, options);
}

/** A release line: 3.13. */
export const RELEASE_LINE_RE = /^\d+\.\d+$/;

/**
 * The one installed version a request names: itself for a version; for a release line (3.13),
 * the version of that line that is installed, broken or whole. Two or more are refused, naming
 * them: removing one is not a choice to make for the user; a pre-release alone is named only by
 * its version. None: the request as it is (the script then says what is installed).
 */
async function oneInstalled(request: string, options: VersionOptions): Promise<string> {
  if (parseVersionRequest(request).exact) return request;
  if (!RELEASE_LINE_RE.test(request)) {
    throw new CpyError('CPY_INSTALL_BAD_OPTIONS', `${request}: give the installed version to remove (3.13.5) or its release line (3.13)`, { hint: 'cpy list shows what is installed' });
  }
  // Every version of the line, pre-releases too: 3.14 with 3.14.0rc2 and 3.14.0 names two.
  const named = (await listInstalled(options)).filter((r) => parseVersion(r.version)?.line === request).map((r) => r.version);
  if (named.length > 1) {
    throw new CpyError('CPY_INSTALL_AMBIGUOUS_VERSION', `${request} names ${named.length} installed versions: ${named.join(', ')}`, {
      hint: `name the one to remove, e.g. cpy uninstall ${named.at(-1)!}`,
      details: { installed: named },
    });
  }
  // A pre-release alone is not what the line names (cpy use 3.14 and install 3.14 never take one):
  // removed only by its own name.
  if (named.length === 1 && parseVersion(named[0]!)?.pre) {
    throw new CpyError('CPY_INSTALL_NOT_INSTALLED', `no ${request} release is installed: ${named[0]} is a pre-release, which ${request} never names`, {
      hint: `to remove it, name it: cpy uninstall ${named[0]}`,
    });
  }
  return named[0] ?? request;
}

/**
 * Removes an installed version: renamed away first (so it disappears at once), then deleted. A
 * prefix with no valid install marker is not deleted (nothing says its files are still cpy's):
 * the version and its links are forgotten, and `kept` and a warning say the files stay.
 * `request`: an installed version, or a release line (3.13) when one version of it is installed.
 * Refuses the current version unless `force`, which also removes the links that would dangle
 * (cpy_state.py forget, run by the current python3 while it is another version's).
 */
export async function uninstall(
  request: string,
  options: VersionOptions & { force?: boolean } = {},
): Promise<{
  version: string;
  prefix: string;
  wasCurrent: boolean;
  /** The links removed from binDir (none when it was linked from another bin dir). */
  unlinked: string[];
  binDir: string | null;
  /** The files at the prefix were left there: it had no install marker, so nothing said they were still cpy's. */
  kept: boolean;
  warnings: string[];
}> {
  const layout = await linkingLayoutFor(options);
  // The links are where the last install or use made them (the state's binDir): another --bin-dir
  // removed nothing there, and left every link in it pointing at nothing.
  const recordedBin = (await readState(layout.stateDir)).binDir;
  // (The same directory by another name, through a link, is the same bin dir: it was refused.)
  const real = (dir: string) => realpath(dir).catch(() => resolve(dir));
  if (typeof options.binDir === 'string' && recordedBin && (await real(options.binDir)) !== (await real(recordedBin))) {
    throw new CpyError('CPY_INSTALL_BAD_OPTIONS', `the links are in ${recordedBin}, where the last install or use made them: uninstall removes them there, not in ${resolve(options.binDir)} (--bin-dir)`, {
      hint: 'leave --bin-dir out: nothing was removed',
    });
  }
  const version = await oneInstalled(request, options);
  const timeoutMs = options.lockTimeoutMs ?? 60_000;
  // The prefix's lock first, then the state's, as an install takes them: an install of this
  // prefix running now would otherwise put a tree there that this removes, then record it.
  for (;;) {
    const state = await readState(layout.stateDir);
    const seen = state.installs[version];
    if (!seen) {
      // Said here, as the script says it (not_installed): no python3 may be there to run it (the
      // current version uninstalled with --force, on an image without one: "spawn python3 ENOENT").
      const known = Object.keys(state.installs).sort(compareVersions);
      throw new CpyError('CPY_INSTALL_NOT_INSTALLED', `CPython ${version} is not installed${known.length ? ` (installed: ${known.join(', ')})` : ''}`, {
        hint: 'nothing to remove: cpy list shows what is installed',
      });
    }
    const prefix = seen.prefix;
    const removed = await withLock(
      prefixLockPath(layout, prefix),
      { timeoutMs, signal: options.signal },
      () =>
        stateLock(
          layout,
          { timeoutMs, signal: options.signal },
          async () => {
            // Any cpy python3 runs it: one that is not being removed first (the tree may be gone).
            const others = [await currentPrefix(layout.stateDir), ...Object.values((await readState(layout.stateDir)).installs).map((i) => i.prefix)].filter((p) => p !== prefix);
            return runStateScript('forget', { ...layoutArgs(layout), version, prefix, force: options.force ?? false }, removedSchema, [...others, prefix]).catch((error: unknown) => {
              // A read-only or full file system, a directory this user may not write: said as such (it
              // said to check that python3 runs, and to install that version again). Named by the
              // directory the tree is renamed in, when python names no path.
              throw (isCpyError(error, 'CPY_INSTALL_RECORD_FAILED') && pythonFileSystemFault(error.message, dirname(prefix), error, 'manage')) || error;
            });
          },
          'manage',
        ),
      'manage',
    );
    if (!('version' in removed)) continue;
    const warnings = removed.kept
      ? [`${prefix} has no valid install marker, so nothing says its files are still the CPython ${version} cpy installed there: cpy forgot the version and left them; delete that directory yourself if they are`]
      : [];
    // Linked from another bin dir than the state records (by hand, or a state written before it recorded one): said, not claimed removed.
    if (removed.wasCurrent && !removed.kept && !removed.unlinked.includes('python3')) {
      warnings.push(`no python3 link to it was in ${layout.binDir ?? 'the bin dir'}; links to it made elsewhere now point at nothing: remove them`);
    }
    return { ...removed, binDir: layout.binDir, warnings };
  }
}

import { existsSync } from 'node:fs';
import { lstat, readlink, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { compareVersions, CpyError, randomId, sha256Hex } from '@cpy/core';
import { resolveLayout, type Environment, type InstallLayout, type LayoutOverrides } from './layout.js';
import { type LockOptions, withLock } from './lock.js';
import { matchesRequest, parseVersionRequest } from './request.js';
import { CURRENT_LINK, currentPrefix, MARKER_FILE, readMarker, readState, swapSymlink, writeState, type InstallMarker } from './state.js';

/** The links put in the bin directory, and what each runs in the current install. */
const LINKS: readonly (readonly [string, string])[] = [
  ['python3', 'python3'],
  ['python', 'python3'],
  ['pip3', 'pip3'],
  ['pip', 'pip3'],
  ['pydoc3', 'pydoc3'],
  ['python3-config', 'python3-config'],
];

export interface VersionOptions extends LayoutOverrides {
  readonly env?: Environment;
  readonly lockTimeoutMs?: number;
}

function layoutFor(options: VersionOptions): InstallLayout {
  return resolveLayout({ stateDir: options.stateDir, binDir: options.binDir, cacheDir: options.cacheDir }, options.env ?? process.env);
}

export function stateLock<T>(layout: InstallLayout, lock: LockOptions, work: () => Promise<T>): Promise<T> {
  return withLock(join(layout.stateDir, 'locks', 'state.lock'), lock, work);
}

/**
 * The lock an install holds on its prefix, from the staging tree to the state (install.sh's
 * lock_prefix names it the same way). Whoever also takes the state lock takes this one first.
 */
export function prefixLockPath(layout: InstallLayout, prefix: string): string {
  return join(layout.stateDir, 'locks', `${sha256Hex(prefix).slice(0, 16)}.lock`);
}

/**
 * The bin links point into the real prefix, not through `current`: CPython
 * derives sys.prefix from the path it was started by, and scripts pip
 * installs name that interpreter in their `#!` line; through `current` they
 * would silently run another version after a switch.
 */
const linkTarget = (prefix: string, runs: string) => join(prefix, 'bin', runs);

/**
 * What a bin entry is: absent, a link cpy made (into a prefix that holds a cpy
 * install marker), a dangling link (replaceable, never removed), or someone
 * else's. A relative link target counts from the link's own directory.
 */
async function binEntry(path: string): Promise<{ kind: 'absent' | 'cpy' | 'dangling' | 'foreign'; target: string | null }> {
  const st = await lstat(path).catch(() => null);
  if (!st) return { kind: 'absent', target: null };
  if (!st.isSymbolicLink()) return { kind: 'foreign', target: null };
  const target = resolve(dirname(path), await readlink(path));
  if (existsSync(join(dirname(dirname(target)), MARKER_FILE))) return { kind: 'cpy', target };
  return { kind: existsSync(target) ? 'foreign' : 'dangling', target };
}

/**
 * Refuses to take over a bin entry that is not one of ours (a system python3, a user's script).
 * `linksOptional`: the hint offers installing without links (an install can; `cpy use` cannot).
 */
export async function checkLinks(layout: InstallLayout, prefix: string, linksOptional = true): Promise<void> {
  if (!layout.binDir) return;
  for (const [name, runs] of LINKS) {
    if (!existsSync(join(prefix, 'bin', runs)) && name !== 'python3') continue;
    const path = join(layout.binDir, name);
    const found = await binEntry(path);
    if (found.kind === 'foreign') {
      throw new CpyError('CPY_INSTALL_BIN_CONFLICT', `${path} exists and is not a cpy link${found.target ? ` (it points to ${found.target})` : ''}`, {
        hint: `${linksOptional ? 'install without links (--no-link, or binDir: null), ' : ''}choose another --bin-dir, or remove ${path}`,
        details: { path },
      });
    }
  }
}

/**
 * Points `current` at `prefix` (one atomic rename: the record of what is
 * current), then each bin link at the prefix's programs (each an atomic rename).
 * `keepForeign`: the version is current already and its links are only being
 * made whole again: an entry that is someone else's (a pip another Python
 * wrote there) is left as it is, as install.sh leaves it, instead of refused.
 */
export async function activate(layout: InstallLayout, prefix: string, options: { keepForeign?: boolean } = {}): Promise<void> {
  if (!options.keepForeign) await checkLinks(layout, prefix);
  await swapSymlink(join(layout.stateDir, CURRENT_LINK), prefix);
  for (const { path, target } of await linkChanges(layout, prefix, options.keepForeign ?? false)) {
    if (target) await swapSymlink(path, target);
    else await rm(path, { force: true });
  }
}

/**
 * What activate changes in the bin dir, link by link: a link to make (`target`), or one of ours
 * to remove (`target` null: a link to a program this version lacks would run another version).
 * Empty when the links are as they should be, or there is no bin dir. `keepForeign`: someone
 * else's entry is no change.
 */
async function linkChanges(layout: InstallLayout, prefix: string, keepForeign: boolean): Promise<{ path: string; target: string | null }[]> {
  if (!layout.binDir) return [];
  const changes: { path: string; target: string | null }[] = [];
  for (const [name, runs] of LINKS) {
    const path = join(layout.binDir, name);
    if (!existsSync(join(prefix, 'bin', runs))) {
      if ((await binEntry(path)).kind === 'cpy') changes.push({ path, target: null });
      continue;
    }
    const target = linkTarget(prefix, runs);
    if ((await readlink(path).catch(() => null)) === target) continue;
    if (keepForeign && (await binEntry(path)).kind === 'foreign') continue;
    changes.push({ path, target });
  }
  return changes;
}

async function versionOf(layout: InstallLayout, prefix: string | null): Promise<string | null> {
  if (!prefix) return null;
  const state = await readState(layout.stateDir);
  return Object.entries(state.installs).find(([, i]) => i.prefix === prefix)?.[0] ?? (await readMarker(prefix))?.version ?? null;
}

/**
 * Records an install in the state, and (when asked) makes it the current
 * version, remembering the one before for rollback. Returns whether it is now
 * current. Cheap when nothing changes: no lock is taken. The bin links are
 * looked at too: a run killed between the `current` link and them left them
 * missing or pointing at another version, and the next run makes them.
 */
export async function recordInstall(layout: InstallLayout, version: string, prefix: string, makeCurrent: boolean, lock: LockOptions): Promise<boolean> {
  const state = await readState(layout.stateDir);
  const current = await currentPrefix(layout.stateDir);
  if (state.installs[version]?.prefix === prefix && (!makeCurrent || (current === prefix && (await linkChanges(layout, prefix, true)).length === 0))) return current === prefix;
  return stateLock(layout, lock, async () => {
    // Read before the state lock, without the prefix's (an install already there): a `cpy
    // uninstall` (which renames the tree away under the state lock) may have run since.
    if ((await readMarker(prefix))?.version !== version) {
      throw new CpyError('CPY_INSTALL_NOT_INSTALLED', `${prefix} no longer holds CPython ${version} (a cpy uninstall, or another install of that prefix, at the same time)`, {
        hint: `run the install again: it installs CPython ${version} anew`,
      });
    }
    const fresh = await readState(layout.stateDir);
    const now = await currentPrefix(layout.stateDir);
    // Made current now: someone else's entry in the bin dir refuses it before the state changes
    // (activate would refuse it after: the state would name as previous the version still current).
    if (makeCurrent && now !== prefix) await checkLinks(layout, prefix);
    if (fresh.installs[version]?.prefix !== prefix || (makeCurrent && now !== prefix)) {
      fresh.installs[version] = { prefix };
      if (makeCurrent && now !== prefix) {
        const leaving = await versionOf(layout, now);
        if (leaving && leaving !== version) fresh.previous = leaving;
      }
      await writeState(layout.stateDir, fresh);
    }
    // Current already: only its links are made whole, around what is not cpy's.
    if (makeCurrent) await activate(layout, prefix, { keepForeign: now === prefix });
    return makeCurrent || now === prefix;
  });
}

export interface InstalledVersion {
  readonly version: string;
  readonly prefix: string;
  readonly current: boolean;
  readonly previous: boolean;
  /** Null when the prefix has no valid marker: broken (an interrupted or damaged install). */
  readonly marker: InstallMarker | null;
}

/**
 * The newest installed version that answers a request (`3.13`: 3.13.5; `3.13.5`: itself), or null;
 * `complete`: only installs whose marker is valid (not broken).
 */
export async function findInstalled(request: string, options: VersionOptions & { complete?: boolean } = {}): Promise<InstalledVersion | null> {
  const wanted = parseVersionRequest(request);
  return (await listInstalled(options)).filter((r) => matchesRequest(r.version, wanted) && (!options.complete || r.marker)).at(-1) ?? null;
}

/** The versions installed (from the state), which one is current, and which are broken. */
export async function listInstalled(options: VersionOptions = {}): Promise<InstalledVersion[]> {
  const layout = layoutFor(options);
  const state = await readState(layout.stateDir);
  const current = await currentPrefix(layout.stateDir);
  const rows: InstalledVersion[] = [];
  for (const [version, { prefix }] of Object.entries(state.installs)) {
    rows.push({ version, prefix, current: prefix === current, previous: state.previous === version, marker: await readMarker(prefix) });
  }
  return rows.sort((a, b) => compareVersions(a.version, b.version));
}

/** `removing`: for an uninstall, there is nothing to do, not something to install first. */
function notInstalled(version: string, known: readonly string[], removing = false): CpyError {
  return new CpyError('CPY_INSTALL_NOT_INSTALLED', `CPython ${version} is not installed${known.length ? ` (installed: ${known.join(', ')})` : ''}`, {
    hint: removing ? 'nothing to remove: cpy list shows what is installed (give its exact version)' : `install it first: cpy install ${version} --from <artifact>`,
  });
}

export interface SwitchResult {
  readonly version: string;
  readonly prefix: string;
  /** The version that was current before, if any. */
  readonly from: string | null;
}

/** Makes `version` the one `python3` runs: one atomic rename of the `current` link. */
export async function useVersion(version: string, options: VersionOptions = {}): Promise<SwitchResult> {
  const layout = layoutFor(options);
  return stateLock(layout, { timeoutMs: options.lockTimeoutMs ?? 60_000 }, async () => {
    const state = await readState(layout.stateDir);
    const entry = state.installs[version];
    if (!entry) throw notInstalled(version, Object.keys(state.installs));
    if (!(await readMarker(entry.prefix))) {
      throw new CpyError('CPY_INSTALL_BROKEN', `${entry.prefix} (CPython ${version}) is not a complete install`, {
        hint: `install it again: cpy install ${version} (a broken install is replaced atomically)`,
      });
    }
    const from = await versionOf(layout, await currentPrefix(layout.stateDir));
    if (from !== version) {
      // Someone else's entry in the bin dir refuses the switch before the state changes (activate
      // would refuse it after, and the version to roll back to would be the one still current).
      await checkLinks(layout, entry.prefix, false);
      state.previous = from;
      await writeState(layout.stateDir, state);
    }
    // Also when it is current already: its links may be missing (a run killed between the
    // `current` link and them); activate changes only what differs.
    await activate(layout, entry.prefix, { keepForeign: from === version });
    return { version, prefix: entry.prefix, from };
  });
}

/** Goes back to the version used before the current one. */
export async function rollback(options: VersionOptions = {}): Promise<SwitchResult> {
  const layout = layoutFor(options);
  const state = await readState(layout.stateDir);
  if (!state.previous) {
    throw new CpyError('CPY_INSTALL_NOTHING_TO_ROLL_BACK', 'no previous version is recorded', {
      hint: 'rollback returns to the version used before the last `cpy use` or install; see `cpy list`',
    });
  }
  return useVersion(state.previous, options);
}

/**
 * Removes an installed version: renamed away first (so it disappears at once),
 * then deleted. Refuses the current version unless `force`, which also removes
 * the links that would dangle.
 */
export async function uninstall(version: string, options: VersionOptions & { force?: boolean } = {}): Promise<{ version: string; prefix: string; wasCurrent: boolean }> {
  const layout = layoutFor(options);
  const timeoutMs = options.lockTimeoutMs ?? 60_000;
  // The prefix's lock first, then the state's, as an install takes them: an install of this
  // prefix running now would otherwise put a tree there that this removes, then record it.
  for (;;) {
    const state = await readState(layout.stateDir);
    const seen = state.installs[version];
    if (!seen) throw notInstalled(version, Object.keys(state.installs), true);
    const removed = await withLock(prefixLockPath(layout, seen.prefix), { timeoutMs }, () => stateLock(layout, { timeoutMs }, () => removeInstall(layout, version, seen.prefix, options.force)));
    if (removed) return removed;
  }
}

/** Under both locks; null when the version is now recorded at another prefix than the one locked. */
async function removeInstall(layout: InstallLayout, version: string, locked: string, force: boolean | undefined): Promise<{ version: string; prefix: string; wasCurrent: boolean } | null> {
  const state = await readState(layout.stateDir);
  const entry = state.installs[version];
  if (!entry) throw notInstalled(version, Object.keys(state.installs), true);
  if (entry.prefix !== locked) return null;
  // Another version installed at the same prefix since (--prefix given twice): its tree stays;
  // only this version's stale entry goes.
  const there = await readMarker(entry.prefix);
  if (there && there.version !== version) {
    delete state.installs[version];
    if (state.previous === version) state.previous = null;
    await writeState(layout.stateDir, state);
    return { version, prefix: entry.prefix, wasCurrent: false };
  }
  const wasCurrent = (await currentPrefix(layout.stateDir)) === entry.prefix;
  if (wasCurrent && !force) {
    throw new CpyError('CPY_INSTALL_IN_USE', `CPython ${version} is the current version (${entry.prefix})`, {
      hint: 'switch first (cpy use <other version>), or pass --force to remove it and its python3 links',
    });
  }
  const gone = join(dirname(entry.prefix), `.cpy-old-${basename(entry.prefix)}-${randomId().slice(0, 8)}`);
  await rename(entry.prefix, gone).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  delete state.installs[version];
  if (state.previous === version) state.previous = null;
  await writeState(layout.stateDir, state);
  if (wasCurrent) {
    await rm(join(layout.stateDir, CURRENT_LINK), { force: true });
    if (layout.binDir) {
      for (const [name, runs] of LINKS) {
        const path = join(layout.binDir, name);
        if ((await readlink(path).catch(() => null)) === linkTarget(entry.prefix, runs)) await rm(path, { force: true });
      }
    }
  }
  await rm(gone, { recursive: true, force: true });
  return { version, prefix: entry.prefix, wasCurrent };
}

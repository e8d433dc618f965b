import { homedir, userInfo } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';

/** Environment variables (process.env by default); a plain type, so consumers need no @types/node. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** Where installs, their state, the python3 links and downloaded artifacts live. */
export interface InstallLayout {
  /** Holds state.json, the `current` link and the locks. */
  readonly stateDir: string;
  /** Where `python3`, `pip3`... are linked; null: no links. */
  readonly binDir: string | null;
  /** Artifacts by sha256, so reinstalls and rollbacks need no network. */
  readonly cacheDir: string;
  /** Where a version goes unless the caller names a prefix. */
  prefixFor(version: string): string;
}

export interface LayoutOverrides {
  readonly stateDir?: string | undefined;
  readonly binDir?: string | null | undefined;
  readonly cacheDir?: string | undefined;
}

/**
 * The default layout. As root: `/opt/python-<version>` (the prefix artifacts
 * are built for, so nothing needs relocating), links in /usr/local/bin, state
 * in /var/lib/cpy. Otherwise under the XDG directories of the user. With
 * CPY_HOME set, everything but the cache goes under it (python-<version>,
 * state/, bin/). The cache follows CPY_CACHE_DIR, XDG_CACHE_HOME, ~/.cache.
 */
export function resolveLayout(
  overrides: LayoutOverrides = {},
  env: Environment = process.env,
  uid: number = process.getuid?.() ?? -1,
): InstallLayout {
  // Paths are absolute, or the links made from them would point nowhere and state.json would be
  // refused: a relative HOME or XDG_* is ignored, as the XDG spec says; CPY_HOME and CPY_CACHE_DIR,
  // cpy's own, are read from the directory cpy runs in (CPY_HOME=./py).
  const absolute = (value: string | undefined) => (value && isAbsolute(value) ? value : undefined);
  const fromHere = (value: string | undefined) => (value ? resolve(value) : undefined);
  const home = absolute(env['HOME']) ?? accountHome();
  const cpyHome = fromHere(env['CPY_HOME']);
  const cacheRoot = fromHere(env['CPY_CACHE_DIR']) ?? join(absolute(env['XDG_CACHE_HOME']) ?? join(home, '.cache'), 'cpy');
  const cacheDir = overrides.cacheDir ?? join(cacheRoot, 'artifacts');
  const pick = (under: string, root: string, user: string) => (cpyHome ? join(cpyHome, under) : uid === 0 ? root : user);
  const dataHome = absolute(env['XDG_DATA_HOME']) ?? join(home, '.local', 'share');
  const stateHome = absolute(env['XDG_STATE_HOME']) ?? join(home, '.local', 'state');
  const stateDir = overrides.stateDir ?? pick('state', '/var/lib/cpy', join(stateHome, 'cpy'));
  const binDir = overrides.binDir === undefined ? pick('bin', '/usr/local/bin', join(home, '.local', 'bin')) : overrides.binDir;
  const prefixRoot = pick('', '/opt', join(dataHome, 'cpy'));
  return { stateDir, binDir, cacheDir, prefixFor: (version) => join(prefixRoot, `python-${version}`) };
}

/**
 * The home directory when HOME gives none that is absolute: the account's (the passwd entry).
 * Node's homedir() is $HOME itself when set: an empty or relative one (HOME= in a service unit,
 * HOME=relhome) made the links and the state relative, pointing nowhere from anywhere else.
 */
function accountHome(): string {
  try {
    const fromAccount = userInfo().homedir;
    if (isAbsolute(fromAccount)) return fromAccount;
  } catch {
    // No passwd entry (a container's arbitrary uid): Node's answer, made absolute.
  }
  return resolve(homedir());
}

/** The artifact cache as users set it (CPY_CACHE_DIR, or ~/.cache/cpy): the parent of its artifacts/, for messages. */
export const cacheRootOf = (cacheDir: string): string => (basename(cacheDir) === 'artifacts' ? dirname(cacheDir) : cacheDir);

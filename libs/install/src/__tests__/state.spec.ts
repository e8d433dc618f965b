import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { isCpyError } from '@cpy/core';
import * as z from 'zod/mini';
import { MARKER_FILE, readState, STATE_FILE } from '../state.js';
import { openStateSession, runStateScript, STATE_SCRIPT } from '../record.js';
import { withLock } from '../lock.js';
import { LINKS, VERSIONED_LINKS, checkPython3Link, listInstalled, recordInstall, repairHint, rollback, uninstall, useVersion, writeMarker } from '../versions.js';

let stateDir: string;
/** This host's python3 (Debian's, which the tests' artifacts are made of). */
const hostPython3 = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : execFileSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).trim();
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'cpy-state-'));
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

const options = () => ({ stateDir, binDir: null, lockTimeoutMs: 1000 });
/** The install marker of CPython `version` (valid: readMarker takes it). */
const marker = (version: string) => JSON.stringify({ schemaVersion: 1, version, build: 1, sha256: 'a'.repeat(64), artifact: `cpython-${version}-debian12-build1.tgz`, source: 'test', builtFor: '/opt/x', installedAt: '2026-12-02T00:00:00.000Z' });

/** A tree's install marker, and the landmark CPython finds its prefix by (lib/python3.X/os.py: without it, treeDamage says the tree is damaged). */
async function markTree(prefix: string, version: string): Promise<void> {
  const line = version.split('.').slice(0, 2).join('.');
  await mkdir(join(prefix, 'lib', `python${line}`), { recursive: true });
  await writeFile(join(prefix, 'lib', `python${line}`, 'os.py'), '');
  await writeFile(join(prefix, MARKER_FILE), marker(version));
}

/**
 * Trees of `versions` at <stateDir>/python-<version> (a marker, bin/python3 this host's), each
 * recorded and made current in turn, linked into <stateDir>/bin.
 */
async function installedSideBySide(versions: readonly string[]) {
  const binDir = join(stateDir, 'bin');
  const layout = { stateDir, binDir, cacheDir: join(stateDir, 'cache'), prefixFor: (v: string) => join(stateDir, `python-${v}`) };
  for (const version of versions) {
    const prefix = join(stateDir, `python-${version}`);
    await mkdir(join(prefix, 'bin'), { recursive: true });
    await symlink(hostPython3, join(prefix, 'bin', 'python3'));
    await markTree(prefix, version);
    await recordInstall(layout, version, prefix, true, { timeoutMs: 1000 });
  }
  return { binDir, layout };
}

describe('state.json', () => {
  it('reads as empty when there is none', async () => {
    expect(await readState(stateDir)).toEqual({ schemaVersion: 1, installs: {}, previous: null });
    expect(await listInstalled(options())).toEqual([]);
  });

  it.each([
    ['not JSON', '{"schemaVersion": 1, "installs": {', /\(not JSON: /],
    ['JSON, but not a state', JSON.stringify({ schemaVersion: 1, installs: { '3.13.5': '/opt/python-3.13.5' }, previous: null }), /\(installs\.3\.13\.5: /],
    ['another schema', JSON.stringify({ schemaVersion: 7, installs: {}, previous: null }), /\(schemaVersion: /],
    ['empty', '', /\(not JSON: /],
    ['a bin dir that is not an absolute path', JSON.stringify({ schemaVersion: 1, installs: {}, previous: null, binDir: 'bin' }), /\(binDir: not an absolute path\)/],
  ])('%s: CPY_INSTALL_BROKEN (as install.sh says), with what to do', async (_name, text, problem) => {
    const path = join(stateDir, STATE_FILE);
    await writeFile(path, text);
    const error = await readState(stateDir).catch((e: unknown) => e);
    expect(isCpyError(error, 'CPY_INSTALL_BROKEN')).toBe(true);
    expect(error).toMatchObject({
      message: expect.stringMatching(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a cpy state file `)),
      hint: expect.stringContaining(`move it aside (mv ${path} ${path}.broken), then run again`),
      details: { path },
    });
    expect((error as Error).message).toMatch(problem);
  });

  it('one that cannot be read is said so, never read as no install at all (it said "no CPython installed by cpy")', async () => {
    // A --state-dir that is a file; a state.json that is a directory.
    const file = join(stateDir, 'a-file');
    await writeFile(file, 'x');
    await expect(readState(file)).rejects.toMatchObject({ code: 'CPY_INSTALL_STATE_UNREADABLE', message: `cannot read ${join(file, STATE_FILE)}: ${file} is not a directory` });
    const dirState = join(stateDir, 'dir-state');
    await mkdir(join(dirState, STATE_FILE), { recursive: true });
    await expect(readState(dirState)).rejects.toMatchObject({ code: 'CPY_INSTALL_BROKEN', message: `${join(dirState, STATE_FILE)} is not a cpy state file (a directory)` });
  });

  it('every command that reads it refuses with that code, not a plain error, and leaves the file as it is', async () => {
    await writeFile(join(stateDir, STATE_FILE), 'not json at all\n');
    for (const attempt of [() => listInstalled(options()), () => useVersion('3.13.5', options()), () => rollback(options()), () => uninstall('3.13.5', options())]) {
      await expect(attempt()).rejects.toMatchObject({ name: 'CpyError', code: 'CPY_INSTALL_BROKEN' });
    }
    expect(await readFile(join(stateDir, STATE_FILE), 'utf8')).toBe('not json at all\n');
  });
});

describe('cpy uninstall and an install of the same prefix', () => {
  it('waits for the prefix lock an install holds (as install.sh names it), and removes nothing until it is free', async () => {
    const prefix = join(stateDir, 'python-3.13.5');
    await mkdir(prefix);
    await markTree(prefix, '3.13.5');
    await writeFile(join(stateDir, STATE_FILE), JSON.stringify({ schemaVersion: 1, installs: { '3.13.5': { prefix } }, previous: null }));
    // The lock an install of this prefix holds from its staging tree to the state (lock_prefix in install.sh).
    const lock = join(stateDir, 'locks', `${createHash('sha256').update(prefix).digest('hex').slice(0, 16)}.lock`);
    await mkdir(dirname(lock));
    const installing = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await writeFile(lock, `${installing.pid} ${hostname()} a-running-install`);
      const refused = await uninstall('3.13.5', { ...options(), lockTimeoutMs: 300 }).catch((e: unknown) => e);
      expect(isCpyError(refused, 'CPY_INSTALL_LOCKED')).toBe(true);
      expect((refused as Error).message).toContain(lock);
      expect(existsSync(join(prefix, MARKER_FILE))).toBe(true);
      expect((await readState(stateDir)).installs['3.13.5']).toEqual({ prefix });
    } finally {
      installing.kill();
      await once(installing, 'close');
    }
    // Its holder gone, the lock is stale: taken, and the version removed.
    expect(await uninstall('3.13.5', options())).toEqual({ version: '3.13.5', prefix, wasCurrent: false, unlinked: [], binDir: null, kept: false, warnings: [] });
    expect(existsSync(prefix)).toBe(false);
    expect((await readState(stateDir)).installs).toEqual({});
  });
});

describe('installs and uninstalls that cross', () => {

  it('an install that found its version there records nothing once an uninstall removed it meanwhile: CPY_INSTALL_NOT_INSTALLED, the state as the uninstall left it', async () => {
    const prefix = join(stateDir, 'python-3.13.5');
    const layout = { stateDir, binDir: null, cacheDir: join(stateDir, 'cache'), prefixFor: () => prefix };
    // The install read the marker; the uninstall then removed the tree and its entry.
    const error = await recordInstall(layout, '3.13.5', prefix, true, { timeoutMs: 1000 }).catch((e: unknown) => e);
    expect(isCpyError(error, 'CPY_INSTALL_NOT_INSTALLED')).toBe(true);
    expect((error as Error).message).toBe(`${prefix} no longer holds CPython 3.13.5 (a cpy uninstall, or another install of that prefix, at the same time)`);
    // Nor when another version took the prefix meanwhile.
    await mkdir(prefix);
    await markTree(prefix, '3.13.6');
    expect(isCpyError(await recordInstall(layout, '3.13.5', prefix, true, { timeoutMs: 1000 }).catch((e: unknown) => e), 'CPY_INSTALL_NOT_INSTALLED')).toBe(true);
    expect(await readState(stateDir)).toEqual({ schemaVersion: 1, installs: {}, previous: null });
    expect(existsSync(join(stateDir, 'current'))).toBe(false);
  });

  it('uninstalling a version whose prefix another version took since (--prefix given twice) drops its entry and leaves that tree', async () => {
    const prefix = join(stateDir, 'py');
    await mkdir(prefix);
    await markTree(prefix, '3.13.6');
    await writeFile(join(stateDir, STATE_FILE), JSON.stringify({ schemaVersion: 1, installs: { '3.13.5': { prefix }, '3.13.6': { prefix } }, previous: '3.13.5' }));
    expect(await uninstall('3.13.5', options())).toEqual({ version: '3.13.5', prefix, wasCurrent: false, unlinked: [], binDir: null, kept: false, warnings: [] });
    expect(JSON.parse(await readFile(join(prefix, MARKER_FILE), 'utf8'))).toMatchObject({ version: '3.13.6' });
    expect(await readState(stateDir)).toEqual({ schemaVersion: 1, installs: { '3.13.6': { prefix } }, previous: null });
  });
});

describe('cpy use refused by someone else\'s entry in the bin dir', () => {
  /**
   * A prefix holding CPython `version` as an install leaves it: a marker, and bin/python3 (this
   * host's, which runs the install record's script as the prefix's own would) and bin/pip3.
   */
  const installed = async (version: string): Promise<string> => {
    const prefix = join(stateDir, `python-${version}`);
    await mkdir(join(prefix, 'bin'), { recursive: true });
    await symlink(hostPython3, join(prefix, 'bin', 'python3'));
    await writeFile(join(prefix, 'bin', 'pip3'), '#!/bin/sh\n', { mode: 0o755 });
    await markTree(prefix, version);
    return prefix;
  };

  it('changes nothing: the version to roll back to stays the one before, and the hint offers what use can do', async () => {
    const binDir = join(stateDir, 'bin');
    const layout = { stateDir, binDir, lockTimeoutMs: 1000 };
    const installLayout = { stateDir, binDir, cacheDir: join(stateDir, 'cache'), prefixFor: (v: string) => join(stateDir, `python-${v}`) };
    const lock = { timeoutMs: 1000 };
    for (const version of ['3.12.8', '3.13.5']) await recordInstall(installLayout, version, await installed(version), true, lock);
    await recordInstall(installLayout, '3.14.0', await installed('3.14.0'), false, lock);
    expect(await readState(stateDir)).toMatchObject({ previous: '3.12.8' });
    // pip install --user -U pip (or anyone) made pip3 a file of its own.
    await rm(join(binDir, 'pip3'));
    await writeFile(join(binDir, 'pip3'), '#!/bin/sh\n');
    const before = await readFile(join(stateDir, STATE_FILE), 'utf8');

    const error = await useVersion('3.14.0', layout).catch((e: unknown) => e);
    expect(isCpyError(error, 'CPY_INSTALL_BIN_CONFLICT')).toBe(true);
    expect((error as { hint: string }).hint).toBe(`choose another --bin-dir, or remove ${join(binDir, 'pip3')} (pip install --user writes pip there: python3 -m pip runs the same)`);
    expect(await readFile(join(stateDir, STATE_FILE), 'utf8')).toBe(before);
    expect((await listInstalled(layout)).map((r) => [r.version, r.current, r.previous])).toEqual([
      ['3.12.8', false, true],
      ['3.13.5', true, false],
      ['3.14.0', false, false],
    ]);
    // Once the entry is gone, rolling back goes where it went before.
    await rm(join(binDir, 'pip3'));
    expect(await rollback(layout)).toMatchObject({ version: '3.12.8', from: '3.13.5' });
  });

  it("cpy's links into the current install whose marker is gone are still cpy's: an install made current and use replace them", async () => {
    const { binDir, layout } = await installedSideBySide(['3.12.8', '3.13.5']);
    await rm(join(stateDir, 'python-3.13.5', MARKER_FILE));
    const useLayout = { stateDir, binDir, lockTimeoutMs: 1000 };
    // Before the download: python3 runs a tree the state records.
    await expect(checkPython3Link(layout)).resolves.toBeUndefined();
    const tree = join(stateDir, 'python-3.14.0');
    await mkdir(join(tree, 'bin'), { recursive: true });
    await symlink(hostPython3, join(tree, 'bin', 'python3'));
    await writeMarker(layout, tree, { version: '3.14.0', build: 1, sha256: 'b'.repeat(64), artifact: 'cpython-3.14.0-debian12-build1.tgz', source: 'test', builtFor: '/opt/x' }, tree);
    await recordInstall(layout, '3.14.0', tree, true, { timeoutMs: 1000 });
    expect(await readlink(join(binDir, 'python3'))).toBe(join(tree, 'bin', 'python3'));
    // Away from the current tree with use once its marker is gone too; back to it is refused.
    await rm(join(tree, MARKER_FILE));
    expect(await useVersion('3.12.8', useLayout)).toMatchObject({ version: '3.12.8', from: '3.14.0' });
    expect(await readlink(join(binDir, 'python3'))).toBe(join(stateDir, 'python-3.12.8', 'bin', 'python3'));
    await expect(rollback(useLayout)).rejects.toMatchObject({ code: 'CPY_INSTALL_BROKEN' });
    // A link into a tree nothing records, with no marker, is still someone else's.
    const other = join(stateDir, 'elsewhere');
    await mkdir(join(other, 'bin'), { recursive: true });
    await symlink(hostPython3, join(other, 'bin', 'python3'));
    await rm(join(binDir, 'python3'));
    await symlink(join(other, 'bin', 'python3'), join(binDir, 'python3'));
    await expect(checkPython3Link(layout)).rejects.toMatchObject({ code: 'CPY_INSTALL_BIN_CONFLICT' });
    await markTree(tree, '3.14.0');
    await expect(useVersion('3.14.0', useLayout)).rejects.toMatchObject({ code: 'CPY_INSTALL_BIN_CONFLICT' });
  });

  it('a tree that cannot start is never made the one python3 runs (use switched to it: no python3 link, or one without its stdlib), and cpy list says what it lacks', async () => {
    const { binDir } = await installedSideBySide(['3.12.8', '3.13.5']);
    const useLayout = { stateDir, binDir, lockTimeoutMs: 1000 };
    const before = await readlink(join(binDir, 'python3'));
    await rm(join(stateDir, 'python-3.12.8', 'lib', 'python3.12', 'os.py'));
    const refused = { code: 'CPY_INSTALL_BROKEN', message: `CPython 3.12.8 in ${join(stateDir, 'python-3.12.8')} is damaged (lib/python3.12/os.py is missing): it is not made the one python3 runs` };
    await expect(useVersion('3.12.8', useLayout)).rejects.toMatchObject(refused);
    await expect(rollback(useLayout)).rejects.toMatchObject(refused);
    expect(await readlink(join(binDir, 'python3'))).toBe(before);
    expect((await listInstalled(useLayout)).map((r) => [r.version, r.current, r.damage])).toEqual([
      ['3.12.8', false, 'lib/python3.12/os.py'],
      ['3.13.5', true, null],
    ]);
  });

  it('the current version installed again at another prefix without being made current (--no-activate): current and its links follow its one entry to the new tree (they stayed on a tree cpy no longer listed)', async () => {
    const { binDir, layout } = await installedSideBySide(['3.12.8', '3.13.5']);
    /** A tree of `version` at `prefix` (this host's python3, its marker and landmark), recorded and not made current. */
    const recordedAside = async (version: string, prefix: string) => {
      await mkdir(join(prefix, 'bin'), { recursive: true });
      await symlink(hostPython3, join(prefix, 'bin', 'python3'));
      await markTree(prefix, version);
      await recordInstall(layout, version, prefix, false, { timeoutMs: 1000 });
    };
    const moved = join(stateDir, 'elsewhere-3.13.5');
    await recordedAside('3.13.5', moved);
    expect(await readlink(join(stateDir, 'current'))).toBe(moved);
    expect(await readlink(join(binDir, 'python3'))).toBe(join(moved, 'bin', 'python3'));
    expect((await listInstalled({ stateDir, binDir: null })).map((r) => [r.version, r.prefix, r.current, r.previous])).toEqual([
      ['3.12.8', join(stateDir, 'python-3.12.8'), false, true],
      ['3.13.5', moved, true, false],
    ]);
    // Another version, not made current, stays so.
    await recordedAside('3.14.0', join(stateDir, 'python-3.14.0'));
    expect(await readlink(join(stateDir, 'current'))).toBe(moved);
  });

  it('uninstall told another --bin-dir than the links are in is refused, nothing removed (it removed none of them, and left them all pointing at nothing)', async () => {
    const { binDir } = await installedSideBySide(['3.12.8', '3.13.5']);
    const other = join(stateDir, 'otherbin');
    await mkdir(other);
    const links = await readdir(binDir);
    await expect(uninstall('3.13.5', { stateDir, binDir: other, lockTimeoutMs: 1000, force: true })).rejects.toMatchObject({
      code: 'CPY_INSTALL_BAD_OPTIONS',
      message: `the links are in ${binDir}, where the last install or use made them: uninstall removes them there, not in ${other} (--bin-dir)`,
    });
    expect(await readdir(binDir)).toEqual(links);
    expect((await listInstalled({ stateDir, binDir: null })).map((r) => r.version)).toEqual(['3.12.8', '3.13.5']);
    // The same bin dir through a link is that bin dir (it was refused).
    await symlink(binDir, join(stateDir, 'bin-link'));
    expect(await uninstall('3.13.5', { stateDir, binDir: join(stateDir, 'bin-link'), lockTimeoutMs: 1000, force: true })).toMatchObject({ version: '3.13.5', wasCurrent: true });
    expect(existsSync(join(binDir, 'python3'))).toBe(false);
  });

  it('the repair of a version whose prefix was deleted by hand is to install it again or forget it (it said to delete the prefix first)', () => {
    const gone = join(stateDir, 'python-3.13.5');
    expect(repairHint('3.13.5', gone)).toBe(`${gone} is gone: install it again (cpy install 3.13.5 --prefix ${gone}), or forget it (cpy uninstall 3.13.5)`);
  });

  it('a repair installs at the prefix recorded (cpy install <version> alone installed at the default one, and what names that prefix stayed broken): said by cpy list, use and the script alike', async () => {
    const layout = { stateDir, binDir: null, lockTimeoutMs: 1000 };
    const installLayout = { stateDir, binDir: null, cacheDir: join(stateDir, 'cache'), prefixFor: (v: string) => join(stateDir, `python-${v}`) };
    const custom = join(stateDir, 'opt', 'py313');
    await mkdir(dirname(custom), { recursive: true });
    await rename(await installed('3.13.5'), custom);
    await recordInstall(installLayout, '3.13.5', custom, true, { timeoutMs: 1000 });
    await rm(join(custom, 'lib'), { recursive: true });
    const [row] = await listInstalled(layout);
    expect(repairHint(row!.version, row!.prefix, row!.holds)).toBe(`install it again (cpy install 3.13.5 --prefix ${custom}): its tree is replaced`);
    await expect(useVersion('3.13.5', layout)).rejects.toMatchObject({ code: 'CPY_INSTALL_BROKEN', hint: `install it again (cpy install 3.13.5 --prefix ${custom}): its tree is replaced; python3 still runs what it ran` });
    await rm(custom, { recursive: true });
    expect(repairHint('3.13.5', custom)).toBe(`${custom} is gone: install it again (cpy install 3.13.5 --prefix ${custom}), or forget it (cpy uninstall 3.13.5)`);
  });

  it('a version whose prefix holds another version now (installed over it, its record not written: a full disk, a kill) is broken: listed so, never used nor rolled back to (it switched, said it used it, and python3 ran the other)', async () => {
    const { binDir } = await installedSideBySide(['3.12.8', '3.13.4']);
    const layout = { stateDir, binDir, lockTimeoutMs: 1000 };
    const shared = join(stateDir, 'python-3.12.8');
    // 3.13.5 renamed into 3.12.8's prefix, and recorded nowhere.
    await writeFile(join(shared, MARKER_FILE), marker('3.13.5'));
    const row = (await listInstalled(layout)).find((r) => r.version === '3.12.8')!;
    expect(row).toMatchObject({ marker: null, holds: '3.13.5' });
    const hint = `${shared} holds CPython 3.13.5 now: forget 3.12.8 (cpy uninstall 3.12.8; that tree stays), and record 3.13.5 there (cpy install 3.13.5 --prefix ${shared})`;
    expect(repairHint(row.version, row.prefix, row.holds)).toBe(hint);
    const refused = { code: 'CPY_INSTALL_BROKEN', message: `${shared} (CPython 3.12.8) holds CPython 3.13.5 now: it is not made the one python3 runs`, hint };
    await expect(useVersion('3.12.8', layout)).rejects.toMatchObject(refused);
    await expect(useVersion('3.12', layout)).rejects.toMatchObject(refused);
    await expect(rollback(layout)).rejects.toMatchObject(refused);
    // The script says the same (install.sh and a use whose library check a race got past).
    await expect(runStateScript('use', { 'state-dir': stateDir, 'bin-dir': binDir, version: '3.12.8' }, z.object({}), [hostPython3])).rejects.toMatchObject(refused);
    expect(await readlink(join(binDir, 'python3'))).toBe(join(stateDir, 'python-3.13.4', 'bin', 'python3'));
    // Its uninstall forgets it, and leaves the tree there.
    await uninstall('3.12.8', layout);
    expect(existsSync(join(shared, MARKER_FILE))).toBe(true);
  });

  it('a release line answers with its newest install that can start (cpy use 3.13 chose a damaged 3.13.5 over a whole 3.13.4 and failed); the current version damaged is not "already used"', async () => {
    const { binDir } = await installedSideBySide(['3.13.4', '3.13.5']);
    const layout = { stateDir, binDir, lockTimeoutMs: 1000 };
    await rm(join(stateDir, 'python-3.13.5', 'lib'), { recursive: true });
    expect(await useVersion('3.13.5', layout).catch((e: { code: string }) => e.code)).toBe('CPY_INSTALL_BROKEN');
    expect(await useVersion('3.13', layout)).toMatchObject({ version: '3.13.4', from: '3.13.5' });
    // Current and damaged: refused, not "already using".
    await rm(join(stateDir, 'python-3.13.4', 'lib'), { recursive: true });
    await expect(useVersion('3.13.4', layout)).rejects.toMatchObject({ code: 'CPY_INSTALL_BROKEN' });
  });

  it('a previous version that is the current one (installed at its prefix, a use killed between its steps) is nothing to roll back to: the rollback said it had rolled back', async () => {
    const { binDir } = await installedSideBySide(['3.12.8', '3.13.5']);
    const state = JSON.parse(await readFile(join(stateDir, STATE_FILE), 'utf8'));
    await writeFile(join(stateDir, STATE_FILE), JSON.stringify({ ...state, previous: '3.13.5' }));
    await expect(rollback({ stateDir, binDir, lockTimeoutMs: 1000 })).rejects.toMatchObject({ code: 'CPY_INSTALL_NOTHING_TO_ROLL_BACK', message: 'the previous version recorded, 3.13.5, is the current one' });
  });

  it('a release line whose one install is broken is said to be broken, not "not installed"; what is installed is listed in version order', async () => {
    const layout = { stateDir, binDir: null, lockTimeoutMs: 1000 };
    const installLayout = { stateDir, binDir: null, cacheDir: join(stateDir, 'cache'), prefixFor: (v: string) => join(stateDir, `python-${v}`) };
    for (const version of ['3.13.5', '3.9.1']) await recordInstall(installLayout, version, await installed(version), true, { timeoutMs: 1000 });
    await rm(join(stateDir, 'python-3.9.1', MARKER_FILE));
    await expect(useVersion('3.9', layout)).rejects.toMatchObject({ code: 'CPY_INSTALL_BROKEN', message: `${join(stateDir, 'python-3.9.1')} (CPython 3.9.1) is not a complete install` });
    await expect(useVersion('3.11', layout)).rejects.toMatchObject({ code: 'CPY_INSTALL_NOT_INSTALLED', message: 'CPython 3.11 is not installed (installed: 3.9.1, 3.13.5)' });
  });

  it('a bin dir that cannot take the links (a file there): CPY_INSTALL_NOT_WRITABLE before anything changes; it was half a switch (state and current moved, no link) and a traceback', async () => {
    const binDir = join(stateDir, 'bin');
    const layout = { stateDir, binDir, lockTimeoutMs: 1000 };
    const installLayout = { stateDir, binDir, cacheDir: join(stateDir, 'cache'), prefixFor: (v: string) => join(stateDir, `python-${v}`) };
    const lock = { timeoutMs: 1000 };
    for (const version of ['3.12.8', '3.13.5']) await recordInstall(installLayout, version, await installed(version), true, lock);
    await rm(binDir, { recursive: true });
    await writeFile(binDir, 'notes\n');
    const before = await readFile(join(stateDir, STATE_FILE), 'utf8');
    for (const run of [() => useVersion('3.12.8', layout), () => rollback(layout), () => useVersion('3.13.5', layout)]) {
      await expect(run()).rejects.toMatchObject({ code: 'CPY_INSTALL_NOT_WRITABLE', message: `cannot make the python3 links in ${binDir}: it is not a directory`, hint: expect.stringContaining('--bin-dir') });
      expect(await readFile(join(stateDir, STATE_FILE), 'utf8')).toBe(before);
      expect(await readlink(join(stateDir, 'current'))).toBe(join(stateDir, 'python-3.13.5'));
    }
    // The links back: the current version is current, and use says it made them.
    await rm(binDir);
    expect(await useVersion('3.13.5', layout)).toEqual({ version: '3.13.5', prefix: join(stateDir, 'python-3.13.5'), from: '3.13.5', relinked: true });
    expect(await useVersion('3.13.5', layout)).toEqual({ version: '3.13.5', prefix: join(stateDir, 'python-3.13.5'), from: '3.13.5', relinked: false });
  });
});

describe('recording an install: --no-link while cpy\'s links run the current version, and links half made', () => {
  const tree = async (version: string, name = `python-${version}`): Promise<string> => {
    const prefix = join(stateDir, name);
    await mkdir(join(prefix, 'bin'), { recursive: true });
    await symlink(hostPython3, join(prefix, 'bin', 'python3'));
    await markTree(prefix, version);
    return prefix;
  };
  const binDir = () => join(stateDir, 'bin');
  const linked = () => ({ stateDir, binDir: binDir(), cacheDir: join(stateDir, 'cache'), prefixFor: (v: string) => join(stateDir, `python-${v}`) });
  const unlinked = () => ({ ...linked(), binDir: null });
  const lock = { timeoutMs: 1000 };

  it('another version is recorded and not made current: python3 and cpy go on saying the same version, and cpy use switches', async () => {
    const old = await tree('3.12.8');
    await recordInstall(linked(), '3.12.8', old, true, lock);
    const fresh = await tree('3.13.5');
    expect(await recordInstall(unlinked(), '3.13.5', fresh, true, lock)).toEqual({ current: false, left: null, held: { version: '3.12.8', binDir: binDir() } });
    expect(await readlink(join(stateDir, 'current'))).toBe(old);
    expect(await readlink(join(binDir(), 'python3'))).toBe(join(old, 'bin', 'python3'));
    expect((await listInstalled({ stateDir, binDir: null })).map((r) => [r.version, r.current])).toEqual([['3.12.8', true], ['3.13.5', false]]);
    // Asked again, it is said again without the state lock (held here by someone else) or a python3.
    const again = await withLock(join(stateDir, 'locks', 'state.lock'), { timeoutMs: 1000 }, () => recordInstall(unlinked(), '3.13.5', fresh, true, { timeoutMs: 50 }));
    expect(again).toEqual({ current: false, left: null, held: { version: '3.12.8', binDir: binDir() } });
    // The rollback target is untouched (nothing switched), and cpy use links the new one.
    expect((await readState(stateDir)).previous).toBeNull();
    expect(await useVersion('3.13.5', { stateDir, binDir: binDir(), lockTimeoutMs: 1000 })).toMatchObject({ version: '3.13.5', from: '3.12.8' });
    expect(await readlink(join(binDir(), 'python3'))).toBe(join(fresh, 'bin', 'python3'));
  });

  it('a link a killed run left half made (<link>.tmp-<8 hex>) is removed by the next one that makes the link; a file of that name is not cpy\'s and stays', async () => {
    const old = await tree('3.12.8');
    await mkdir(binDir(), { recursive: true });
    await symlink(join(old, 'bin', 'python3'), join(binDir(), 'python3.tmp-0a1b2c3d'));
    await symlink(old, join(stateDir, 'current.tmp-deadbeef'));
    await writeFile(join(binDir(), 'pip3.tmp-0a1b2c3d'), 'mine\n');
    await recordInstall(linked(), '3.12.8', old, true, lock);
    expect((await readdir(binDir())).filter((n) => n.includes('.tmp-'))).toEqual(['pip3.tmp-0a1b2c3d']);
    expect((await readdir(stateDir)).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('with no links recorded, the install is made current as before', async () => {
    await recordInstall(unlinked(), '3.12.8', await tree('3.12.8'), true, lock);
    const fresh = await tree('3.13.5');
    expect(await recordInstall(unlinked(), '3.13.5', fresh, true, lock)).toEqual({ current: true, left: null });
    expect(await readlink(join(stateDir, 'current'))).toBe(fresh);
  });

  it('the same version at another prefix: its entry moves, and the warning says python3 still runs the old tree', async () => {
    const old = await tree('3.13.5');
    await recordInstall(linked(), '3.13.5', old, true, lock);
    const moved = await tree('3.13.5', 'elsewhere');
    expect(await recordInstall(unlinked(), '3.13.5', moved, true, lock)).toEqual({ current: true, left: old, stillLinked: binDir() });
    expect(await readlink(join(binDir(), 'python3'))).toBe(join(old, 'bin', 'python3'));
  });
});

/** A tree as make install leaves it: python3.X, pip3.X, python3.X-config (or the `programs` given) beside python3. */
async function lineTree(version: string, programs = ['python', 'pip', 'python%s-config']): Promise<string> {
  const prefix = join(stateDir, `python-${version}`);
  const line = version.split('.').slice(0, 2).join('.');
  await mkdir(join(prefix, 'bin'), { recursive: true });
  await symlink(hostPython3, join(prefix, 'bin', 'python3'));
  for (const p of programs) await writeFile(join(prefix, 'bin', p.includes('%s') ? p.replace('%s', line) : `${p}${line}`), '#!/bin/sh\n', { mode: 0o755 });
  await markTree(prefix, version);
  return prefix;
}

/** The links named for release lines in `binDir`: name -> target under stateDir. */
async function lineLinks(binDir: string): Promise<Record<string, string>> {
  const seen: Record<string, string> = {};
  for (const name of (await readdir(binDir)).filter((n) => /^(python|pip)\d+\.\d+/.test(n)).sort()) {
    seen[name] = await readlink(join(binDir, name)).then((t) => t.slice(stateDir.length + 1), () => '(not a link)');
  }
  return seen;
}
const p = (version: string, name: string) => `python-${version}/bin/${name}`;

describe('the install record writer (cpy_state.py)', () => {
  it('makes the links the library looks at to see that an install already there needs nothing written', async () => {
    const script = await readFile(STATE_SCRIPT, 'utf8');
    const table = /^LINKS = \(\n([\s\S]*?)^\)/m.exec(script)?.[1] ?? '';
    expect([...table.matchAll(/\('([^']+)', '([^']+)'\)/g)].map((m) => [m[1], m[2]])).toEqual(LINKS);
  });

  it('keeps the links in the bin dir the last install or use made them in: use and uninstall told none find them there; another bin dir moves them', async () => {
    const [a, b] = [join(stateDir, 'a-bin'), join(stateDir, 'b-bin')];
    const lock = { timeoutMs: 1000 };
    const prefix = (v: string) => join(stateDir, `python-${v}`);
    const installLayout = { stateDir, binDir: a, cacheDir: join(stateDir, 'cache'), prefixFor: prefix };
    for (const v of ['3.12.8', '3.13.5']) {
      await mkdir(join(prefix(v), 'bin'), { recursive: true });
      await symlink(hostPython3, join(prefix(v), 'bin', 'python3'));
      await markTree(prefix(v), v);
      await recordInstall(installLayout, v, prefix(v), true, lock);
    }
    expect((await readState(stateDir)).binDir).toBe(a);
    // Told no bin dir (the default would be $CPY_HOME/bin): the links in a.
    const told = { stateDir, lockTimeoutMs: 1000, env: { CPY_HOME: join(stateDir, 'home') } };
    expect(await useVersion('3.12.8', told)).toEqual({ version: '3.12.8', prefix: prefix('3.12.8'), from: '3.13.5', relinked: true });
    expect(await readlink(join(a, 'python3'))).toBe(join(prefix('3.12.8'), 'bin', 'python3'));
    expect(existsSync(join(stateDir, 'home'))).toBe(false);
    // Someone else's link in a stays when the links move to b.
    await symlink(hostPython3, join(a, 'python3.11'));
    expect(await useVersion('3.13.5', { ...told, binDir: b })).toMatchObject({ version: '3.13.5', movedFrom: a, relinked: true });
    expect((await readdir(a)).sort()).toEqual(['python3.11']);
    expect(await readlink(join(b, 'python3'))).toBe(join(prefix('3.13.5'), 'bin', 'python3'));
    expect((await readState(stateDir)).binDir).toBe(b);
    expect(await useVersion('3.13.5', told)).toEqual({ version: '3.13.5', prefix: prefix('3.13.5'), from: '3.13.5', relinked: false });
    expect(await uninstall('3.13.5', { ...told, force: true })).toMatchObject({ wasCurrent: true, binDir: b, unlinked: ['python3', 'python'] });
    expect(await readdir(b)).toEqual([]);
  });

  it('links: a move into a bin dir with someone else\'s python3 is refused, an install not made current leaves them where they are, and uninstall takes every link into its tree', async () => {
    const [a, x] = [join(stateDir, 'a-bin'), join(stateDir, 'x-bin')];
    const lock = { timeoutMs: 1000 };
    const installLayout = (binDir: string | null) => ({ stateDir, binDir, cacheDir: join(stateDir, 'cache'), prefixFor: (v: string) => join(stateDir, `python-${v}`) });
    await recordInstall(installLayout(a), '3.13.5', await lineTree('3.13.5'), true, lock);
    // Moving the links into x, where python3 is someone else's: refused, nothing moved.
    await mkdir(x);
    await writeFile(join(x, 'python3'), 'theirs\n');
    await expect(useVersion('3.13.5', { stateDir, binDir: x, lockTimeoutMs: 1000 })).rejects.toMatchObject({ code: 'CPY_INSTALL_BIN_CONFLICT' });
    await expect(recordInstall(installLayout(x), '3.13.5', join(stateDir, 'python-3.13.5'), true, lock)).rejects.toMatchObject({ code: 'CPY_INSTALL_BIN_CONFLICT' });
    expect(await readlink(join(a, 'python3'))).toBe(join(stateDir, 'python-3.13.5', 'bin', 'python3'));
    expect((await readState(stateDir)).binDir).toBe(a);
    // Another line installed without being made current, told x: its links go where the others are.
    await recordInstall(installLayout(x), '3.12.8', await lineTree('3.12.8'), false, lock);
    expect((await lineLinks(a))['python3.12']).toBe(p('3.12.8', 'python3.12'));
    expect(await readdir(x)).toEqual(['python3']);
    // Someone else's python3.13 beside cpy's links: use of the current version has nothing to do,
    // and does not run the script (the `current` link is not made again).
    const told = { stateDir, lockTimeoutMs: 1000, env: { CPY_HOME: join(stateDir, 'home') } };
    await rm(join(a, 'python3.13'));
    await writeFile(join(a, 'python3.13'), 'theirs\n');
    const current = (await lstat(join(stateDir, 'current'))).ino;
    expect(await useVersion('3.13.5', told)).toMatchObject({ relinked: false });
    expect((await lstat(join(stateDir, 'current'))).ino).toBe(current);
    // Another line's link removed by hand: use of the current version makes it again.
    await rm(join(a, 'python3.12'));
    expect(await useVersion('3.13.5', told)).toMatchObject({ relinked: true });
    expect((await lineLinks(a))['python3.12']).toBe(p('3.12.8', 'python3.12'));
    // A --no-link install of another version while python3 runs 3.13.5 leaves 3.13.5 current;
    // its uninstall (forced: it is current) removes every link into its tree.
    expect(await recordInstall(installLayout(null), '3.12.8', join(stateDir, 'python-3.12.8'), true, lock)).toMatchObject({ current: false, held: { version: '3.13.5', binDir: a } });
    expect((await uninstall('3.13.5', { ...told, force: true })).unlinked.sort()).toEqual(['pip3.13', 'python', 'python3', 'python3.13-config']);
    expect((await readdir(a)).sort()).toEqual(['pip3.12', 'python3.12', 'python3.12-config', 'python3.13']);
    expect(await readFile(join(a, 'python3.13'), 'utf8')).toBe('theirs\n');
  });

  it('links named for a line whose newest tree was deleted by hand point at the line\'s other install', async () => {
    const binDir = join(stateDir, 'bin');
    const installLayout = { stateDir, binDir, cacheDir: join(stateDir, 'cache'), prefixFor: (v: string) => join(stateDir, `python-${v}`) };
    await recordInstall(installLayout, '3.13.4', await lineTree('3.13.4'), true, { timeoutMs: 1000 });
    await recordInstall(installLayout, '3.13.5', await lineTree('3.13.5'), false, { timeoutMs: 1000 });
    await recordInstall(installLayout, '3.12.8', await lineTree('3.12.8'), true, { timeoutMs: 1000 });
    expect((await lineLinks(binDir))['python3.13']).toBe(p('3.13.5', 'python3.13'));
    await rm(join(stateDir, 'python-3.13.5'), { recursive: true });
    await useVersion('3.12.8', { stateDir, binDir, lockTimeoutMs: 1000 });
    expect((await lineLinks(binDir))['python3.13']).toBe(p('3.13.4', 'python3.13'));
  });

  it('another line installed over a version at its prefix (an upgrade in place): the links named for the replaced line point at its other install, or with none go (they were left leading nowhere)', async () => {
    const binDir = join(stateDir, 'bin');
    const installLayout = { stateDir, binDir, cacheDir: join(stateDir, 'cache'), prefixFor: (v: string) => join(stateDir, `python-${v}`) };
    const lock = { timeoutMs: 1000 };
    await recordInstall(installLayout, '3.12.7', await lineTree('3.12.7'), false, lock);
    // 3.12.8 at a shared prefix, then 3.13.5's tree in its place (as an install renames it there).
    const shared = await lineTree('3.12.8');
    await recordInstall(installLayout, '3.12.8', shared, true, lock);
    expect((await lineLinks(binDir))['python3.12']).toBe(p('3.12.8', 'python3.12'));
    await rm(shared, { recursive: true });
    await rename(await lineTree('3.13.5'), shared);
    await writeFile(join(shared, MARKER_FILE), marker('3.13.5'));
    expect(await recordInstall(installLayout, '3.13.5', shared, true, lock)).toMatchObject({ replaced: ['3.12.8'] });
    // python3.12 and its pip and config ran 3.12.8's programs, gone with its tree: now 3.12.7's.
    expect(await lineLinks(binDir)).toEqual({
      'pip3.12': p('3.12.7', 'pip3.12'),
      'pip3.13': p('3.12.8', 'pip3.13'),
      'python3.12': p('3.12.7', 'python3.12'),
      'python3.12-config': p('3.12.7', 'python3.12-config'),
      'python3.13': p('3.12.8', 'python3.13'),
      'python3.13-config': p('3.12.8', 'python3.13-config'),
    });
    // With no other install of the line, they go.
    await uninstall('3.12.7', { stateDir, lockTimeoutMs: 1000 });
    const again = await lineTree('3.14.0');
    await rm(shared, { recursive: true });
    await rename(again, shared);
    await writeFile(join(shared, MARKER_FILE), marker('3.14.0'));
    await recordInstall(installLayout, '3.14.0', shared, true, lock);
    expect(Object.keys(await lineLinks(binDir))).toEqual(['pip3.14', 'python3.14', 'python3.14-config']);
    // --no-link changes no link, replacing too.
    const before = await lineLinks(binDir);
    const last = await lineTree('3.15.0');
    await rm(shared, { recursive: true });
    await rename(last, shared);
    await writeFile(join(shared, MARKER_FILE), marker('3.15.0'));
    expect(await recordInstall({ ...installLayout, binDir: null }, '3.15.0', shared, false, lock)).toMatchObject({ replaced: ['3.14.0'] });
    expect(await lineLinks(binDir)).toEqual(before);
  });

  it('names the links for a release line as the library looks for them', async () => {
    const script = await readFile(STATE_SCRIPT, 'utf8');
    const table = /^VERSIONED_LINKS = \(([^)]*)\)/m.exec(script)?.[1] ?? '';
    expect([...table.matchAll(/'([^']+)'/g)].map((m) => m[1])).toEqual(VERSIONED_LINKS);
  });

  it('links python3.X, pip3.X and python3.X-config for every installed line: the current install for its line, the newest for the others; an uninstall moves them to what is left', async () => {
    const binDir = join(stateDir, 'bin');
    const layout = { stateDir, binDir, lockTimeoutMs: 1000 };
    const installLayout = { ...layout, cacheDir: join(stateDir, 'cache'), prefixFor: (v: string) => join(stateDir, `python-${v}`) };
    const lock = { timeoutMs: 1000 };
    const tree = lineTree;
    const links = () => lineLinks(binDir);

    await recordInstall(installLayout, '3.13.5', await tree('3.13.5'), true, lock);
    expect(await links()).toEqual({ 'pip3.13': p('3.13.5', 'pip3.13'), 'python3.13': p('3.13.5', 'python3.13'), 'python3.13-config': p('3.13.5', 'python3.13-config') });
    // Another line, installed without making it current (for tox and nox): its links, and python3 stays.
    await recordInstall(installLayout, '3.12.8', await tree('3.12.8', ['python']), false, lock);
    expect(await readlink(join(binDir, 'python3'))).toBe(join(stateDir, 'python-3.13.5', 'bin', 'python3'));
    expect(await links()).toMatchObject({ 'python3.12': p('3.12.8', 'python3.12'), 'python3.13': p('3.13.5', 'python3.13') });
    expect(Object.keys(await links())).not.toContain('pip3.12');
    // An older 3.13 made current takes its line's links; the newest does not take them back while it is not current.
    await recordInstall(installLayout, '3.13.4', await tree('3.13.4'), true, lock);
    expect(await links()).toEqual({
      'pip3.13': p('3.13.4', 'pip3.13'),
      'python3.12': p('3.12.8', 'python3.12'),
      'python3.13': p('3.13.4', 'python3.13'),
      'python3.13-config': p('3.13.4', 'python3.13-config'),
    });
    await useVersion('3.12.8', layout);
    expect((await links())['python3.13']).toBe(p('3.13.5', 'python3.13'));
    expect(await useVersion('3.12.8', layout)).toMatchObject({ relinked: false });
    // The current line's link removed by hand is made again by use, which says so.
    await rm(join(binDir, 'python3.12'));
    expect(await useVersion('3.12.8', layout)).toMatchObject({ relinked: true });
    expect((await links())['python3.12']).toBe(p('3.12.8', 'python3.12'));
    // Uninstalled: the line's links move to what is left of it, and go with its last install.
    expect(await uninstall('3.13.5', layout)).toMatchObject({ unlinked: [] });
    expect(await links()).toEqual({
      'pip3.13': p('3.13.4', 'pip3.13'),
      'python3.12': p('3.12.8', 'python3.12'),
      'python3.13': p('3.13.4', 'python3.13'),
      'python3.13-config': p('3.13.4', 'python3.13-config'),
    });
    expect((await uninstall('3.13.4', layout)).unlinked.sort()).toEqual(['pip3.13', 'python3.13', 'python3.13-config']);
    expect(await links()).toEqual({ 'python3.12': p('3.12.8', 'python3.12') });
    // Someone else's python3.11 is left as it is, and refuses nothing.
    await writeFile(join(binDir, 'python3.11'), 'theirs\n');
    await recordInstall(installLayout, '3.11.9', await tree('3.11.9'), false, lock);
    expect(await readFile(join(binDir, 'python3.11'), 'utf8')).toBe('theirs\n');
    expect((await links())['pip3.11']).toBe(p('3.11.9', 'pip3.11'));
  });

  it('a version recorded again at another prefix says which tree it leaves unlisted (none when that tree is gone)', async () => {
    const binDir = join(stateDir, 'bin');
    const layout = { stateDir, binDir, cacheDir: join(stateDir, 'cache'), prefixFor: (v: string) => join(stateDir, `python-${v}`) };
    const tree = async (name: string) => {
      const prefix = join(stateDir, name);
      await mkdir(join(prefix, 'bin'), { recursive: true });
      await symlink(hostPython3, join(prefix, 'bin', 'python3'));
      await markTree(prefix, '3.13.5');
      return prefix;
    };
    const [a, b, c] = [await tree('a'), await tree('b'), await tree('c')];
    expect(await recordInstall(layout, '3.13.5', a, true, { timeoutMs: 1000 })).toEqual({ current: true, left: null });
    // The same tree by another name (a link to it) leaves nothing behind.
    await symlink(a, join(stateDir, 'a-link'));
    expect(await recordInstall(layout, '3.13.5', join(stateDir, 'a-link'), true, { timeoutMs: 1000 })).toEqual({ current: true, left: null });
    expect(await recordInstall(layout, '3.13.5', a, true, { timeoutMs: 1000 })).toEqual({ current: true, left: null });
    expect(await recordInstall(layout, '3.13.5', b, true, { timeoutMs: 1000 })).toEqual({ current: true, left: a });
    expect((await readState(stateDir)).installs['3.13.5']).toEqual({ prefix: b });
    await rm(b, { recursive: true });
    expect(await recordInstall(layout, '3.13.5', c, true, { timeoutMs: 1000 })).toEqual({ current: true, left: null });
  });

  it('a link removed by hand is made again by the next install of the version already there', async () => {
    const binDir = join(stateDir, 'bin');
    const prefix = join(stateDir, 'python-3.13.5');
    await mkdir(join(prefix, 'bin'), { recursive: true });
    await symlink(hostPython3, join(prefix, 'bin', 'python3'));
    await writeFile(join(prefix, 'bin', 'pip3'), '#!/bin/sh\n', { mode: 0o755 });
    await markTree(prefix, '3.13.5');
    const layout = { stateDir, binDir, cacheDir: join(stateDir, 'cache'), prefixFor: () => prefix };
    expect(await recordInstall(layout, '3.13.5', prefix, true, { timeoutMs: 1000 })).toEqual({ current: true, left: null });
    await rm(join(binDir, 'pip'));
    expect(await recordInstall(layout, '3.13.5', prefix, true, { timeoutMs: 1000 })).toEqual({ current: true, left: null });
    expect(await readlink(join(binDir, 'pip'))).toBe(join(prefix, 'bin', 'pip3'));
    expect(await readlink(join(binDir, 'python3'))).toBe(join(prefix, 'bin', 'python3'));
  });

  it('an uninstall interrupted (Ctrl-C to the process group) once the tree is renamed away finishes: no hidden copy of the tree left, the state without it', async () => {
    const binDir = join(stateDir, 'bin');
    const prefix = join(stateDir, 'python-3.12.8');
    const layout = { stateDir, binDir, cacheDir: join(stateDir, 'cache'), prefixFor: () => prefix };
    await mkdir(join(prefix, 'bin'), { recursive: true });
    await symlink(hostPython3, join(prefix, 'bin', 'python3'));
    await markTree(prefix, '3.12.8');
    // Enough files that deleting them takes a while.
    for (let d = 0; d < 20; d++) {
      await mkdir(join(prefix, 'lib', `d${d}`), { recursive: true });
      await Promise.all(Array.from({ length: 200 }, (_, f) => writeFile(join(prefix, 'lib', `d${d}`, `f${f}`), 'x')));
    }
    expect(await recordInstall(layout, '3.12.8', prefix, false, { timeoutMs: 1000 })).toEqual({ current: false, left: null });
    const child = spawn(hostPython3, ['-I', '-S', STATE_SCRIPT, 'forget', '--state-dir', stateDir, '--bin-dir', binDir, '--version', '3.12.8', '--prefix', prefix], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = once(child, 'exit');
    // The moment the tree is renamed away: SIGINT, as a terminal's Ctrl-C sends it.
    while (existsSync(prefix)) await new Promise((r) => setImmediate(r));
    child.kill('SIGINT');
    const [code] = await exited;
    expect(code).toBe(0);
    expect((await readdir(stateDir)).filter((n) => n.startsWith('.cpy-old-'))).toEqual([]);
    expect((await readState(stateDir)).installs).toEqual({});
  });

  it('a python3 that cannot run it: CPY_INSTALL_RECORD_FAILED names that python3 and what it said, and nothing is recorded', async () => {
    const prefix = join(stateDir, 'python-3.13.5');
    await mkdir(join(prefix, 'bin'), { recursive: true });
    await writeFile(join(prefix, 'bin', 'python3'), '#!/bin/sh\necho "cannot execute: Exec format error" >&2\nexit 126\n', { mode: 0o755 });
    await markTree(prefix, '3.13.5');
    const layout = { stateDir, binDir: join(stateDir, 'bin'), cacheDir: join(stateDir, 'cache'), prefixFor: () => prefix };
    const error = await recordInstall(layout, '3.13.5', prefix, true, { timeoutMs: 1000 }).catch((e: unknown) => e);
    expect(isCpyError(error, 'CPY_INSTALL_RECORD_FAILED')).toBe(true);
    expect((error as Error).message).toBe(`the install record (record) failed with ${join(prefix, 'bin', 'python3')}: cannot execute: Exec format error`);
    expect((error as { hint: string }).hint).toContain(`check that ${join(prefix, 'bin', 'python3')} runs`);
    expect(existsSync(join(stateDir, STATE_FILE))).toBe(false);
    expect(existsSync(join(stateDir, 'bin'))).toBe(false);
  });

  it('a version whose tree was deleted by hand is uninstalled: its entry goes, the current version and its links stay', async () => {
    const { binDir } = await installedSideBySide(['3.12.8', '3.13.5']);
    await rm(join(stateDir, 'python-3.12.8'), { recursive: true });
    expect(await uninstall('3.12.8', { stateDir, binDir, lockTimeoutMs: 1000 })).toEqual({ version: '3.12.8', prefix: join(stateDir, 'python-3.12.8'), wasCurrent: false, unlinked: [], binDir, kept: false, warnings: [] });
    expect(await readState(stateDir)).toEqual({ schemaVersion: 1, installs: { '3.13.5': { prefix: join(stateDir, 'python-3.13.5') } }, previous: null, binDir });
    expect(await readlink(join(binDir, 'python3'))).toBe(join(stateDir, 'python-3.13.5', 'bin', 'python3'));
  });

  it('a version that python3 in the bin dir runs, though another is current (a link made by hand), is refused as in use, and removed with its links by --force (python3 was left running nothing)', async () => {
    const { binDir } = await installedSideBySide(['3.12.8', '3.13.5']);
    const old = join(stateDir, 'python-3.12.8');
    await rm(join(binDir, 'python3'));
    await symlink(join(old, 'bin', 'python3'), join(binDir, 'python3'));
    expect(await uninstall('3.12.8', { stateDir, binDir, lockTimeoutMs: 1000 }).catch((e: unknown) => e)).toMatchObject({
      code: 'CPY_INSTALL_IN_USE',
      message: `CPython 3.12.8 is what ${join(binDir, 'python3')} runs (the link leads into ${old}), though the current version is 3.13.5`,
      hint: 'point python3 at the current version first (cpy use <version>), or pass --force to remove it and its links',
    });
    expect(existsSync(join(old, 'bin', 'python3'))).toBe(true);
    expect(await uninstall('3.12.8', { stateDir, binDir, lockTimeoutMs: 1000, force: true })).toMatchObject({ version: '3.12.8', wasCurrent: false, unlinked: ['python3'] });
    expect(existsSync(old)).toBe(false);
  });

  it('the current version linked from elsewhere (no python3 link to it in the bin dir) is removed with a warning, in the result as on stderr', async () => {
    const { binDir } = await installedSideBySide(['3.12.8', '3.13.5']);
    await rm(join(binDir, 'python3'));
    const r = await uninstall('3.13.5', { stateDir, binDir, lockTimeoutMs: 1000, force: true });
    expect(r).toMatchObject({ version: '3.13.5', wasCurrent: true, kept: false });
    expect(r.warnings).toEqual([`no python3 link to it was in ${binDir}; links to it made elsewhere now point at nothing: remove them`]);
  });

  it('a version that is not installed is said so with what is, without a python3 to run anything (none is left where it looked)', async () => {
    await installedSideBySide(['3.12.8', '3.13.5']);
    // The current version removed with its tree by hand, the other one's python3 gone too.
    await rm(join(stateDir, 'python-3.13.5'), { recursive: true });
    await rm(join(stateDir, 'python-3.12.8', 'bin', 'python3'));
    await expect(uninstall('3.11.4', { stateDir, binDir: null, lockTimeoutMs: 1000 })).rejects.toMatchObject({
      code: 'CPY_INSTALL_NOT_INSTALLED',
      message: 'CPython 3.11.4 is not installed (installed: 3.12.8, 3.13.5)',
      hint: 'nothing to remove: cpy list shows what is installed',
    });
  });

  it("a version whose marker is gone (other files in its place, or the marker deleted): its entry and links go, the files stay, said", async () => {
    const { binDir, layout } = await installedSideBySide(['3.12.8', '3.13.5']);
    const prefix = join(stateDir, 'python-3.13.5');
    await rm(join(prefix, MARKER_FILE));
    await writeFile(join(prefix, 'notes.txt'), 'mine\n');
    expect(await uninstall('3.13.5', { stateDir, binDir, lockTimeoutMs: 1000 }).catch((e: unknown) => e)).toMatchObject({
      code: 'CPY_INSTALL_IN_USE',
      hint: 'switch first (cpy use <other version>), or pass --force to remove it and its python3 links (its files stay: it has no valid install marker)',
    });
    expect(await uninstall('3.13.5', { stateDir, binDir, lockTimeoutMs: 1000, force: true })).toEqual({
      version: '3.13.5',
      prefix,
      wasCurrent: true,
      unlinked: ['python3', 'python'],
      binDir,
      kept: true,
      warnings: [`${prefix} has no valid install marker, so nothing says its files are still the CPython 3.13.5 cpy installed there: cpy forgot the version and left them; delete that directory yourself if they are`],
    });
    expect(await readFile(join(prefix, 'notes.txt'), 'utf8')).toBe('mine\n');
    expect(existsSync(join(binDir, 'python3'))).toBe(false);
    expect(Object.keys((await readState(stateDir)).installs)).toEqual(['3.12.8']);
    // A prefix that is a link to the tree (moved by hand), its marker there: the tree and the link go.
    const moved = join(stateDir, 'elsewhere', 'python-3.13.5');
    await mkdir(join(moved, 'bin'), { recursive: true });
    await symlink(hostPython3, join(moved, 'bin', 'python3'));
    await markTree(moved, '3.13.5');
    await rm(prefix, { recursive: true });
    await symlink(moved, prefix);
    await recordInstall(layout, '3.13.5', prefix, false, { timeoutMs: 1000 });
    expect(await uninstall('3.13.5', { stateDir, binDir, lockTimeoutMs: 1000 })).toMatchObject({ kept: false, warnings: [] });
    expect([existsSync(moved), existsSync(prefix)]).toEqual([false, false]);
    expect(await readdir(join(stateDir, 'elsewhere'))).toEqual([]);
    // Such a link whose tree was deleted since holds nothing: the link goes too (it was kept, "no valid install marker").
    await symlink(moved, prefix);
    const state = await readState(stateDir);
    await writeFile(join(stateDir, STATE_FILE), JSON.stringify({ ...state, installs: { ...state.installs, '3.13.5': { prefix } } }));
    expect(await uninstall('3.13.5', { stateDir, binDir, lockTimeoutMs: 1000 })).toMatchObject({ kept: false, warnings: [] });
    await expect(lstat(prefix)).rejects.toMatchObject({ code: 'ENOENT' });
    // An empty directory holds nothing of anyone's: removed.
    await rm(join(stateDir, 'python-3.12.8'), { recursive: true });
    await mkdir(join(stateDir, 'python-3.12.8'));
    expect(await uninstall('3.12.8', { stateDir, binDir, lockTimeoutMs: 1000 })).toMatchObject({ kept: false, warnings: [] });
    expect(existsSync(join(stateDir, 'python-3.12.8'))).toBe(false);
  });

  it('uninstalls by release line when one version of it is installed (a broken one too); refuses a line that names two, changing nothing', async () => {
    const { binDir } = await installedSideBySide(['3.12.8', '3.13.4', '3.14.0rc2', '3.14.0', '3.13.5']);
    const options = { stateDir, binDir, lockTimeoutMs: 1000 };
    const before = await readState(stateDir);
    const two = await uninstall('3.13', options).catch((e: unknown) => e);
    expect(two).toMatchObject({ code: 'CPY_INSTALL_AMBIGUOUS_VERSION', message: '3.13 names 2 installed versions: 3.13.4, 3.13.5', hint: 'name the one to remove, e.g. cpy uninstall 3.13.5' });
    expect(await readState(stateDir)).toEqual(before);
    expect(existsSync(join(stateDir, 'python-3.13.4'))).toBe(true);
    // Its marker gone (a broken install): still the one 3.12 names.
    await rm(join(stateDir, 'python-3.12.8', MARKER_FILE));
    expect(await uninstall('3.12', options)).toMatchObject({ version: '3.12.8', prefix: join(stateDir, 'python-3.12.8'), wasCurrent: false, unlinked: [], binDir: options.binDir, kept: true });
    expect((await readState(stateDir)).installs['3.12.8']).toBeUndefined();
    expect(await uninstall('3.13.4', options)).toMatchObject({ version: '3.13.4' });
    // One left of the line, and it is the current one: the usual refusal.
    expect(await uninstall('3.13', options).catch((e: unknown) => e)).toMatchObject({ code: 'CPY_INSTALL_IN_USE' });
    // A pre-release counts: 3.14 names 3.14.0rc2 and 3.14.0. Anything but a version or a line is refused.
    expect(await uninstall('3.14', options).catch((e: unknown) => e)).toMatchObject({ code: 'CPY_INSTALL_AMBIGUOUS_VERSION', message: '3.14 names 2 installed versions: 3.14.0rc2, 3.14.0' });
    for (const request of ['latest', '3']) expect(await uninstall(request, options).catch((e: unknown) => e)).toMatchObject({ code: 'CPY_INSTALL_BAD_OPTIONS' });
    expect(await uninstall('3.14.0', options)).toMatchObject({ version: '3.14.0' });
    // A pre-release alone: not what 3.14 names, as for cpy use (it was removed, while use 3.14 said 3.14 was not installed).
    expect(await uninstall('3.14', options).catch((e: unknown) => e)).toMatchObject({
      code: 'CPY_INSTALL_NOT_INSTALLED',
      message: 'no 3.14 release is installed: 3.14.0rc2 is a pre-release, which 3.14 never names',
      hint: 'to remove it, name it: cpy uninstall 3.14.0rc2',
    });
    expect(await uninstall('3.14.0rc2', options)).toMatchObject({ version: '3.14.0rc2' });
    expect(await uninstall('3.11', options).catch((e: unknown) => e)).toMatchObject({ code: 'CPY_INSTALL_NOT_INSTALLED', message: 'CPython 3.11 is not installed (installed: 3.13.5)' });
  });

  it('reads a state.json that is not UTF-8 as install.sh and the library read one that is not JSON: CPY_INSTALL_BROKEN, the file left as it is', async () => {
    await writeFile(join(stateDir, STATE_FILE), Buffer.from([0xff, 0xfe, 0x7b, 0x7d]));
    const error = await runStateScript('use', { 'state-dir': stateDir, 'bin-dir': null, version: '3.13.5' }, z.object({}), []).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CPY_INSTALL_BROKEN', message: expect.stringContaining('(not JSON: not UTF-8 text') });
    expect(await readFile(join(stateDir, STATE_FILE))).toEqual(Buffer.from([0xff, 0xfe, 0x7b, 0x7d]));
  });

  describe('one python3 for an install (cpy_state.py serve)', () => {
    const record = { version: '3.13.5', build: 1, sha256: 'a'.repeat(64), artifact: 'cpython-3.13.5-debian12-build1.tgz', source: 'test', builtFor: '/opt/python-3.13.5' };
    /** A staged tree whose python3 notes each start in `starts`, and where it is renamed to. */
    async function staged(python3 = `#!/bin/sh\necho started >>"${join(stateDir, 'starts')}"\nexec ${hostPython3} "$@"\n`) {
      const tree = join(stateDir, '.cpy-staging-x', 'opt', 'python-3.13.5');
      await mkdir(join(tree, 'bin'), { recursive: true });
      await writeFile(join(tree, 'bin', 'python3'), python3, { mode: 0o755 });
      await writeFile(join(tree, 'bin', 'pip3'), '#!/bin/sh\n', { mode: 0o755 });
      const prefix = join(stateDir, 'python-3.13.5');
      const layout = { stateDir, binDir: join(stateDir, 'bin'), cacheDir: join(stateDir, 'cache'), prefixFor: () => prefix };
      return { tree, prefix, layout };
    }

    it('writes the marker, then the record once the tree it runs from was renamed into place: one start', async () => {
      const { tree, prefix, layout } = await staged();
      const session = openStateSession(tree, join(prefix, 'bin', 'python3'));
      try {
        expect(await writeMarker(layout, tree, record, tree, session)).toMatchObject({ version: '3.13.5', sha256: 'a'.repeat(64) });
        await rename(tree, prefix);
        expect(await recordInstall(layout, '3.13.5', prefix, true, { timeoutMs: 1000 }, session)).toEqual({ current: true, left: null });
      } finally {
        await session.close();
      }
      expect(JSON.parse(await readFile(join(prefix, MARKER_FILE), 'utf8'))).toMatchObject({ version: '3.13.5', builtFor: '/opt/python-3.13.5' });
      expect(await readState(stateDir)).toEqual({ schemaVersion: 1, installs: { '3.13.5': { prefix } }, previous: null, binDir: join(stateDir, 'bin') });
      expect(await readlink(join(stateDir, 'bin', 'pip'))).toBe(join(prefix, 'bin', 'pip3'));
      expect(await readFile(join(stateDir, 'starts'), 'utf8')).toBe('started\n');
    });

    it("a refusal is the CpyError it names, with this caller's hint, and nothing is written", async () => {
      const { tree, prefix, layout } = await staged();
      await mkdir(layout.binDir, { recursive: true });
      await writeFile(join(layout.binDir, 'pip3'), '#!/bin/sh\necho someone else\n', { mode: 0o755 });
      const session = openStateSession(tree, join(prefix, 'bin', 'python3'));
      const error = await writeMarker(layout, tree, record, tree, session).catch((e: unknown) => e);
      await session.close();
      expect(error).toMatchObject({ code: 'CPY_INSTALL_BIN_CONFLICT', details: { path: join(layout.binDir, 'pip3') }, hint: expect.stringContaining('install without links') });
      expect(existsSync(join(tree, MARKER_FILE))).toBe(false);
    });

    it('a python3 that does not start: the marker is refused as validation refuses it, with what the loader said', async () => {
      const { tree, prefix, layout } = await staged('#!/bin/sh\necho "python3: /lib/x86_64-linux-gnu/libc.so.6: version \\`GLIBC_2.38\x27 not found" >&2\nexit 1\n');
      const session = openStateSession(tree, join(prefix, 'bin', 'python3'));
      const error = await writeMarker(layout, tree, record, tree, session).catch((e: unknown) => e);
      await session.close();
      expect(error).toMatchObject({ code: 'CPY_INSTALL_VALIDATION_FAILED', message: expect.stringContaining("python3 does not run: python3: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found") });
      expect(existsSync(join(tree, MARKER_FILE))).toBe(false);
    });

    it('a python3 gone after the marker: CPY_INSTALL_RECORD_FAILED names it where it was renamed to, and nothing is recorded', async () => {
      const { tree, prefix, layout } = await staged();
      const session = openStateSession(tree, join(prefix, 'bin', 'python3'));
      await writeMarker(layout, tree, record, tree, session);
      await rename(tree, prefix);
      await session.close();
      const error = await recordInstall(layout, '3.13.5', prefix, true, { timeoutMs: 1000 }, session).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'CPY_INSTALL_RECORD_FAILED', message: expect.stringMatching(new RegExp(`^the install record \\(record\\) failed with ${join(prefix, 'bin', 'python3')}: it ended \\(exit 0\\)$`)) });
      expect(existsSync(join(stateDir, STATE_FILE))).toBe(false);
    });

    it('closed before any command (an install that failed first), it has exited when close resolves: nothing of it runs on in the tree being deleted', async () => {
      const pidFile = join(stateDir, 'pid');
      const { tree, prefix } = await staged(`#!/bin/sh\necho $$ >"${pidFile}"\nsleep 0.3\nexec ${hostPython3} "$@"\n`);
      const session = openStateSession(tree, join(prefix, 'bin', 'python3'));
      while (!existsSync(pidFile)) await new Promise((r) => setTimeout(r, 10));
      await session.close();
      const pid = Number(await readFile(pidFile, 'utf8'));
      expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    });

    it('runs only mark and record: anything else stops it, with a message', () => {
      const ran = spawnSync(hostPython3, ['-I', '-S', STATE_SCRIPT, 'serve'], { input: '["use", "--version", "3.13.5"]\n', encoding: 'utf8' });
      expect(ran.status).toBe(1);
      expect(ran.stderr).toContain("cpy_state.py serve: runs mark and record, not ['use']");
      expect(ran.stdout).toBe('');
    });
  });
});

import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { canMount, mountSmallDisk } from '@cpy/harness';
import { withLock } from '@cpy/core';
import { listVenvs, readVenv, rollbackVenv, upgradeVenv, type VenvEvent } from '../index.js';
import { exchange, importErrors, keptDistributions, notCarried, readSite, requirement, runsItsPackages, siteDirs } from '../venv.js';

// The upgrade itself needs two real interpreters: tools/e2e (Debian 12's python3 -> the cpy 3.13.5 build).
let work: string;
const cfg = (home: string, version: string) => `home = ${home}\ninclude-system-site-packages = false\nversion = ${version}\n`;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-venvs-'));
  await mkdir(join(work, 'a', '.venv', 'bin'), { recursive: true });
  await writeFile(join(work, 'a', '.venv', 'pyvenv.cfg'), cfg('/usr/bin', '3.11.2'));
  await symlink('/usr/bin/python3', join(work, 'a', '.venv', 'bin', 'python'));
  await mkdir(join(work, 'b', 'envs', 'gone'), { recursive: true });
  await writeFile(join(work, 'b', 'envs', 'gone', 'pyvenv.cfg'), cfg(join(work, 'uninstalled', 'bin'), '3.12.1'));
  // Not listed: too deep, inside node_modules, and what an upgrade keeps beside a venv.
  await mkdir(join(work, 'c', 'd', 'e', 'f'), { recursive: true });
  await writeFile(join(work, 'c', 'd', 'e', 'f', 'pyvenv.cfg'), cfg('/usr/bin', '3.11.2'));
  await mkdir(join(work, 'node_modules', 'x'), { recursive: true });
  await writeFile(join(work, 'node_modules', 'x', 'pyvenv.cfg'), cfg('/usr/bin', '3.11.2'));
  await mkdir(join(work, 'a', '.venv.cpy-previous'), { recursive: true });
  await writeFile(join(work, 'a', '.venv.cpy-previous', 'pyvenv.cfg'), cfg('/usr/bin', '3.10.0'));
  // What an upgrade cut short leaves aside: the venv between the swap's renames, and a kept venv to delete.
  for (const aside of ['.venv.cpy-swap', '.venv.cpy-discard-0123abcd', '.venv.cpy-next']) {
    await mkdir(join(work, 'a', aside), { recursive: true });
    await writeFile(join(work, 'a', aside, 'pyvenv.cfg'), cfg('/usr/bin', '3.10.0'));
  }
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('venvs', () => {
  it('lists the venvs below a directory, with their version and whether their base is still installed', async () => {
    const found = await listVenvs([work], { env: { CPY_HOME: join(work, 'home') } });
    expect(found).toEqual([
      { path: join(work, 'a', '.venv'), version: '3.11.2', home: '/usr/bin', baseInstalled: true, cpyVersion: null },
      { path: join(work, 'b', 'envs', 'gone'), version: '3.12.1', home: join(work, 'uninstalled', 'bin'), baseInstalled: false, cpyVersion: null },
    ]);
  });

  it('refuses what is not a venv, and a rollback with nothing kept', async () => {
    await expect(readVenv(join(work, 'b'))).rejects.toMatchObject({ code: 'CPY_VENV_NOT_A_VENV' });
    // A directory to search that is not there, or a file: said (it was "no venvs found", exit 0).
    await expect(listVenvs([join(work, 'nowhere')])).rejects.toMatchObject({ code: 'CPY_VENV_NOT_FOUND', message: `${join(work, 'nowhere')} does not exist: no venv is looked for there` });
    await expect(listVenvs([join(work, 'a', '.venv', 'pyvenv.cfg')])).rejects.toMatchObject({ code: 'CPY_VENV_NOT_FOUND', message: expect.stringContaining('is not a directory') });
    await expect(rollbackVenv(join(work, 'b', 'envs', 'gone'), { env: { CPY_HOME: join(work, 'home') } })).rejects.toMatchObject({ code: 'CPY_VENV_NOTHING_TO_ROLL_BACK' });
    // A path with nothing there: said so (it was "no pyvenv.cfg", and for rollback "no earlier venv kept").
    await expect(readVenv(join(work, 'b', 'typo'))).rejects.toMatchObject({ code: 'CPY_VENV_NOT_A_VENV', message: `${join(work, 'b', 'typo')} is not a virtual environment (nothing is there)` });
    await expect(rollbackVenv(join(work, 'b', 'typo'), { env: { CPY_HOME: join(work, 'home') } })).rejects.toMatchObject({ code: 'CPY_VENV_NOT_A_VENV', message: expect.stringContaining('(nothing is there, nor a venv an upgrade kept beside it)') });
  });

  it('recovers from an upgrade killed while it wrote its journal: an empty journal counts as none, the half-built venv and the temporary file go', async () => {
    // cpy before 2026-12-02 wrote the journal with a plain writeFile: a kill between creating and
    // writing it left it empty, and every later upgrade or rollback of the venv failed on it.
    const venv = join(work, 'killed', '.venv');
    await mkdir(venv, { recursive: true });
    await writeFile(join(venv, 'pyvenv.cfg'), cfg('/usr/bin', '3.11.2'));
    await mkdir(`${venv}.cpy-next`, { recursive: true });
    await writeFile(join(`${venv}.cpy-next`, 'pyvenv.cfg'), `${cfg('/opt/python-3.13.5/bin', '3.13.5')}cpy-upgrade = 1234
`);
    await writeFile(`${venv}.cpy-upgrade.json`, '');
    await writeFile(`${venv}.cpy-upgrade.json.tmp-5678`, '{"id":');
    // Said by a rollback as an upgrade says it (rollback removed it without a word).
    const phases: string[] = [];
    const onEvent = (e: VenvEvent) => void (e.type === 'phase' && phases.push(`${e.phase}: ${e.detail}`));
    await expect(rollbackVenv(venv, { env: { CPY_HOME: join(work, 'home') }, onEvent })).rejects.toMatchObject({ code: 'CPY_VENV_NOTHING_TO_ROLL_BACK' });
    expect(phases).toEqual([expect.stringMatching(/^recover: what an interrupted upgrade left beside /)]);
    expect((await readdir(join(work, 'killed'))).sort()).toEqual(['.venv']);
    expect((await readVenv(venv)).version).toBe('3.11.2');
  });

  it('says what it finished or undid of an interrupted upgrade, and nothing where there was nothing (a venv that is not there)', async () => {
    const venv = join(work, 'left', '.venv');
    await mkdir(venv, { recursive: true });
    await writeFile(join(venv, 'pyvenv.cfg'), cfg('/usr/bin', '3.11.2'));
    await mkdir(`${venv}.cpy-next`, { recursive: true });
    const phases: string[] = [];
    const options = { to: '3.99', env: { CPY_HOME: join(work, 'home') }, onEvent: (e: VenvEvent) => void (e.type === 'phase' && phases.push(`${e.phase}: ${e.detail}`)) };
    // (A venv with no site-packages: refused once read, after the recovery.)
    await expect(upgradeVenv(venv, options)).rejects.toMatchObject({ code: 'CPY_VENV_BROKEN' });
    expect(phases[0]).toBe(`recover: what an interrupted upgrade left beside ${venv} (.venv.cpy-next) is finished or undone`);
    expect((await readdir(join(work, 'left'))).sort()).toEqual(['.venv']);

    phases.length = 0;
    await expect(upgradeVenv(join(work, 'left', 'gone'), options)).rejects.toMatchObject({ code: 'CPY_VENV_NOT_A_VENV' });
    expect(phases).toEqual([]);
  });

  it('finishes an exchange by renames killed after its second rename: the old venv is kept for rollback, not left aside', async () => {
    // Where renameat2 is missing, the swap is three renames: venv -> .cpy-swap, .cpy-next -> venv,
    // .cpy-swap -> .cpy-next. Killed before the third, the old venv is only in .cpy-swap.
    const venv = join(work, 'renames', '.venv');
    await mkdir(venv, { recursive: true });
    await writeFile(join(venv, 'pyvenv.cfg'), `${cfg('/usr/bin', '3.13.5')}cpy-upgrade = 42\n`);
    await mkdir(`${venv}.cpy-swap`, { recursive: true });
    await writeFile(join(`${venv}.cpy-swap`, 'pyvenv.cfg'), cfg('/usr/bin', '3.11.2'));
    await writeFile(`${venv}.cpy-upgrade.json`, JSON.stringify({ id: '42', from: '3.11.2', to: '3.13.5' }));
    const back = await rollbackVenv(venv, { env: { CPY_HOME: join(work, 'home') } });
    expect(back).toMatchObject({ version: '3.11.2', was: '3.13.5' });
    expect((await readdir(join(work, 'renames'))).sort()).toEqual(['.venv', '.venv.cpy-previous']);
    expect((await readVenv(`${venv}.cpy-previous`)).version).toBe('3.13.5');
  });

  it('finishes a rollback by renames killed after its second rename: the venv it left is kept as .cpy-previous, not deleted', async () => {
    // A rollback's exchange: venv -> .cpy-swap, .cpy-previous -> venv, .cpy-swap -> .cpy-previous.
    // Killed before the third, the venv rolled back from is only in .cpy-swap, and no journal says
    // an upgrade was under way: it goes back to .cpy-previous (and this rollback swaps it in).
    const venv = join(work, 'rolled', '.venv');
    await mkdir(venv, { recursive: true });
    await writeFile(join(venv, 'pyvenv.cfg'), cfg('/usr/bin', '3.11.2'));
    await mkdir(`${venv}.cpy-swap`, { recursive: true });
    await writeFile(join(`${venv}.cpy-swap`, 'pyvenv.cfg'), `${cfg('/usr/bin', '3.13.5')}cpy-upgrade = 7\n`);
    const back = await rollbackVenv(venv, { env: { CPY_HOME: join(work, 'home') } });
    expect(back).toMatchObject({ version: '3.13.5', was: '3.11.2' });
    expect((await readdir(join(work, 'rolled'))).sort()).toEqual(['.venv', '.venv.cpy-previous']);
    expect((await readVenv(`${venv}.cpy-previous`)).version).toBe('3.11.2');
  });
});

describe('the import check of an upgrade', () => {
  it('names what fails to import, whatever a module prints on import or however it ends python', async () => {
    const venv = join(work, 'imports');
    await promisify(execFile)('python3', ['-m', 'venv', '--without-pip', venv]);
    const lib = join(venv, 'lib');
    const site = join(lib, (await readdir(lib)).find((n) => n.startsWith('python3'))!, 'site-packages');
    const modules: Record<string, string> = {
      // pygame greets on stdout; this one also prints what looks like the answer.
      noisy: 'print("Hello from the community")\nprint(\'cpy-import-errors: {"fine": "fake"}\')\n',
      fine: '',
      broken: 'raise ImportError("nope")\n',
      quits: 'import sys\nsys.exit(5)\n',
      crash: 'import os\nos._exit(3)\n',
    };
    for (const [name, body] of Object.entries(modules)) await writeFile(join(site, `${name}.py`), body);
    // A module of the same name where python runs (the venv) stands in for nothing (python -I).
    await writeFile(join(venv, 'fine.py'), 'raise ImportError("the working directory was searched")\n');
    try {
      expect(await importErrors(venv, Object.keys(modules))).toEqual({
        broken: 'ImportError: nope',
        quits: 'SystemExit: 5',
        crash: 'the import ended python (exit 3)',
      });
      expect(await importErrors(venv, ['noisy', 'fine'])).toEqual({});
      // One that never finishes (it waits on a network, a lock): named once its time is up (the upgrade waited forever).
      await writeFile(join(site, 'hangs.py'), 'import time\ntime.sleep(600)\n');
      const started = Date.now();
      expect(await importErrors(venv, ['fine', 'hangs', 'broken'], undefined, 1500)).toEqual({
        hangs: 'the import did not finish in 1.5 s (it hangs: on the network, a lock or input?)',
        broken: 'ImportError: nope',
      });
      expect(Date.now() - started).toBeLessThan(60_000);
    } finally {
      await rm(join(venv, 'fine.py'));
    }
  });

  it('a stop ends it (Ctrl-C): the imports went on, each KeyboardInterrupt taken for a module\'s import error, in the old venv and then the new', async () => {
    const venv = join(work, 'slow-imports');
    await promisify(execFile)('python3', ['-m', 'venv', '--without-pip', venv]);
    const lib = join(venv, 'lib');
    const site = join(lib, (await readdir(lib)).find((n) => n.startsWith('python3'))!, 'site-packages');
    // Each import writes that it started, sleeps a minute, then writes that it ended.
    const marks = join(work, 'slow-marks');
    await mkdir(marks);
    const slow = ['slow1', 'slow2', 'slow3'];
    for (const name of slow) {
      await writeFile(join(site, `${name}.py`), `import time\nopen(${JSON.stringify(join(marks, `${name}.started`))}, 'w').close()\ntime.sleep(60)\nopen(${JSON.stringify(join(marks, `${name}.ended`))}, 'w').close()\n`);
    }
    const stop = new AbortController();
    const checked = importErrors(venv, slow, stop.signal).catch((e: unknown) => e);
    while (!existsSync(join(marks, 'slow1.started'))) await new Promise((r) => setTimeout(r, 50));
    stop.abort();
    expect(await checked).toBeInstanceOf(Error);
    // Ended in its first import: none ended, and none after it started.
    expect((await readdir(marks)).sort()).toEqual(['slow1.started']);
  }, 30_000);
});

describe('cpy venv upgrade --exclude', () => {
  const dists = [
    { name: 'pip', version: '23.0.1', modules: ['pip'] },
    { name: 'setuptools', version: '65.5.0', modules: ['setuptools', 'pkg_resources'] },
    { name: 'Zope.Interface', version: '6.0', modules: ['zope'] },
    { name: 'fastmath', version: '1.0', modules: ['fastmath'] },
  ];
  it('leaves out pip always, and what is excluded, by the name pip compares (zope-interface is Zope.Interface)', () => {
    expect(keptDistributions(dists, [], '/v').map((d) => d.name)).toEqual(['setuptools', 'Zope.Interface', 'fastmath']);
    expect(keptDistributions(dists, ['SetupTools', 'zope_interface'], '/v').map((d) => d.name)).toEqual(['fastmath']);
  });
  it('refuses a name the venv does not hold (a misspelt one would keep what it meant), listing what it holds', () => {
    expect(() => keptDistributions(dists, ['setuptool'], '/v')).toThrow(
      expect.objectContaining({ code: 'CPY_VENV_NOT_INSTALLED', message: '/v holds no setuptool to leave out', hint: '--exclude takes the names of its distributions: setuptools, Zope.Interface, fastmath' }),
    );
  });
});

describe('the swap of an upgrade or a rollback', () => {
  it('a swap the kernel refuses is a coded error naming why, and moves nothing', async () => {
    const a = join(work, 'swap-a');
    await mkdir(a, { recursive: true });
    const error = await exchange('python3', a, join(work, 'swap-missing')).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'CpyError', code: 'CPY_VENV_SWAP_FAILED', message: `cannot swap ${a} and ${join(work, 'swap-missing')}: No such file or directory` });
    expect(await readdir(a)).toEqual([]);
  });

  it('a python that cannot run the one-step swap (gone) swaps by three renames; the venv and the new one change places', async () => {
    const [a, b] = [join(work, 'swap-gone-a'), join(work, 'swap-gone-b')];
    await mkdir(a);
    await mkdir(b);
    await writeFile(join(a, 'which'), 'old');
    await writeFile(join(b, 'which'), 'new');
    // Before, ENOENT was thrown as it came: "a bug in cpy" (CPY_CLI_INTERNAL), the venv not upgraded.
    await exchange(join(work, 'no-such-python'), a, b);
    expect([await readFile(join(a, 'which'), 'utf8'), await readFile(join(b, 'which'), 'utf8')]).toEqual(['new', 'old']);
    expect(existsSync(`${a}.cpy-swap`)).toBe(false);
  });

  (canMount() ? it : it.skip)("a venv in a container image's layer (overlay: its directories cannot be renamed, EXDEV) is said as such, and nothing moves", async () => {
    // On a tmpfs of its own: an overlay's upper layer cannot be on another overlay (a CI container's /tmp).
    const disk = await mountSmallDisk(16 * 1024 * 1024, join(work, 'overlay'));
    const root = disk.dir;
    let mounted = false;
    try {
      for (const d of ['lower/app/.venv', 'lower/app/.venv.cpy-next', 'upper', 'work', 'merged']) await mkdir(join(root, d), { recursive: true });
      // redirect_dir=off, as most kernels default: a directory of the lower layer is not renamed.
      await promisify(execFile)('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${root}/lower,upperdir=${root}/upper,workdir=${root}/work,redirect_dir=off`, join(root, 'merged')]);
      mounted = true;
      const [a, b] = [join(root, 'merged', 'app', '.venv'), join(root, 'merged', 'app', '.venv.cpy-next')];
      const error = await exchange('python3', a, b).catch((e: unknown) => e);
      // Before: "cannot swap ...: Invalid cross-device link", with a hint about processes and permissions.
      expect(error).toMatchObject({ code: 'CPY_VENV_SWAP_FAILED', message: `cannot swap ${a} and ${b}: the venv is in a container image's layer (an overlay file system), where a directory cannot be renamed` });
      expect((error as { hint: string }).hint).toMatch(/^nothing was swapped; recreate the venv/);
      expect((await readdir(join(root, 'merged', 'app'))).sort()).toEqual(['.venv', '.venv.cpy-next']);
    } finally {
      if (mounted) await promisify(execFile)('umount', [join(root, 'merged')]);
      await disk.unmount();
    }
  });
});

/** A real venv of the host's python3 (Debian 12: 3.11), without pip, holding one distribution `purepkg`. */
async function hostVenv(venv: string): Promise<{ site: string; version: string }> {
  await promisify(execFile)('python3', ['-m', 'venv', '--without-pip', venv]);
  const lib = join(venv, 'lib');
  const site = join(lib, (await readdir(lib)).find((n) => n.startsWith('python3'))!, 'site-packages');
  await mkdir(join(site, 'purepkg'), { recursive: true });
  await writeFile(join(site, 'purepkg', '__init__.py'), 'VALUE = 42\n');
  await mkdir(join(site, 'purepkg-1.0.dist-info'));
  await writeFile(join(site, 'purepkg-1.0.dist-info', 'METADATA'), 'Metadata-Version: 2.1\nName: purepkg\nVersion: 1.0\n');
  await writeFile(join(site, 'purepkg-1.0.dist-info', 'top_level.txt'), 'purepkg\n');
  await writeFile(join(site, 'purepkg-1.0.dist-info', 'RECORD'), ['purepkg/__init__.py', 'METADATA', 'top_level.txt', 'RECORD'].map((f) => `${f.includes('/') ? f : `purepkg-1.0.dist-info/${f}`},,`).join('\n') + '\n');
  const version = /^version\s*=\s*(\S+)$/m.exec(await readFile(join(venv, 'pyvenv.cfg'), 'utf8'))![1]!;
  return { site, version };
}

describe('a venv whose python is another version now (an OS upgrade under a venv of /usr/bin/python3)', () => {
  it('is read from its own site-packages on disk, and cpy venv list marks it', async () => {
    // Made by Python 3.10 (lib/python3.10, version 3.10.13), its bin/python now the host's 3.11:
    // that python puts lib/python3.11/site-packages, which does not exist, on sys.path. The
    // upgrade read the packages through it, found none, and "upgraded" to an empty venv.
    const venv = join(work, 'os-upgraded', '.venv');
    const { site, version } = await hostVenv(venv);
    expect(await runsItsPackages(venv, [site])).toBe(true);
    // What the venv's python prints at start (a .pth may) does not hide what it answers.
    await writeFile(join(site, 'chatty.pth'), 'import sys; print("hello from a .pth")\n');
    expect(await runsItsPackages(venv, [site])).toBe(true);
    await rm(join(site, 'chatty.pth'));

    const line = version.split('.').slice(0, 2).join('.');
    const old = site.replace(`python${line}`, 'python3.10');
    await rename(dirname(site), dirname(old));
    await writeFile(join(venv, 'pyvenv.cfg'), (await readFile(join(venv, 'pyvenv.cfg'), 'utf8')).replace(/^version\s*=.*$/m, 'version = 3.10.13'));
    expect(await siteDirs(venv, '3.10.13')).toEqual([old]);
    expect(await runsItsPackages(venv, [old])).toBe(false);
    // What no distribution owns cannot be carried over: the upgrade says so.
    await writeFile(join(old, 'paths.pth'), '/srv/lib\n');
    await writeFile(join(old, 'sitecustomize.py'), '');
    expect(await readSite('python3', venv, [old])).toEqual({ distributions: [{ name: 'purepkg', version: '1.0', modules: ['purepkg'] }], loose: ['paths.pth', 'sitecustomize.py'], outside: [] });
    const [listed] = await listVenvs([join(work, 'os-upgraded')], { env: { CPY_HOME: join(work, 'home') } });
    expect(listed).toMatchObject({ path: venv, version: '3.10.13', baseInstalled: false });
  });

  it('a venv with no site-packages of its version, or of several, is refused rather than read as empty', async () => {
    const venv = join(work, 'mixed', '.venv');
    const { site } = await hostVenv(venv);
    await expect(siteDirs(venv, '3.9.2')).resolves.toEqual([site]);
    await mkdir(join(venv, 'lib', 'python3.9', 'site-packages'), { recursive: true });
    await expect(siteDirs(venv, '3.8.10')).rejects.toMatchObject({ code: 'CPY_VENV_BROKEN', message: expect.stringContaining('python3.11, python3.9') });
    await rm(join(venv, 'lib'), { recursive: true });
    await expect(siteDirs(venv, '3.11.2')).rejects.toMatchObject({ code: 'CPY_VENV_BROKEN', message: expect.stringContaining('no lib/python<version>/site-packages') });
  });
});

describe('what an upgrade does not carry over from outside site-packages', () => {
  it('names what neither venv nor a distribution made (a hand-written bin/my-hook, an etc/my.conf), not the scripts and data files pip installed', async () => {
    // The new venv is made by venv and pip alone: a file of the old one's outside site-packages that
    // no distribution installed was not in it, and the upgrade said nothing (leftBehind: []).
    const venv = join(work, 'outside', '.venv');
    const { site } = await hostVenv(venv);
    const info = join(site, 'purepkg-1.0.dist-info');
    // purepkg's script and data file, by its RECORD; and a console script its RECORD does not name
    // (setup.py develop writes them so), by its entry points.
    await writeFile(join(info, 'RECORD'), `${await readFile(join(info, 'RECORD'), 'utf8')}../../../bin/purehello,,\n../../../etc/purepkg/defaults.conf,,\n`);
    await writeFile(join(info, 'entry_points.txt'), '[console_scripts]\npureep = purepkg:main\n');
    // And inside what venv makes: a kernel written by ipykernel install --sys-prefix, nodeenv's node
    // modules and headers (they were skipped whole); purepkg's own data there is its.
    await writeFile(join(info, 'RECORD'), `${await readFile(join(info, 'RECORD'), 'utf8')}../../../share/purepkg/data.txt,,\n`);
    const inVenvDirs = ['share/jupyter/kernels/mine/kernel.json', 'share/purepkg/data.txt', 'share/purepkg/mine.txt', 'lib/node_modules/npm/package.json', 'include/node/node.h'];
    for (const f of [...inVenvDirs, 'bin/purehello', 'bin/pureep', 'etc/purepkg/defaults.conf', 'bin/my-hook', 'etc/my.conf', 'notes/todo.txt', 'notes/more/x', 'src/inside/setup.py', 'TODO']) {
      await mkdir(dirname(join(venv, f)), { recursive: true });
      await writeFile(join(venv, f), '');
    }
    // What venv creation writes (python -m venv since 3.13, virtualenv, uv), and cpy's own names.
    await writeFile(join(venv, '.gitignore'), '# Created by venv; see https://docs.python.org/3/library/venv.html\n*\n');
    await writeFile(join(venv, 'CACHEDIR.TAG'), 'Signature: 8a477f597d28d172789f06886806bc55\n');
    await writeFile(join(venv, '.cpy-note'), '');

    const { outside } = await readSite('python3', venv, [site]);
    expect(outside).toEqual(['bin/pureep', 'bin/purehello', 'etc/purepkg/defaults.conf', 'share/purepkg/data.txt']);
    // src/ holds an editable project inside the venv, which the upgrade copies over.
    expect(await notCarried(venv, outside, new Set(['src']))).toEqual(['TODO', 'bin/my-hook', 'etc/my.conf', 'include/node', 'lib/node_modules', 'notes', 'share/jupyter', 'share/purepkg/mine.txt']);
    expect(await notCarried(venv, outside)).toEqual(['TODO', 'bin/my-hook', 'etc/my.conf', 'include/node', 'lib/node_modules', 'notes', 'share/jupyter', 'share/purepkg/mine.txt', 'src']);
    // A .gitignore written by hand is the venv's own.
    await writeFile(join(venv, '.gitignore'), '*.log\n');
    expect(await notCarried(venv, outside, new Set(['src']))).toEqual(['.gitignore', 'TODO', 'bin/my-hook', 'etc/my.conf', 'include/node', 'lib/node_modules', 'notes', 'share/jupyter', 'share/purepkg/mine.txt']);
  });
});

describe('upgrades and rollbacks of one venv', () => {
  const env = () => ({ env: { CPY_HOME: join(work, 'home') } });
  /** Runs `body` while this process holds the lock an upgrade or rollback of `venv` takes. */
  const holdingLockOf = (venv: string, body: () => Promise<void>) =>
    withLock({ code: 'CPY_VENV_BUSY', holds: 'test', whenHeld: () => 'wait' }, `${venv}.cpy-upgrade.lock`, { timeoutMs: 0 }, body);

  it('one at a time: while one holds the venv, another is refused at once and changes nothing', async () => {
    const venv = join(work, 'busy', '.venv');
    await hostVenv(venv);
    await holdingLockOf(venv, async () => {
      await expect(upgradeVenv(venv, { to: '3.13', ...env() })).rejects.toMatchObject({ code: 'CPY_VENV_BUSY' });
      await expect(rollbackVenv(venv, env())).rejects.toMatchObject({ code: 'CPY_VENV_BUSY' });
    });
    expect((await readdir(join(work, 'busy'))).sort()).toEqual(['.venv']);
  });

  it('a path whose directory does not exist is refused, and nothing is made there', async () => {
    await expect(upgradeVenv(join(work, 'typo', 'deeper', '.venv'), { to: '3.13', ...env() })).rejects.toMatchObject({ code: 'CPY_VENV_NOT_A_VENV' });
    await expect(rollbackVenv(join(work, 'typo', 'deeper', '.venv'), env())).rejects.toMatchObject({ code: 'CPY_VENV_NOT_A_VENV' });
    expect(await readdir(work)).not.toContain('typo');
  });

  (canMount() ? it : it.skip)('a kept venv that cannot be deleted (a mount point in it) leaves an upgrade\'s swap finished, and the venv can be rolled back: it is moved aside, and tried again later', async () => {
    // An upgrade killed after its swap: the new venv in place, the old one at .cpy-next, the one an
    // earlier upgrade kept at .cpy-previous. Its delete failed, and every later upgrade or rollback
    // failed the same delete: the venv could never be rolled back (an upgrade's own delete there
    // failed it, swapped but said not to be).
    const venv = join(work, 'undeletable', '.venv');
    await mkdir(venv, { recursive: true });
    await writeFile(join(venv, 'pyvenv.cfg'), `${cfg('/usr/bin', '3.13.5')}cpy-upgrade = 77\n`);
    await mkdir(`${venv}.cpy-next`);
    await writeFile(join(`${venv}.cpy-next`, 'pyvenv.cfg'), cfg('/usr/bin', '3.11.2'));
    await mkdir(`${venv}.cpy-previous`);
    await writeFile(join(`${venv}.cpy-previous`, 'pyvenv.cfg'), cfg('/usr/bin', '3.10.0'));
    await writeFile(`${venv}.cpy-upgrade.json`, JSON.stringify({ id: '77', from: '3.11.2', to: '3.13.5' }));
    await mountSmallDisk(1024 * 1024, join(`${venv}.cpy-previous`, 'lib', 'mounted'));
    const discarded = `${venv}.cpy-discard-77`;
    try {
      const back = await rollbackVenv(venv, env());
      expect(back).toMatchObject({ version: '3.11.2', was: '3.13.5', kept: `${venv}.cpy-previous` });
      expect((await readdir(join(work, 'undeletable'))).sort()).toEqual(['.venv', '.venv.cpy-discard-77', '.venv.cpy-previous']);
      expect((await readVenv(`${venv}.cpy-previous`)).version).toBe('3.13.5');
    } finally {
      await promisify(execFile)('umount', [join(existsSync(discarded) ? discarded : `${venv}.cpy-previous`, 'lib', 'mounted')]);
    }
    // Once it can be, the next one deletes it.
    await rollbackVenv(venv, env());
    expect((await readdir(join(work, 'undeletable'))).sort()).toEqual(['.venv', '.venv.cpy-previous']);
  });

  (canMount() ? it : it.skip)('a lock its directory refuses (read-only) is that directory\'s fault, CPY_VENV_CREATE_FAILED: it was CPY_VENV_BUSY, which a script retries for ever', async () => {
    const disk = await mountSmallDisk(1024 * 1024, join(work, 'readonly'));
    try {
      const venv = join(disk.dir, '.venv');
      await mkdir(venv);
      await writeFile(join(venv, 'pyvenv.cfg'), cfg('/usr/bin', '3.11.2'));
      await promisify(execFile)('mount', ['-o', 'remount,ro', disk.dir]);
      const refused = { code: 'CPY_VENV_CREATE_FAILED', message: expect.stringContaining(`: the lock of ${venv} goes beside it, with the new venv an upgrade makes`) };
      await expect(upgradeVenv(venv, { to: '3.13', ...env() })).rejects.toMatchObject(refused);
      await expect(rollbackVenv(venv, env())).rejects.toMatchObject(refused);
    } finally {
      await disk.unmount();
    }
  });

  it('a rollback to a venv whose base interpreter is gone says so (it said nothing, and the venv did not start)', async () => {
    const venv = join(work, 'orphaned', '.venv');
    await hostVenv(venv);
    const kept = `${venv}.cpy-previous`;
    await mkdir(join(kept, 'bin'), { recursive: true });
    await writeFile(join(kept, 'pyvenv.cfg'), cfg(join(work, 'uninstalled', 'bin'), '3.12.1'));
    await symlink(join(work, 'uninstalled', 'bin', 'python3.12'), join(kept, 'bin', 'python'));
    expect(await rollbackVenv(venv, env())).toMatchObject({ version: '3.12.1', baseMissing: join(work, 'uninstalled', 'bin') });
    // And back: its base is there.
    expect(await rollbackVenv(venv, env())).toMatchObject({ baseMissing: null });
  });

  it('a rollback after the upgraded venv was deleted puts the kept one back', async () => {
    const venv = join(work, 'deleted', '.venv');
    await hostVenv(venv);
    await rename(venv, `${venv}.cpy-previous`);
    const r = await rollbackVenv(venv, env());
    expect(r).toMatchObject({ path: venv, was: null, kept: null, baseMissing: null });
    expect(await readdir(join(work, 'deleted'))).toEqual(['.venv']);
    expect((await readVenv(venv)).baseInstalled).toBe(true);
  });

  it('what a killed upgrade left running on the venv it was building (own sessions, which a SIGKILL of cpy does not reach) is stopped before that venv is removed', async () => {
    const venv = join(work, 'orphans', '.venv');
    await hostVenv(venv);
    const next = `${venv}.cpy-next`;
    await mkdir(next);
    // As python3 -m venv <venv>.cpy-next, or its ensurepip, went on writing there.
    const writer = spawn('/bin/sh', ['-c', 'while :; do mkdir -p "$1/d$$" && touch "$1/d$$/f"; sleep 0.01; done', 'sh', next], { detached: true, stdio: 'ignore' });
    writer.unref();
    await expect(rollbackVenv(venv, env())).rejects.toMatchObject({ code: 'CPY_VENV_NOTHING_TO_ROLL_BACK' });
    expect(existsSync(next)).toBe(false);
    expect(() => process.kill(-writer.pid!, 0)).toThrow();
  });

  it('the same through a link whose venv was deleted: the kept one, beside where it leads, is put back (it said nothing was kept)', async () => {
    const data = join(work, 'linked-data');
    const venv = join(data, 'envA');
    await hostVenv(venv);
    await rename(venv, `${venv}.cpy-previous`);
    await mkdir(join(work, 'linked-project'));
    const link = join(work, 'linked-project', '.venv');
    await symlink('../linked-data/envA', link);
    const r = await rollbackVenv(link, env());
    expect(r).toMatchObject({ path: venv, was: null, kept: null });
    expect(await readdir(data)).toEqual(['envA']);
    expect((await readVenv(link)).baseInstalled).toBe(true);
  });

  it('a target that is not installed, or installed but broken, is said to be so, each with its own code (a broken one was "not installed")', async () => {
    const venv = join(work, 'to-broken', '.venv');
    await hostVenv(venv);
    const home = join(work, 'broken-home');
    const prefix = join(home, 'python-3.12.9');
    await mkdir(join(prefix, 'bin'), { recursive: true });
    await mkdir(join(home, 'state'), { recursive: true });
    await writeFile(join(home, 'state', 'state.json'), JSON.stringify({ schemaVersion: 1, installs: { '3.12.9': { prefix } }, previous: null }));
    const options = { env: { CPY_HOME: home } };
    await expect(upgradeVenv(venv, { to: '3.12', ...options })).rejects.toMatchObject({
      code: 'CPY_VENV_TARGET_BROKEN',
      message: `CPython 3.12.9 is installed at ${prefix}, but broken (its install marker is gone or damaged), and no index is given to install it again from`,
      hint: expect.stringContaining('cpy install 3.12.9'),
    });
    await expect(upgradeVenv(venv, { to: '3.14', ...options })).rejects.toMatchObject({ code: 'CPY_VENV_TARGET_NOT_INSTALLED', message: 'CPython 3.14 is not installed, and no index is given to install it from' });
    expect(await readdir(join(work, 'to-broken'))).toEqual(['.venv']);
  });

  it('a target whose python3 does not start is said to be the cause (it was "the venv\'s metadata may be damaged: recreate the venv"); the venv is as it was', async () => {
    const venv = join(work, 'to-dead', '.venv');
    await hostVenv(venv);
    const home = join(work, 'dead-home');
    const prefix = join(home, 'python-3.12.9');
    await mkdir(join(prefix, 'bin'), { recursive: true });
    await mkdir(join(prefix, 'lib', 'python3.12'), { recursive: true });
    await writeFile(join(prefix, 'lib', 'python3.12', 'os.py'), '');
    // As a tree whose lib/python3.12/encodings was deleted starts.
    await writeFile(join(prefix, 'bin', 'python3'), '#!/bin/sh\necho "Fatal Python error: init_fs_encoding: failed to get the Python codec of the filesystem encoding" >&2\nexit 1\n', { mode: 0o755 });
    await writeFile(join(prefix, '.cpy-install.json'), JSON.stringify({ schemaVersion: 1, version: '3.12.9', build: 1, sha256: 'a'.repeat(64), artifact: 'cpython-3.12.9-debian12-build1.tgz', source: 'test', builtFor: '/opt/x', installedAt: '2026-12-02T00:00:00.000Z' }));
    await mkdir(join(home, 'state'), { recursive: true });
    await writeFile(join(home, 'state', 'state.json'), JSON.stringify({ schemaVersion: 1, installs: { '3.12.9': { prefix } }, previous: null }));
    await expect(upgradeVenv(venv, { to: '3.12', env: { CPY_HOME: home } })).rejects.toMatchObject({
      code: 'CPY_VENV_TARGET_BROKEN',
      message: `CPython 3.12.9 in ${prefix} does not start: ${join(prefix, 'bin', 'python3')}: Fatal Python error: init_fs_encoding: failed to get the Python codec of the filesystem encoding`,
      hint: expect.stringContaining('cpy uninstall 3.12.9'),
    });
    expect(await readdir(join(work, 'to-dead'))).toEqual(['.venv']);
    expect((await readVenv(venv)).baseInstalled).toBe(true);
  });

  it('a --find-links that is not a directory is refused before anything is made (pip found it only after the new venv was built)', async () => {
    const venv = join(work, 'links', '.venv');
    await hostVenv(venv);
    const wheels = join(work, 'links', 'wheels');
    await mkdir(wheels);
    await writeFile(join(work, 'links', 'a.whl'), '');
    for (const offline of [false, true]) {
      await expect(upgradeVenv(venv, { to: '3.13', findLinks: [wheels, join(work, 'links', 'wheelz')], offline, ...env() })).rejects.toMatchObject({
        code: 'CPY_VENV_BAD_OPTION',
        message: `--find-links ${join(work, 'links', 'wheelz')} does not exist: nothing was changed`,
        hint: offline ? expect.stringContaining('with --offline, pip installs from --find-links alone') : expect.stringContaining('leave --find-links out'),
      });
    }
    await expect(upgradeVenv(venv, { to: '3.13', findLinks: [join(work, 'links', 'a.whl')], ...env() })).rejects.toMatchObject({
      code: 'CPY_VENV_BAD_OPTION',
      message: `--find-links ${join(work, 'links', 'a.whl')} is not a directory: nothing was changed`,
    });
    // A relative path written as a file URL ("wheels" read as a host): said, not a bug report.
    await expect(upgradeVenv(venv, { to: '3.13', findLinks: ['file://wheels/'], ...env() })).rejects.toMatchObject({
      code: 'CPY_VENV_BAD_OPTION',
      message: '--find-links file://wheels/ is not a file:// URL of a directory on this machine: nothing was changed',
    });
    expect((await readdir(join(work, 'links'))).sort()).toEqual(['.venv', 'a.whl', 'wheels']);
  });

  it('a venv behind a link is listed once, and upgraded where the link leads', async () => {
    const real = join(work, 'envs', 'proj');
    await hostVenv(real);
    await mkdir(join(work, 'linked'));
    await symlink(real, join(work, 'linked', '.venv'));
    const listed = await listVenvs([join(work, 'linked')], env());
    expect(listed.map((v) => v.path)).toEqual([join(work, 'linked', '.venv')]);
    // The lock (and so the new venv and the kept one) are beside the directory, not the link.
    await holdingLockOf(real, async () => {
      await expect(upgradeVenv(join(work, 'linked', '.venv'), { to: '3.13', ...env() })).rejects.toMatchObject({ code: 'CPY_VENV_BUSY' });
    });
  });

  (canMount() ? it : it.skip)('a venv that is a mount point is refused before anything is built: a rename cannot replace it', async () => {
    const disk = await mountSmallDisk(64 * 1024 * 1024, join(work, 'volume', '.venv'));
    try {
      const venv = disk.dir;
      await promisify(execFile)('python3', ['-m', 'venv', '--without-pip', '--clear', venv]);
      const error = await upgradeVenv(venv, { to: '3.99', ...env() }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'CPY_VENV_SWAP_FAILED', message: expect.stringContaining('is a mount point') });
      expect(await readdir(join(work, 'volume'))).toEqual(['.venv']);
    } finally {
      await disk.unmount();
    }
  });
});

describe('where an upgrade installs each distribution from again', () => {
  it('from an index by name and version, unless pip took it from elsewhere (PEP 610), or it is an older editable install (.egg-link)', async () => {
    const venv = join(work, 'sources', '.venv');
    const { site } = await hostVenv(venv);
    const dist = async (name: string, directUrl: object) => {
      const info = join(site, `${name}-1.0.dist-info`);
      await mkdir(info);
      await writeFile(join(info, 'METADATA'), `Metadata-Version: 2.1\nName: ${name}\nVersion: 1.0\n`);
      await writeFile(join(info, 'direct_url.json'), JSON.stringify(directUrl));
    };
    await dist('fromgit', { url: 'https://example.org/x/fromgit.git', vcs_info: { vcs: 'git', commit_id: 'a'.repeat(40), requested_revision: 'main' }, subdirectory: 'py' });
    const wheel = join(work, 'sources', 'fromwheel-1.0-py3-none-any.whl');
    await mkdir(dirname(wheel), { recursive: true });
    await writeFile(wheel, '');
    await dist('fromwheel', { url: `file://${wheel}`, archive_info: { hashes: { sha256: '0'.repeat(64) } } });
    const fromdir = join(work, 'sources', 'my dir');
    await mkdir(fromdir);
    await dist('fromdir', { url: `file://${fromdir.replace(/ /g, '%20')}`, dir_info: {} });
    // A wheel for one Python, or a local file or directory since deleted, cannot be installed from there again.
    await dist('gonedir', { url: 'file:///home/u/gone%20dir', dir_info: {} });
    await dist('cpwheel', { url: 'file:///srv/wheels/cpwheel-1.0-cp311-cp311-linux_x86_64.whl', archive_info: {} });
    await dist('gonefile', { url: `file://${join(work, 'sources', 'gone-1.0.tar.gz')}`, archive_info: {} });
    // setup.py develop, before PEP 660: the project's .egg-info stays in the project; in a src
    // layout the .egg-link's first line is src/ and its second the way back to the project.
    const legacy = join(work, 'sources', 'legacy');
    await mkdir(join(legacy, 'src', 'legacy.egg-info'), { recursive: true });
    await mkdir(join(legacy, 'src', 'legacy'));
    await writeFile(join(legacy, 'src', 'legacy', '__init__.py'), '');
    await writeFile(join(legacy, 'src', 'legacy.egg-info', 'PKG-INFO'), 'Metadata-Version: 2.1\nName: legacy\nVersion: 2.0\n');
    await writeFile(join(legacy, 'src', 'legacy.egg-info', 'top_level.txt'), 'legacy\n');
    await writeFile(join(site, 'legacy.egg-link'), `${join(legacy, 'src')}\n../\n`);

    const { distributions: found } = await readSite('python3', venv, [site]);
    const sources = Object.fromEntries(found.map((d) => [d.name, d.source ?? null]));
    expect(sources).toEqual({
      purepkg: null,
      fromgit: [`git+https://example.org/x/fromgit.git@${'a'.repeat(40)}#subdirectory=py`],
      fromwheel: [`file://${wheel}`],
      fromdir: [fromdir],
      gonedir: null,
      cpwheel: null,
      gonefile: null,
      legacy: ['-e', legacy],
    });
    expect(found.find((d) => d.name === 'legacy')).toMatchObject({ version: '2.0', modules: ['legacy'] });
    // Offline, what pip would fetch from the network is installed by name from --find-links.
    const named = (name: string) => found.find((d) => d.name === name)!;
    expect(requirement(named('fromgit'), true)).toEqual(['fromgit==1.0']);
    expect(requirement(named('fromgit'), false)).toEqual(named('fromgit').source);
    expect(requirement(named('fromwheel'), true)).toEqual([`file://${wheel}`]);
    expect(requirement(named('legacy'), true)).toEqual(['-e', legacy]);

    // An entry that cannot be read is said, not dropped.
    await writeFile(join(site, 'broken.egg-link'), '\n');
    await expect(readSite('python3', venv, [site])).rejects.toMatchObject({ code: 'CPY_VENV_BROKEN', message: expect.stringContaining('broken.egg-link: names no project') });
  });
});

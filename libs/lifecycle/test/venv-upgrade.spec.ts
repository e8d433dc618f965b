// upgradeVenv for real, where the venv's python no longer runs its packages: a venv made by
// Python 3.10 under /usr/bin/python3, which an OS upgrade (Debian 11 -> 12) made 3.11. Its python
// puts lib/python3.11/site-packages, which does not exist, on sys.path; its packages are in
// lib/python3.10/site-packages. The target is the harness's artifact (the host's python3, with
// ensurepip), installed for real into a scratch CPY_HOME; pip installs offline from the harness's
// wheelhouse (the e2e suite's). And a venv that sees its base's packages, upgraded to a base
// that does not have them.
import { execFile } from 'node:child_process';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { lstat, mkdir, mkdtemp, readdir, readFile, realpath, rename, rm, statfs, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { canMount, errorOf, indexEntry, indexOf, repoRoot, makeHostPythonArtifact, makeWheelhouse, mountSmallDisk, type TestArtifact } from '@cpy/harness';
import { installPython } from '@cpy/install';
import { upgradeVenv } from '../src/index.js';

const run = promisify(execFile);
let work: string;
let artifact: TestArtifact;
let env: NodeJS.ProcessEnv;

/**
 * A project `myproj` 0.1 (module myproj, in src/) with a build backend of its own in the tree,
 * which pip can use offline: `pip install -e` (PEP 660) puts a .pth naming src/ in site-packages,
 * and top_level.txt in its dist-info, as setuptools does.
 * With a file `slow` beside its backend, the backend's build_editable writes its process number
 * to `started` and sleeps two minutes first: a step a stop must end, not wait for.
 */
async function editableProject(dir: string, name = 'myproj'): Promise<void> {
  await mkdir(join(dir, 'src', name), { recursive: true });
  await writeFile(join(dir, 'src', name, '__init__.py'), 'WHERE = __file__\n');
  await writeFile(join(dir, 'pyproject.toml'), '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n');
  await writeFile(
    join(dir, 'backend.py'),
    `NAME = '${name}'\n` +
      String.raw`
import base64, hashlib, os, zipfile
HERE = os.path.dirname(os.path.abspath(__file__))
INFO = NAME + '-0.1.dist-info'
def _wheel(directory, files):
    name = NAME + '-0.1-py3-none-any.whl'
    files = dict(files, **{INFO + '/METADATA': ('Metadata-Version: 2.1\nName: %s\nVersion: 0.1\n' % NAME).encode(),
                           INFO + '/WHEEL': b'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
                           INFO + '/top_level.txt': (NAME + '\n').encode()})
    line = lambda p, d: '%s,sha256=%s,%d\n' % (p, base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode(), len(d))
    with zipfile.ZipFile(os.path.join(directory, name), 'w') as z:
        for p, d in files.items():
            z.writestr(p, d)
        z.writestr(INFO + '/RECORD', ''.join(line(p, d) for p, d in files.items()) + INFO + '/RECORD,,\n')
    return name
def build_wheel(directory, config_settings=None, metadata_directory=None):
    return _wheel(directory, {NAME + '/__init__.py': open(os.path.join(HERE, 'src', NAME, '__init__.py'), 'rb').read()})
def build_editable(directory, config_settings=None, metadata_directory=None):
    if os.path.exists(os.path.join(HERE, 'slow')):
        import time
        with open(os.path.join(HERE, 'started.tmp'), 'w') as f:
            f.write(str(os.getpid()))
        os.rename(os.path.join(HERE, 'started.tmp'), os.path.join(HERE, 'started'))
        time.sleep(120)
    return _wheel(directory, {NAME + '.pth': (os.path.join(HERE, 'src') + '\n').encode()})
`,
  );
}

/**
 * In `dir`: a wheelhouse (`wheels`: purepkg 1.0, module purepkg with VALUE = 42, and the setuptools
 * wheel Debian's venvs are seeded with), and `.venv`, made by /usr/bin/python3, with purepkg from it.
 */
async function venvWithPurepkg(dir: string): Promise<{ wheels: string; venv: string }> {
  const wheels = join(dir, 'wheels');
  await mkdir(wheels, { recursive: true });
  await makeWheelhouse(wheels);
  const venv = join(dir, '.venv');
  await run('/usr/bin/python3', ['-m', 'venv', venv]);
  await run(join(venv, 'bin', 'pip'), ['install', '-q', '--no-index', '--find-links', wheels, 'purepkg==1.0']);
  return { wheels, venv };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-venv-upgrade-it-'));
  artifact = await makeHostPythonArtifact(join(work, 'artifacts'), { keep: ['ensurepip'] });
  env = { ...process.env, CPY_HOME: join(work, 'home'), CPY_CACHE_DIR: join(work, 'cache') };
  await installPython({ artifactUrl: artifact.path, binDir: null }, { env });
}, 300_000);
afterAll(() => rm(work, { recursive: true, force: true }));

it('a venv whose python is another version now: its packages are read from its own site-packages, reinstalled (its editable project from where it is), and checked on the target', async () => {
  const { wheels, venv } = await venvWithPurepkg(join(work, 'project'));
  // The venv's own project, installed editable: no index has it; pip installs it again from where it is.
  const project = join(work, 'project', 'myproj');
  await editableProject(project);
  await run(join(venv, 'bin', 'pip'), ['install', '-q', '--no-index', '-e', project]);
  // And one inside the venv, where pip clones an editable VCS requirement (<venv>/src/<name>):
  // after the swap that path is the new venv's, which must hold it too.
  const inside = join(venv, 'src', 'inside');
  await editableProject(inside, 'inside');
  await run(join(venv, 'bin', 'pip'), ['install', '-q', '--no-index', '-e', inside]);
  const line = artifact.metadata.version.split('.').slice(0, 2).join('.');
  await rename(join(venv, 'lib', `python${line}`), join(venv, 'lib', 'python3.10'));
  await writeFile(join(venv, 'pyvenv.cfg'), (await readFile(join(venv, 'pyvenv.cfg'), 'utf8')).replace(/^version\s*=.*$/m, 'version = 3.10.13'));
  await expect(run(join(venv, 'bin', 'python'), ['-c', 'import purepkg'])).rejects.toMatchObject({ stderr: expect.stringContaining("No module named 'purepkg'") });

  const phases: string[] = [];
  const r = await upgradeVenv(venv, { to: line, findLinks: [wheels], offline: true, env, onEvent: (e) => e.type === 'phase' && phases.push(`${e.phase}: ${e.detail}`) });
  // Before, it read the packages through the venv's python, found none, and "upgraded" to an empty venv.
  expect(r.distributions.map((d) => d.name).sort()).toEqual(['inside', 'myproj', 'purepkg', 'setuptools']);
  expect(r.distributions.find((d) => d.name === 'myproj')).toEqual({ name: 'myproj', version: '0.1', modules: ['myproj'], source: ['-e', project] });
  expect(r).toMatchObject({ from: '3.10.13', to: artifact.metadata.version, previous: `${venv}.cpy-previous`, leftBehind: [], notCarried: [], noLongerSeen: [] });
  expect(phases).toContainEqual(expect.stringMatching(/^read: .*its python no longer runs its packages \(lib\/python3\.10\/site-packages\)/));
  const { stdout } = await run(join(venv, 'bin', 'python'), ['-c', 'import inside, myproj, purepkg, sys; print(sys.prefix, sys.base_prefix, purepkg.VALUE, myproj.WHERE, inside.WHERE)']);
  expect(stdout.trim()).toBe(
    `${venv} ${join(work, 'home', `python-${artifact.metadata.version}`)} 42 ${join(project, 'src', 'myproj', '__init__.py')} ${join(inside, 'src', 'inside', '__init__.py')}`,
  );
  // The old venv is kept whole, for rollback.
  expect(await readdir(join(`${venv}.cpy-previous`, 'lib'))).toEqual(['python3.10']);
  expect(await readdir(join(`${venv}.cpy-previous`, 'src'))).toEqual(['inside']);
}, 300_000);

it("the venv's own pip.conf (its index, its find-links) is pip's in the new venv: packages from there install with no option given (pip went to PyPI, and said none of them was found)", async () => {
  const { wheels, venv } = await venvWithPurepkg(join(work, 'pipconf'));
  await writeFile(join(venv, 'pip.conf'), `[global]\nno-index = true\nfind-links = ${wheels}\n`);
  const line = artifact.metadata.version.split('.').slice(0, 2).join('.');
  // (pip's PIP_* variables outrank its files: a machine's PIP_FIND_LINKS would stand in for the venv's.)
  const pipVariables = Object.entries(process.env).filter(([k]) => k.startsWith('PIP_'));
  for (const [k] of pipVariables) delete process.env[k];
  const r = await upgradeVenv(venv, { to: line, env }).finally(() => Object.assign(process.env, Object.fromEntries(pipVariables)));
  expect(r.status).toBe('upgraded');
  expect(r.notCarried).toEqual([]);
  expect(await readFile(join(venv, 'pip.conf'), 'utf8')).toContain(`find-links = ${wheels}`);
  expect((await run(join(venv, 'bin', 'python'), ['-c', 'import purepkg; print(purepkg.VALUE)'])).stdout.trim()).toBe('42');
});

it('a package pip installed from a local directory since deleted (a build tree, a checkout in /tmp) is installed by name and version, from --find-links', async () => {
  const { wheels, venv } = await venvWithPurepkg(join(work, 'gone-dir'));
  const project = join(work, 'gone-dir-src', 'dirpkg');
  await editableProject(project, 'dirpkg');
  await run(join(venv, 'bin', 'pip'), ['install', '-q', '--no-index', project]);
  await run(join(venv, 'bin', 'pip'), ['wheel', '-q', '--no-index', '--no-deps', '-w', wheels, project]);
  await rm(join(work, 'gone-dir-src'), { recursive: true });
  const line = artifact.metadata.version.split('.').slice(0, 2).join('.');

  // Before, pip was given the directory that is gone, and the upgrade failed on it (only --exclude got past).
  const r = await upgradeVenv(venv, { to: line, findLinks: [wheels], offline: true, env });
  expect(r.distributions.find((d) => d.name === 'dirpkg')).toEqual({ name: 'dirpkg', version: '0.1', modules: ['dirpkg'] });
  const where = (await run(join(venv, 'bin', 'python'), ['-c', 'import dirpkg, sys; print(sys.version_info[:2], dirpkg.WHERE)'])).stdout.trim();
  expect(where).toContain(`(${line.replace('.', ', ')}) ${venv}/lib/python${line}/site-packages/dirpkg/__init__.py`);
}, 300_000);

it('a venv without pip (made --without-pip, or pip uninstalled) is upgraded without pip again, its packages carried (it came back with pip); one with pip keeps one', async () => {
  const line = artifact.metadata.version.split('.').slice(0, 2).join('.');
  const noPip = ['-c', 'import importlib.util, sys; sys.exit(importlib.util.find_spec("pip") is not None or importlib.util.find_spec("setuptools") is not None)'];
  const { wheels, venv } = await venvWithPurepkg(join(work, 'pipless'));
  // Neither pip nor the setuptools ensurepip seeds a 3.11 venv with (it came back with both).
  await run(join(venv, 'bin', 'python'), ['-m', 'pip', 'uninstall', '-q', '-y', 'setuptools', 'pip']);
  const r = await upgradeVenv(venv, { to: line, findLinks: [wheels], offline: true, env });
  expect(r.distributions.map((d) => d.name).sort()).toEqual(['purepkg']);
  expect((await run(join(venv, 'bin', 'python'), ['-c', 'import purepkg, sys; print(sys.version_info[:2], purepkg.VALUE)'])).stdout.trim()).toBe(`(${line.replace('.', ', ')}) 42`);
  await run(join(venv, 'bin', 'python'), noPip);
  expect(existsSync(join(venv, 'bin', 'pip'))).toBe(false);
  // With nothing to carry, it is made without pip.
  const bare = join(work, 'pipless-bare', '.venv');
  await run('/usr/bin/python3', ['-m', 'venv', '--without-pip', bare]);
  await upgradeVenv(bare, { to: line, offline: true, env });
  await run(join(bare, 'bin', 'python'), noPip);
  // A venv with pip has one after.
  const kept = await venvWithPurepkg(join(work, 'with-pip'));
  await upgradeVenv(kept.venv, { to: line, findLinks: [kept.wheels], offline: true, env });
  expect((await run(join(kept.venv, 'bin', 'python'), ['-m', 'pip', '--version'])).stdout).toContain(`${kept.venv}/lib/python${line}/site-packages/pip`);
}, 300_000);

it('PIP_TARGET, PIP_USER, PYTHONPATH or PYTHONHOME in the environment do not send the new venv\'s packages elsewhere (pip installed them into PIP_TARGET, and the upgrade was refused as if they did not import)', async () => {
  const { wheels, venv } = await venvWithPurepkg(join(work, 'redirected'));
  const line = artifact.metadata.version.split('.').slice(0, 2).join('.');
  const elsewhere = join(work, 'redirected', 'elsewhere');
  const saved = { ...process.env };
  Object.assign(process.env, { PIP_TARGET: elsewhere, PIP_USER: '1', PYTHONPATH: elsewhere, PYTHONHOME: elsewhere });
  try {
    const r = await upgradeVenv(venv, { to: line, findLinks: [wheels], offline: true, env });
    expect(r.distributions.map((d) => d.name)).toContain('purepkg');
  } finally {
    for (const name of ['PIP_TARGET', 'PIP_USER', 'PYTHONPATH', 'PYTHONHOME']) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  }
  const where = (await run(join(venv, 'bin', 'python'), ['-c', 'import purepkg; print(purepkg.__file__)'])).stdout.trim();
  expect(where).toBe(`${venv}/lib/python${line}/site-packages/purepkg/__init__.py`);
  expect(existsSync(elsewhere)).toBe(false);
}, 300_000);

it('a venv reached through a link, with an editable project in its src/ (pip records the linked path): the project comes along, and imports after the swap', async () => {
  const { wheels, venv: real } = await venvWithPurepkg(join(work, 'linked-real'));
  await mkdir(join(work, 'linked-app'));
  const venv = join(work, 'linked-app', '.venv');
  await symlink(real, venv);
  const inside = join(venv, 'src', 'inlink');
  await editableProject(inside, 'inlink');
  await run(join(venv, 'bin', 'pip'), ['install', '-q', '--no-index', '-e', inside]);
  const line = artifact.metadata.version.split('.').slice(0, 2).join('.');

  const r = await upgradeVenv(venv, { to: line, findLinks: [wheels], offline: true, env });
  expect(r.distributions.find((d) => d.name === 'inlink')).toMatchObject({ source: ['-e', inside] });
  // Before, src/ was left in the venv kept aside (said as not carried), and the import failed after the swap.
  expect(r.notCarried).toEqual([]);
  expect((await run(join(venv, 'bin', 'python'), ['-c', 'import inlink, sys; print(sys.version_info[:2], inlink.WHERE)'])).stdout.trim()).toBe(
    `(${line.replace('.', ', ')}) ${inside}/src/inlink/__init__.py`,
  );
  expect(await readFile(join(real, 'src', 'inlink', 'src', 'inlink', '__init__.py'), 'utf8')).toBe('WHERE = __file__\n');
}, 300_000);

it('--find-links takes an http page of links (a loopback server listing the wheelhouse), which pip reads, offline too; and a file:// URL of a directory', async () => {
  const { wheels, venv } = await venvWithPurepkg(join(work, 'links-page'));
  const names = await readdir(wheels);
  const fetched: string[] = [];
  const server = createServer((req, res) => {
    fetched.push(req.url ?? '');
    const name = decodeURIComponent((req.url ?? '/').slice(1));
    if (name === '') {
      res.setHeader('content-type', 'text/html');
      res.end(`<html><body>${names.map((n) => `<a href="${n}">${n}</a>`).join('\n')}</body></html>`);
    } else if (names.includes(name)) createReadStream(join(wheels, name)).pipe(res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  try {
    const line = artifact.metadata.version.split('.').slice(0, 2).join('.');
    const page = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    // Before, it was taken for a path under the working directory, and refused as one that does not exist.
    const r = await upgradeVenv(venv, { to: line, findLinks: [page], offline: true, env });
    expect(r.distributions.map((d) => d.name).sort()).toEqual(['purepkg', 'setuptools']);
    expect(fetched).toContain('/purepkg-1.0-py3-none-any.whl');
    expect((await run(join(venv, 'bin', 'python'), ['-c', 'import purepkg, sys; print(sys.version_info[:2], purepkg.VALUE)'])).stdout.trim()).toBe(`(${line.replace('.', ', ')}) 42`);
  } finally {
    server.close();
  }
  const missing = pathToFileURL(join(work, 'links-page', 'nowhere')).href;
  await expect(upgradeVenv(venv, { to: artifact.metadata.version, findLinks: [missing], offline: true, env })).rejects.toMatchObject({
    code: 'CPY_VENV_BAD_OPTION',
    message: `--find-links ${join(work, 'links-page', 'nowhere')} does not exist: nothing was changed`,
  });
}, 300_000);

it('pip that cannot reach its index fails once, for all (not each distribution alone, each waiting for the index again), and says to check the network or give --find-links', async () => {
  const { venv } = await venvWithPurepkg(join(work, 'no-network'));
  const cfg = await readFile(join(venv, 'pyvenv.cfg'), 'utf8');
  const line = artifact.metadata.version.split('.').slice(0, 2).join('.');
  // An index nothing answers at (connection refused), as pip's configuration would name it; one
  // retry. FORCE_COLOR, as Nx sets it: pip's words were colour codes before --no-color.
  const saved = { url: process.env['PIP_INDEX_URL'], retries: process.env['PIP_RETRIES'], color: process.env['FORCE_COLOR'] };
  Object.assign(process.env, { PIP_INDEX_URL: 'http://127.0.0.1:9/simple', PIP_RETRIES: '1', FORCE_COLOR: '1' });
  try {
    const error = await upgradeVenv(venv, { to: line, env }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CPY_VENV_UPGRADE_FAILED', hint: expect.stringMatching(/^the venv is as it was; check the network and its proxy .*--find-links <dir> --offline$/) });
    const { failed } = (error as { details: { failed: { name: string; version: string; detail: string }[] } }).details;
    expect(failed).toEqual([{ name: 'purepkg, setuptools', version: '', stage: 'install', detail: expect.stringMatching(/^pip cannot reach its index \(\[Errno 111\] Connection refused\): .*No matching distribution found for purepkg==1\.0/) }]);
  } finally {
    for (const [name, value] of [['PIP_INDEX_URL', saved.url], ['PIP_RETRIES', saved.retries], ['FORCE_COLOR', saved.color]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
  expect(await readFile(join(venv, 'pyvenv.cfg'), 'utf8')).toBe(cfg);
  expect((await readdir(join(work, 'no-network'))).sort()).toEqual(['.venv', 'wheels']);
}, 300_000);

it('the target installed from the index trusts what cpy install trusts: with pinned signers, an index served without a signature is refused; nothing installed, the venv as it was', async () => {
  const { wheels, venv } = await venvWithPurepkg(join(work, 'pinned'));
  const cfg = await readFile(join(venv, 'pyvenv.cfg'), 'utf8');
  const { version, build, platform } = artifact.metadata;
  const entry = indexEntry(version, build, { os: platform.os, osVersion: platform.osVersion, arch: platform.arch, file: artifact.fileName, sha256: artifact.sha256 });
  const index = join(work, 'pinned', 'index.json');
  await writeFile(index, JSON.stringify(indexOf(entry), null, 2));
  // A real public key beside the index, pinned (any key serves: the index carries no signature).
  const pinned = '7169605F62C751356D054A26A821E680E5FA6305';
  await writeFile(join(work, 'pinned', 'cpy-keys.asc'), await readFile(join(repoRoot(), 'libs', 'build', 'keys', `${pinned}.asc`)));
  const home = join(work, 'pinned-home');
  const refused = await errorOf(upgradeVenv(venv, { to: version, findLinks: [wheels], offline: true, indexUrl: index, env: { ...env, CPY_HOME: home }, install: { signerFingerprints: pinned } }));
  // (It installed what the index named, unsigned, and ran its python3.)
  expect(refused.code).toBe('CPY_SIGNATURE_MISSING');
  expect(await readdir(home).catch(() => [])).toEqual([]);
  expect(await readFile(join(venv, 'pyvenv.cfg'), 'utf8')).toBe(cfg);
  expect((await readdir(join(work, 'pinned'))).sort()).toEqual(['.venv', 'cpy-keys.asc', 'index.json', 'wheels']);
}, 300_000);

it("a venv that sees its base python's packages (include-system-site-packages): the upgrade says which of them the new venv no longer sees", async () => {
  // The old base: the same artifact at a prefix of its own, recorded in a state of its own, with a
  // distribution of its own in its site-packages (as /usr/lib/python3/dist-packages is Debian's).
  const line = artifact.metadata.version.split('.').slice(0, 2).join('.');
  const base = join(work, 'old-base');
  await installPython({ artifactUrl: artifact.path, installPrefix: base, binDir: null }, { env: { ...env, CPY_HOME: join(work, 'old-home') } });
  const site = join(base, 'lib', `python${line}`, 'site-packages');
  await mkdir(join(site, 'basepkg'), { recursive: true });
  await writeFile(join(site, 'basepkg', '__init__.py'), 'VALUE = 7\n');
  await mkdir(join(site, 'basepkg-2.0.dist-info'));
  await writeFile(join(site, 'basepkg-2.0.dist-info', 'METADATA'), 'Metadata-Version: 2.1\nName: basepkg\nVersion: 2.0\n');
  await writeFile(join(site, 'basepkg-2.0.dist-info', 'top_level.txt'), 'basepkg\n');
  const venv = join(work, 'sees-system', '.venv');
  await run(join(base, 'bin', 'python3'), ['-m', 'venv', '--system-site-packages', '--without-pip', venv]);
  expect((await run(join(venv, 'bin', 'python'), ['-c', 'import basepkg; print(basepkg.VALUE)'])).stdout.trim()).toBe('7');
  // And a .pth of the old base that prints as python exits: read as what the venv sees, it ended
  // cpy mid-upgrade (a JSON error nothing waited for), and every later upgrade the same way.
  await writeFile(join(site, 'zz_bye.pth'), 'import atexit; atexit.register(print, "bye")\n');

  const r = await upgradeVenv(venv, { to: line, offline: true, env });
  // The new venv sees the target's site-packages instead; basepkg is not there.
  expect(r.noLongerSeen).toEqual([{ name: 'basepkg', version: '2.0', location: await realpath(site) }]);
  expect(await readFile(join(venv, 'pyvenv.cfg'), 'utf8')).toMatch(/^include-system-site-packages = true$/m);
  await expect(run(join(venv, 'bin', 'python'), ['-c', 'import basepkg'])).rejects.toMatchObject({ stderr: expect.stringContaining("No module named 'basepkg'") });
}, 300_000);

it('a venv made with --copies (its python a copy: it runs when its base is moved) is made so again (it came back with links)', async () => {
  const venv = join(work, 'copies', '.venv');
  await run('/usr/bin/python3', ['-m', 'venv', '--copies', '--without-pip', venv]);
  const line = artifact.metadata.version.split('.').slice(0, 2).join('.');
  await upgradeVenv(venv, { to: line, offline: true, env });
  expect(await readFile(join(venv, 'pyvenv.cfg'), 'utf8')).toMatch(new RegExp(`^version = ${artifact.metadata.version.replace(/\./g, '\\.')}$`, 'm'));
  expect((await lstat(join(venv, 'bin', 'python'))).isSymbolicLink()).toBe(false);
  // And a venv of links stays one.
  const linked = join(work, 'links', '.venv');
  await run('/usr/bin/python3', ['-m', 'venv', '--without-pip', linked]);
  await upgradeVenv(linked, { to: line, offline: true, env });
  expect((await lstat(join(linked, 'bin', 'python'))).isSymbolicLink()).toBe(true);
}, 300_000);

it('asked to stop before the swap (Ctrl-C), it stops the program running, removes the new venv, and says so (CPY_VENV_CANCELLED); the venv is as it was', async () => {
  const { wheels, venv } = await venvWithPurepkg(join(work, 'stopped'));
  const cfg = await readFile(join(venv, 'pyvenv.cfg'), 'utf8');
  const line = artifact.metadata.version.split('.').slice(0, 2).join('.');
  const beside = async () => (await readdir(join(work, 'stopped'))).filter((n) => n !== 'wheels').sort();

  // Asked while the new venv is made, and while pip installs into it: each stops there.
  for (const at of ['create', 'install'] as const) {
    const stop = new AbortController();
    const phases: string[] = [];
    const error = await upgradeVenv(venv, {
      to: line,
      findLinks: [wheels],
      offline: true,
      env,
      signal: stop.signal,
      onEvent: (e) => {
        if (e.type !== 'phase') return;
        phases.push(e.phase);
        if (e.phase === at) stop.abort();
      },
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CPY_VENV_CANCELLED', message: `the upgrade of ${venv} was stopped before the swap: the venv is as it was` });
    expect(phases.at(-1)).toBe(at);
    expect(await beside()).toEqual(['.venv']);
    expect(await readFile(join(venv, 'pyvenv.cfg'), 'utf8')).toBe(cfg);
    expect((await run(join(venv, 'bin', 'python'), ['-c', 'import purepkg; print(purepkg.VALUE)'])).stdout.trim()).toBe('42');
  }

  // Nothing to finish or undo: the next run says nothing of a recovery, and upgrades.
  const phases: string[] = [];
  const r = await upgradeVenv(venv, { to: line, findLinks: [wheels], offline: true, env, onEvent: (e) => e.type === 'phase' && phases.push(e.phase) });
  expect(r.distributions.map((d) => d.name)).toContain('purepkg');
  expect(phases).not.toContain('recover');
  expect(phases.at(-1)).toBe('swap');
}, 300_000);

it('stopped while pip runs a build backend (Ctrl-C), the backend is ended, not waited for (it would sleep two minutes); the venv is as it was', async () => {
  const { wheels, venv } = await venvWithPurepkg(join(work, 'stopped-backend'));
  const project = join(work, 'slowproj');
  await editableProject(project, 'slowproj');
  await run(join(venv, 'bin', 'pip'), ['install', '-q', '--no-index', '-e', project]);
  await writeFile(join(project, 'slow'), '');
  const cfg = await readFile(join(venv, 'pyvenv.cfg'), 'utf8');
  const line = artifact.metadata.version.split('.').slice(0, 2).join('.');

  // Ctrl-C once the backend has started: pip is then running it, in a process of its own.
  const stop = new AbortController();
  const poll = setInterval(() => {
    readFile(join(project, 'started')).then(
      () => stop.abort(),
      () => undefined,
    );
  }, 50);
  const started = Date.now();
  const error = await upgradeVenv(venv, { to: line, findLinks: [wheels], offline: true, env, signal: stop.signal })
    .catch((e: unknown) => e)
    .finally(() => clearInterval(poll));
  const took = Date.now() - started;
  expect(error).toMatchObject({ code: 'CPY_VENV_CANCELLED' });
  const backend = Number(await readFile(join(project, 'started'), 'utf8'));
  expect(backend).toBeGreaterThan(1);
  // Settled once the backend was gone: well before its sleep would have ended.
  expect(took).toBeLessThan(60_000);
  expect(running(backend)).toBe(false);
  expect((await readdir(join(work, 'stopped-backend'))).sort()).toEqual(['.venv', 'wheels']);
  expect(await readFile(join(venv, 'pyvenv.cfg'), 'utf8')).toBe(cfg);
  expect((await run(join(venv, 'bin', 'python'), ['-c', 'import purepkg, slowproj; print(purepkg.VALUE)'])).stdout.trim()).toBe('42');
}, 300_000);

/** Whether a process is there and not a zombie (one whose parent has not reaped it has ended). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

it('a venv upgraded before, upgraded again to the python it runs, is left as it is, and so is the venv the first upgrade kept; a second real upgrade says the kept one is replaced; what the venv held outside site-packages is named', async () => {
  const dir = join(work, 'again');
  const { wheels, venv } = await venvWithPurepkg(dir);
  // The venv's own files outside site-packages: neither venv nor pip makes them in the new venv.
  await writeFile(join(venv, 'bin', 'my-hook'), '#!/bin/sh\necho hook\n', { mode: 0o755 });
  await mkdir(join(venv, 'etc'));
  await writeFile(join(venv, 'etc', 'my.conf'), 'answer = 42\n');
  const version = artifact.metadata.version;
  const line = version.split('.').slice(0, 2).join('.');
  const options = { to: line, findLinks: [wheels], offline: true, env };
  const kept = `${venv}.cpy-previous`;

  // /usr/bin/python3 -> the target: before, the files were left behind without a word (leftBehind: []).
  const first = await upgradeVenv(venv, options);
  expect(first).toMatchObject({ status: 'upgraded', to: version, previous: kept, replaced: null, leftBehind: [], notCarried: ['bin/my-hook', 'etc'] });
  expect(await readdir(join(venv, 'bin'))).not.toContain('my-hook');
  expect(await readFile(join(kept, 'etc', 'my.conf'), 'utf8')).toBe('answer = 42\n');
  const keptCfg = await readFile(join(kept, 'pyvenv.cfg'), 'utf8');

  // Again to the python it runs now: nothing to do. Before, it was rebuilt ("3.x.y -> 3.x.y") and the
  // kept venv, the only copy of the venv of before, deleted.
  const phases: string[] = [];
  const again = await upgradeVenv(venv, { ...options, onEvent: (e) => e.type === 'phase' && phases.push(`${e.phase}: ${e.detail}`) });
  expect(again).toEqual({
    status: 'already',
    path: venv,
    from: version,
    to: version,
    prefix: join(work, 'home', `python-${version}`),
    previous: kept,
    replaced: null,
    distributions: [],
    leftBehind: [],
    notCarried: [],
    noLongerSeen: [],
  });
  expect(phases.map((p) => p.split(':')[0])).toEqual(['read', 'target']);
  // A name to leave out that it does not hold is refused there too (it was told to pip uninstall it); one it holds is not.
  await expect(upgradeVenv(venv, { ...options, exclude: ['nothere'] })).rejects.toMatchObject({ code: 'CPY_VENV_NOT_INSTALLED', message: `${venv} holds no nothere to leave out` });
  expect((await upgradeVenv(venv, { ...options, exclude: ['purepkg'] })).status).toBe('already');
  expect(await readFile(join(kept, 'pyvenv.cfg'), 'utf8')).toBe(keptCfg);
  expect(await readFile(join(kept, 'etc', 'my.conf'), 'utf8')).toBe('answer = 42\n');
  expect((await readdir(dir)).sort()).toEqual(['.venv', '.venv.cpy-previous', 'wheels']);

  // The same version at another prefix is another python: a real upgrade, which replaces the kept
  // venv (the one of /usr/bin/python3) with the one it replaces, and says so.
  const other = { ...env, CPY_HOME: join(work, 'home-2') };
  await installPython({ artifactUrl: artifact.path, binDir: null }, { env: other });
  phases.length = 0;
  const second = await upgradeVenv(venv, { ...options, env: other, onEvent: (e) => e.type === 'phase' && phases.push(`${e.phase}: ${e.detail}`) });
  expect(second).toMatchObject({ status: 'upgraded', from: version, prefix: join(work, 'home-2', `python-${version}`), previous: kept, replaced: { version: first.from }, notCarried: [] });
  expect(phases).toContainEqual(
    `swap: ${venv} <-> .venv.cpy-next; the venv an earlier upgrade kept (Python ${first.from}) is replaced in .venv.cpy-previous by this one (Python ${version})`,
  );
  expect(await readFile(join(kept, 'pyvenv.cfg'), 'utf8')).toMatch(new RegExp(`^home = ${join(work, 'home', `python-${version}`, 'bin')}$`, 'm'));
}, 300_000);

/** A wheel of `bigpkg` 1.0 in `dir`: a module and 24 MiB of random bytes, stored (a zip does not shrink them). */
const BIG_WHEEL = String.raw`
import base64, hashlib, os, sys, zipfile
files = {'bigpkg/__init__.py': b'VALUE = 1\n', 'bigpkg/blob.bin': os.urandom(24 * 1024 * 1024),
         'bigpkg-1.0.dist-info/METADATA': b'Metadata-Version: 2.1\nName: bigpkg\nVersion: 1.0\n',
         'bigpkg-1.0.dist-info/WHEEL': b'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
         'bigpkg-1.0.dist-info/top_level.txt': b'bigpkg\n'}
line = lambda p, d: '%s,sha256=%s,%d\n' % (p, base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode(), len(d))
with zipfile.ZipFile(os.path.join(sys.argv[1], 'bigpkg-1.0-py3-none-any.whl'), 'w') as z:
    for p, d in files.items():
        z.writestr(p, d)
    z.writestr('bigpkg-1.0.dist-info/RECORD', ''.join(line(p, d) for p, d in files.items()) + 'bigpkg-1.0.dist-info/RECORD,,\n')
`;

(canMount() ? it : it.skip)("a disk that fills while pip installs into the new venv: said once, as the disk's (it was each distribution failing in turn, and --exclude them); the venv is as it was", async () => {
  const wheels = join(work, 'full-wheels');
  await mkdir(wheels, { recursive: true });
  await makeWheelhouse(wheels);
  await run('/usr/bin/python3', ['-c', BIG_WHEEL, wheels]);
  const disk = await mountSmallDisk(192 * 1024 * 1024, join(work, 'full'));
  try {
    const venv = join(disk.dir, '.venv');
    await run('/usr/bin/python3', ['-m', 'venv', venv]);
    await run(join(venv, 'bin', 'pip'), ['install', '-q', '--no-index', '--find-links', wheels, 'purepkg==1.0', 'bigpkg==1.0']);
    // Room for the new venv and pip, not for bigpkg's 24 MiB once more.
    const { bavail, bsize } = await statfs(disk.dir);
    await run('fallocate', ['-l', String(Number(bavail) * Number(bsize) - 40 * 1024 * 1024), join(disk.dir, 'filler')]);
    const line = artifact.metadata.version.split('.').slice(0, 2).join('.');

    const error = await upgradeVenv(venv, { to: line, findLinks: [wheels], offline: true, env }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'CPY_VENV_CREATE_FAILED',
      message: expect.stringMatching(new RegExp(`^pip cannot write the new venv at ${venv}\\.cpy-next: .*No space left on device`)),
      hint: `the venv is as it was; free space where that says, then run again: the new venv is made beside the old one, in ${disk.dir}, and pip unpacks and builds in ${tmpdir()} (TMPDIR)`,
    });
    expect((await readdir(disk.dir)).sort()).toEqual(['.venv', 'filler']);
    expect((await run(join(venv, 'bin', 'python'), ['-c', 'import bigpkg, purepkg; print(purepkg.VALUE)'])).stdout.trim()).toBe('42');
  } finally {
    await disk.unmount();
  }
}, 300_000);

import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { withLock } from '@cpy/core';
import { canMount, makeHostPythonArtifact, mountSmallDisk, type PythonMirror, repackArtifact, repoRoot, runCpy, startCpy, startPythonMirror, type TestArtifact } from '@cpy/harness';

const run = promisify(execFile);

/** The user nobody (and group nogroup): a normal user who owns nothing here. */
const NOBODY = 65534;

let work: string;
let mirror: PythonMirror;
let artifact: TestArtifact;

/** A process's command line, '' for one that has ended. */
const procCmdline = (pid: string): string => {
  try {
    return readFileSync(join('/proc', pid, 'cmdline'), 'utf8');
  } catch {
    return '';
  }
};

const cpy = (args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) =>
  runCpy(args, { ...(options.cwd ? { cwd: options.cwd } : {}), env: { CPY_HOME: join(work, 'home'), CPY_CACHE_DIR: join(work, 'cache'), NO_COLOR: '1', ...options.env } });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-cli-install-'));
  artifact = await makeHostPythonArtifact(join(work, 'artifacts'));
  mirror = await startPythonMirror();
  mirror.serve(`releases/${artifact.fileName}`, artifact.path);
  mirror.serve(`releases/${artifact.fileName}.sha256`, artifact.checksumPath);
}, 180_000);
afterAll(async () => {
  await mirror.close();
  await rm(work, { recursive: true, force: true });
});

describe('cpy install / list / use / uninstall (the built bin)', () => {
  it('installs from a URL with progress on stderr and one JSON document on stdout; again: already installed', async () => {
    const url = mirror.fileUrl('releases', artifact.fileName);
    const r = await cpy(['install', '--from', url, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      outcome: 'success',
      command: 'install',
      install: { status: 'installed', version: artifact.metadata.version, sha256: artifact.sha256, prefix: join(work, 'home', `python-${artifact.metadata.version}`) },
    });
    expect(r.stderr).toMatch(/downloading cpython-.*\(5\.\d MiB|\d+\.\d MiB\)/);
    expect(r.stderr).toMatch(/relocate: \/opt\/python-[\d.]+ -> /);
    expect(r.stderr).toMatch(/validate: python3, critical modules, sysconfig, venv through a link/);
    const python = await run(join(work, 'home', 'bin', 'python3'), ['-c', 'import ssl, sqlite3; print("ok")']);
    expect(python.stdout).toBe('ok\n');

    const requests = mirror.requests.length;
    const again = await cpy(['install', '--from', url]);
    expect([again.code, again.stdout]).toEqual([0, expect.stringMatching(/^already installed: CPython .* \(\d+ ms\)/)]);
    expect(mirror.requests.length).toBe(requests);

    const list = JSON.parse((await cpy(['list', '--json'])).stdout);
    expect(list.installed).toEqual([expect.objectContaining({ version: artifact.metadata.version, current: true, broken: false })]);
    // `cpy use` takes a release line, as `cpy install` does: the newest installed version in it.
    const used = await cpy(['use', artifact.metadata.version.split('.').slice(0, 2).join('.')]);
    expect([used.code, used.stdout]).toEqual([0, `already using ${artifact.metadata.version}\n`]);
  });

  it('exits 1 with the error code and a hint when it cannot do what was asked, 2 on bad usage', async () => {
    const current = await cpy(['uninstall', artifact.metadata.version]);
    expect([current.code, current.stderr]).toEqual([1, expect.stringMatching(/error \[CPY_INSTALL_IN_USE\]: .*\n\s+hint: .*--force/)]);
    const unknown = await cpy(['use', '3.1.4', '--json']);
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stdout).error.code).toBe('CPY_INSTALL_NOT_INSTALLED');
    const bad = await cpy(['install', '--from', join(work, 'nope.tgz'), '--sha256', 'xyz']);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/sha256: must be 64 hex digits/)]);
    expect((await cpy(['install'])).code).toBe(2);
    // What only --available reads is refused without it (it was ignored without a word).
    const listed = await cpy(['list', '--index', join(work, 'index.json'), '--json']);
    expect([listed.code, JSON.parse(listed.stdout).error]).toEqual([2, expect.objectContaining({ code: 'CPY_CLI_USAGE', message: expect.stringContaining('only for --available') })]);
    // A directory given as the artifact: said so, before its name is taken for a version.
    const dir = await cpy(['install', '--from', work, '--json']);
    expect([dir.code, JSON.parse(dir.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_INSTALL_NOT_FOUND', message: `the artifact ${work} is a directory, not an artifact file` })]);
    // A release line names the one version of it installed.
    const forced = await cpy(['uninstall', artifact.metadata.version.split('.').slice(0, 2).join('.'), '--force']);
    expect([forced.code, forced.stdout]).toEqual([0, expect.stringMatching(new RegExp(`^removed ${artifact.metadata.version.replace(/\./g, '\\.')} \\(.*\\); its links removed from ${join(work, 'home', 'bin')}: python3, python, pydoc3, python${artifact.metadata.version.split('.').slice(0, 2).join('.').replace('.', '\\.')}\n$`))]);
    expect(JSON.parse((await cpy(['list', '--json'])).stdout).installed).toEqual([]);
  });

  it('an artifact published damaged (its sha256 made of the truncated file): CPY_ARTIFACT_CORRUPT saying a new download is the same; the cache does not keep it for an offline install', async () => {
    const root = join(work, 'damaged');
    const env = { CPY_HOME: join(root, 'home'), CPY_CACHE_DIR: join(root, 'cache'), NO_COLOR: '1' };
    const file = join(root, artifact.fileName);
    await mkdir(root, { recursive: true });
    const whole = await readFile(artifact.path);
    const part = whole.subarray(0, Math.floor(whole.length * 0.6));
    await writeFile(file, part);
    await writeFile(`${file}.sha256`, `${createHash('sha256').update(part).digest('hex')}  ${artifact.fileName}\n`);
    const r = await runCpy(['install', '--from', file, '--no-link', '--json'], { env });
    expect([r.code, JSON.parse(r.stdout).error]).toEqual([
      1,
      expect.objectContaining({
        code: 'CPY_ARTIFACT_CORRUPT',
        message: expect.stringMatching(new RegExp(`^${artifact.fileName.replace(/\./g, '\\.')} matches its sha256, but cannot be unpacked: .+`)),
        hint: expect.stringContaining('a new download is the same'),
      }),
    ]);
    expect(await readdir(join(root, 'cache', 'artifacts'))).toEqual([]);
    // Offline, by version: nothing cached to take (it took the damaged file again, and failed the same way).
    const again = await runCpy(['install', artifact.metadata.version, '--no-link', '--json'], { env });
    expect([again.code, JSON.parse(again.stdout).error.code]).toEqual([1, 'CPY_INSTALL_NO_SOURCE']);
    expect(await readdir(join(root, 'home'))).not.toContain(`python-${artifact.metadata.version}`);
  });

  it('cpy artifact validate leaves no scratch directory: when it ends, and when Ctrl-C stops it (exit 130; it was left in /tmp)', async () => {
    const scratch = join(work, 'validate-tmp');
    await mkdir(scratch);
    const env = { ...process.env, TMPDIR: scratch, NO_COLOR: '1' };
    const bin = join(repoRoot(), 'apps', 'cli', 'bin', 'cpy.cjs');
    const missing = await run(process.execPath, [bin, 'artifact', 'validate', join(work, 'nope.tgz'), '--json'], { env }).then(
      () => ({ code: 0, stdout: '{}' }),
      (e: { code: number; stdout: string }) => e,
    );
    expect([missing.code, JSON.parse(missing.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_ARTIFACT_NOT_FOUND', message: `${join(work, 'nope.tgz')} does not exist` })]);
    // A --checksum (or, for artifact test, --tests) that is not there: said at once, naming it (the
    // validation ran whole, then said "rebuild"; the tests said to pass --tests).
    const checksum = join(work, 'nope.sha256');
    const noSum = await runCpy(['artifact', 'validate', artifact.path, '--checksum', checksum, '--json'], { env: { TMPDIR: scratch } });
    expect([noSum.code, JSON.parse(noSum.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_ARTIFACT_NOT_FOUND', message: `${checksum} does not exist`, hint: expect.stringContaining('--checksum') })]);
    const tests = join(work, 'nope.tests.tgz');
    const noTests = await runCpy(['artifact', 'test', artifact.path, '--tests', tests, '--json'], { env: { TMPDIR: scratch } });
    expect([noTests.code, JSON.parse(noTests.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_ARTIFACT_NOT_FOUND', message: `${tests} does not exist` })]);
    // Run to its end (this test artifact, of Debian's python3, fails some checks: exit 1), it leaves nothing either.
    const whole = await run(process.execPath, [bin, 'artifact', 'validate', artifact.path, '--json'], { env }).catch((e: { code: number; stdout: string }) => e);
    expect(JSON.parse(whole.stdout).report.checks).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'structure', ok: true })]));
    expect(await readdir(scratch)).toEqual([]);
    const child = spawn(process.execPath, [bin, 'artifact', 'validate', artifact.path, '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    // Once the tree's python3 runs its checks (venvs, pip, a C extension: seconds): Ctrl-C.
    const started = Date.now();
    for (;;) {
      const dirs = await readdir(scratch);
      if (dirs.length > 0 && existsSync(join(scratch, dirs[0]!, 'checks'))) break;
      if (Date.now() - started > 60_000) throw new Error('the validation never ran its checks');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGINT');
    expect(await closed).toBe(130);
    expect(stderr).toMatch(/validation stopped: removing .*cpy-validate-/);
    // --json still gets its document (it got nothing, the exit code alone).
    expect(JSON.parse(stdout)).toMatchObject({ outcome: 'error', error: { code: 'CPY_ARTIFACT_CANCELLED', message: expect.stringMatching(/^validation was stopped before it finished.*\(SIGINT\)$/) } });
    expect(await readdir(scratch)).toEqual([]);
    // Nothing it started is left running (its python3 went on checking, and writing, in the directory removed).
    const left = (await readdir('/proc')).filter((pid) => /^\d+$/.test(pid) && procCmdline(pid).includes(scratch));
    expect(left).toEqual([]);
  });

  it('Ctrl-C while it downloads and unpacks: CPY_INSTALL_CANCELLED (exit 1), nothing installed and nothing staged left; the next run installs', async () => {
    const root = join(work, 'interrupted');
    const env = { ...process.env, CPY_HOME: join(root, 'home'), CPY_CACHE_DIR: join(root, 'cache'), NO_COLOR: '1' };
    // The download stops after 1 MB (the pass has begun unpacking), until the test lets it go.
    let release = () => undefined as void;
    const held = new Promise<void>((resolve) => (release = resolve));
    mirror.inject(`releases/${artifact.fileName}`, { pauseAfterBytes: 1_000_000, resume: held });
    const url = mirror.fileUrl('releases', artifact.fileName);
    try {
      const run = startCpy(['install', '--from', url, '--json'], { env });
      await run.until(/extract: .*as it arrives/);
      expect((await readdir(join(root, 'home'))).filter((n) => n.startsWith('.cpy-staging-'))).toHaveLength(1);
      run.child.kill('SIGINT');
      expect(await run.closed).toBe(1);
      expect(run.stderr()).toMatch(/stopping the install/);
      expect(JSON.parse(run.stdout()).error).toMatchObject({ code: 'CPY_INSTALL_CANCELLED', message: expect.stringContaining('nothing was installed') });
      expect((await readdir(join(root, 'home'))).filter((n) => n !== 'state')).toEqual([]);
    } finally {
      release();
    }
    // Without --json: with --no-link it says no python3 link was made.
    const again = await runCpy(['install', '--from', url, '--no-link'], { env: { CPY_HOME: join(root, 'home'), CPY_CACHE_DIR: join(root, 'cache'), NO_COLOR: '1' } });
    expect([again.code, again.stdout]).toEqual([0, expect.stringMatching(/^installed: CPython .*\n {2}sha256 [0-9a-f]{64}\n {2}now the current version \(no links: --no-link\)\n$/)]);
  });

  (process.getuid?.() === 0 ? it : it.skip)('as a normal user, a CPY_HOME it may not write: CPY_INSTALL_NOT_WRITABLE naming it and saying what to do, not an internal error', async () => {
    // The artifact where anyone may read it; a cache the user owns; a home in a directory root owns.
    const shared = join(work, 'shared');
    await mkdir(shared, { recursive: true });
    for (const file of [artifact.path, artifact.checksumPath]) await cp(file, join(shared, basename(file)));
    for (const dir of [work, shared]) await chmod(dir, 0o755);
    const cache = join(work, 'nobody-cache');
    await mkdir(cache);
    await chown(cache, NOBODY, NOBODY);
    await mkdir(join(work, 'roots'), { mode: 0o755 });
    const home = join(work, 'roots', 'home');
    const r = await runCpy(['install', '--from', join(shared, artifact.fileName), '--json'], { uid: NOBODY, env: { CPY_HOME: home, CPY_CACHE_DIR: cache, NO_COLOR: '1' } });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({
      code: 'CPY_INSTALL_NOT_WRITABLE',
      message: `cannot write ${home}: permission denied`,
      hint: expect.stringContaining('~/.local/share/cpy'),
    });
  });

  (process.getuid?.() === 0 ? it : it.skip)("as a normal user, root's installs: cpy use and cpy uninstall say to run as the user who installed them, or to keep a layout of one's own (they said to install elsewhere with --prefix, a flag they do not have)", async () => {
    const dir = join(work, 'roots-layout');
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await chmod(work, 0o755);
    const env = { CPY_HOME: join(dir, 'home'), CPY_CACHE_DIR: join(dir, 'cache'), NO_COLOR: '1' };
    expect((await runCpy(['install', '--from', artifact.path, '--skip-validation'], { env })).code).toBe(0);
    // A link of the current version gone: use has something to do, under the state's lock.
    await rm(join(dir, 'home', 'bin', 'pydoc3'));
    const hint = "run as the user who installed it (sudo, for root's installs), or keep a cpy layout of your own (CPY_HOME, or --state-dir and --bin-dir): nothing was changed";
    for (const args of [['use', artifact.metadata.version], ['uninstall', artifact.metadata.version, '--force']]) {
      const r = await runCpy([...args, '--json'], { uid: NOBODY, env });
      expect([r.code, JSON.parse(r.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_INSTALL_NOT_WRITABLE', hint })]);
    }
    expect(existsSync(join(dir, 'home', `python-${artifact.metadata.version}`, 'bin', 'python3'))).toBe(true);
  });

  (canMount() ? it : it.skip)('artifact test of an artifact in a read-only directory, where its log goes: said at once, as the disk\'s refusal, nothing left behind (it unpacked, then Node ended on an unhandled error with no JSON, leaving the tree in TMPDIR)', async () => {
    const dir = join(work, 'ro-artifact');
    const scratch = join(work, 'ro-artifact-tmp');
    await mkdir(join(dir, 'empty', 'opt'), { recursive: true });
    await mkdir(scratch);
    await cp(artifact.path, join(dir, artifact.fileName));
    await run('tar', ['czf', join(dir, artifact.fileName.replace(/\.tgz$/, '.tests.tgz')), '-C', join(dir, 'empty'), 'opt']);
    await run('mount', ['--bind', dir, dir]);
    try {
      await run('mount', ['-o', 'remount,bind,ro', dir]);
      const r = await runCpy(['artifact', 'test', join(dir, artifact.fileName), '--json'], { env: { TMPDIR: scratch, NO_COLOR: '1' } });
      expect([r.code, JSON.parse(r.stdout).error]).toEqual([
        1,
        expect.objectContaining({ code: 'CPY_CLI_CANNOT_WRITE', message: `cannot write ${join(dir, artifact.fileName.replace(/\.tgz$/, '.critical-tests.log'))}: its file system is read-only` }),
      ]);
    } finally {
      await run('umount', [dir]);
    }
    expect(await readdir(scratch)).toEqual([]);
  });

  (canMount() ? it : it.skip)('uninstall where the file system is read-only (a read-only root in a container): said as such, and that nothing changed (it said to check that python3 runs, and to install the version again)', async () => {
    const dir = join(work, 'ro-uninstall');
    const env = { CPY_HOME: join(dir, 'home'), CPY_CACHE_DIR: join(dir, 'cache'), NO_COLOR: '1' };
    await mkdir(join(dir, 'home', 'opt'), { recursive: true });
    const prefix = join(dir, 'home', 'opt', 'py');
    expect((await runCpy(['install', '--from', artifact.path, '--skip-validation', '--prefix', prefix], { env })).code).toBe(0);
    // The prefix's directory read-only (a bind mount onto itself), the state writable.
    await run('mount', ['--bind', dirname(prefix), dirname(prefix)]);
    try {
      await run('mount', ['-o', 'remount,bind,ro', dirname(prefix)]);
      const r = await runCpy(['uninstall', artifact.metadata.version, '--force', '--json'], { env });
      expect([r.code, JSON.parse(r.stdout).error]).toEqual([
        1,
        expect.objectContaining({ code: 'CPY_INSTALL_NOT_WRITABLE', hint: 'that file system is mounted read-only: cpy cannot change what it installed there until it is mounted read-write; nothing was changed' }),
      ]);
    } finally {
      await run('umount', [dirname(prefix)]);
    }
    expect(existsSync(join(prefix, 'bin', 'python3'))).toBe(true);
    expect((await runCpy(['list', '--json'], { env })).stdout).toContain(prefix);
  });

  (process.getuid?.() === 0 ? it : it.skip)('as a normal user, an artifact cache root owns (~/.cache/cpy made by a sudo run): the hint names the cache and CPY_CACHE_DIR (it said --prefix or CPY_HOME, which do not move it)', async () => {
    const shared = join(work, 'shared-cache-case');
    await mkdir(shared, { recursive: true });
    for (const file of [artifact.path, artifact.checksumPath]) await cp(file, join(shared, basename(file)));
    for (const dir of [work, shared]) await chmod(dir, 0o755);
    const own = join(work, 'nobody-own');
    await mkdir(own);
    await chown(own, NOBODY, NOBODY);
    const rootsCache = join(work, 'roots-cache');
    await mkdir(rootsCache, { mode: 0o755 });
    const install = () => runCpy(['install', '--from', join(shared, artifact.fileName), '--json'], { uid: NOBODY, env: { CPY_HOME: join(own, 'home'), CPY_CACHE_DIR: rootsCache, NO_COLOR: '1' } });
    const r = await install();
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({
      code: 'CPY_INSTALL_NOT_WRITABLE',
      message: `cannot write ${join(rootsCache, 'artifacts')}: permission denied`,
      hint: `this user may not write the artifact cache ${rootsCache}: make it theirs (sudo chown -R "$(id -un)" ${rootsCache}), or choose another cache directory (CPY_CACHE_DIR)`,
    });
    // Its artifacts/ made by root too: the checksum written there fails, said so (it was
    // CPY_INSTALL_DOWNLOAD_FAILED, "free some disk space").
    await mkdir(join(rootsCache, 'artifacts'), { mode: 0o755 });
    const again = await install();
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout).error).toMatchObject({
      code: 'CPY_INSTALL_NOT_WRITABLE',
      message: expect.stringContaining(`cannot write ${join(rootsCache, 'artifacts')}`),
      hint: `this user may not write the artifact cache ${rootsCache}: make it theirs (sudo chown -R "$(id -un)" ${rootsCache}), or choose another cache directory (CPY_CACHE_DIR)`,
    });
    // Once root's cache holds the build, this user installs from it: nothing there to write (every
    // install rewrote the build's cache entry, and was refused as not writable).
    expect((await runCpy(['install', '--from', join(shared, artifact.fileName), '--no-link'], { env: { CPY_HOME: join(work, 'roots-own-home'), CPY_CACHE_DIR: rootsCache } })).code).toBe(0);
    const fromRoots = await install();
    expect([fromRoots.code, JSON.parse(fromRoots.stdout).outcome, JSON.parse(fromRoots.stdout).error]).toEqual([0, 'success', undefined]);
  });

  it('a prefix or an artifact cache whose directory cannot be made (under a link to nothing or a file; under /proc, where Node\'s mkdir -p spun forever): CPY_INSTALL_NOT_WRITABLE naming what is in the way', async () => {
    const dir = join(work, 'in-the-way');
    await mkdir(dir, { recursive: true });
    await symlink(join(dir, 'gone'), join(dir, 'link'));
    const env = { CPY_HOME: join(dir, 'home'), CPY_CACHE_DIR: join(dir, 'cache'), NO_COLOR: '1' };
    for (const [prefix, said] of [
      [join(dir, 'link', 'py'), `cannot make ${join(dir, 'link')} for the prefix ${join(dir, 'link', 'py')}: ${join(dir, 'link')} is a link to ${join(dir, 'gone')}, which is not there`],
      ['/proc/cpy-no-such-dir/py', 'cannot make /proc/cpy-no-such-dir for the prefix /proc/cpy-no-such-dir/py: /proc/cpy-no-such-dir cannot be made (ENOENT): its file system makes no directory there'],
    ] as const) {
      const r = await runCpy(['install', '--from', artifact.path, '--prefix', prefix, '--no-link', '--json'], { env });
      expect([r.code, JSON.parse(r.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_INSTALL_NOT_WRITABLE', message: said })]);
    }
    expect(existsSync(join(dir, 'gone'))).toBe(false);
    // The artifact cache likewise (it was CPY_CLI_INTERNAL): CPY_CACHE_DIR under a file, or under /proc.
    await writeFile(join(dir, 'a-file'), 'notes\n');
    for (const [cache, said] of [
      [join(dir, 'a-file', 'cache'), `cannot make ${join(dir, 'a-file', 'cache', 'artifacts')} for the artifact cache: ${join(dir, 'a-file')} is a file`],
      ['/proc/cpy-no-such-dir', 'cannot make /proc/cpy-no-such-dir/artifacts for the artifact cache: /proc/cpy-no-such-dir cannot be made (ENOENT): its file system makes no directory there'],
    ] as const) {
      const r = await runCpy(['install', '--from', artifact.path, '--no-link', '--json'], { env: { ...env, CPY_CACHE_DIR: cache } });
      expect([r.code, JSON.parse(r.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_INSTALL_NOT_WRITABLE', message: said, hint: expect.stringContaining('CPY_CACHE_DIR') })]);
    }
    expect(await readFile(join(dir, 'a-file'), 'utf8')).toBe('notes\n');
  });

  it('a bin dir that cannot take the links (a file): refused before the tree is in place, nothing installed; it was placed and left unrecorded, unlisted and unremovable', async () => {
    const dir = join(work, 'bin-is-a-file');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'bin'), 'notes\n');
    const env = { CPY_HOME: join(dir, 'home'), CPY_CACHE_DIR: join(dir, 'cache'), NO_COLOR: '1' };
    const r = await runCpy(['install', '--from', artifact.path, '--skip-validation', '--bin-dir', join(dir, 'bin'), '--json'], { env });
    expect([r.code, JSON.parse(r.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_INSTALL_NOT_WRITABLE', message: `cannot make the python3 links in ${join(dir, 'bin')}: it is not a directory` })]);
    expect(existsSync(join(dir, 'home', `python-${artifact.metadata.version}`))).toBe(false);
    expect(JSON.parse((await runCpy(['list', '--json'], { env })).stdout).installed).toEqual([]);
    // With a bin dir that can, the same command installs.
    expect((await runCpy(['install', '--from', artifact.path, '--skip-validation', '--bin-dir', join(dir, 'links')], { env })).code).toBe(0);
    expect(await readFile(join(dir, 'bin'), 'utf8')).toBe('notes\n');
  });

  it('a .tar.zst artifact: installed where zstd runs; where it does not, said as such, by its name (it was "not an artifact", naming the cache\'s copy, and to install a .tgz made by cpy build)', async () => {
    const dir = join(work, 'zstd');
    await mkdir(dir, { recursive: true });
    const zst = join(dir, artifact.fileName.replace(/\.tgz$/, '.tar.zst'));
    await run('sh', ['-c', 'gzip -dc "$1" | zstd -q -3 -o "$2" && cd "$(dirname "$2")" && sha256sum "$(basename "$2")" > "$2.sha256"', 'sh', artifact.path, zst]);
    const env = { CPY_HOME: join(dir, 'home'), CPY_CACHE_DIR: join(dir, 'cache'), NO_COLOR: '1' };
    // No zstd on PATH (an empty directory: cpy itself needs no program from it here).
    await mkdir(join(dir, 'empty-path'));
    const r = await runCpy(['install', '--from', zst, '--skip-validation', '--no-link', '--json'], { env: { ...env, PATH: join(dir, 'empty-path') } });
    expect([r.code, JSON.parse(r.stdout).error]).toEqual([
      1,
      expect.objectContaining({
        code: 'CPY_ARTIFACT_NO_ZSTD',
        message: `${basename(zst)} is zstd-compressed, and zstd cannot be run here: spawn zstd ENOENT`,
        hint: 'install zstd (apt-get install zstd) and run again, or install its .tgz build: nothing was installed',
      }),
    ]);
    expect(existsSync(join(dir, 'home', `python-${artifact.metadata.version}`))).toBe(false);
    // With zstd there, the same command installs it, and its python3 runs.
    const ok = await runCpy(['install', '--from', zst, '--no-link'], { env: { ...env, PATH: '/usr/bin:/bin' } });
    expect([ok.code, ok.stdout]).toEqual([0, expect.stringContaining(`installed: CPython ${artifact.metadata.version}`)]);
    expect((await run(join(dir, 'home', `python-${artifact.metadata.version}`, 'bin', 'python3'), ['-c', 'import ssl, sqlite3; print("ok")'])).stdout.trim()).toBe('ok');
  });

  it('links made where PATH does not look, or behind another python3 on PATH: a note says which python3 the shell runs instead and what to do; none when PATH finds them first', async () => {
    const dir = join(work, 'path-advice');
    const env = { CPY_HOME: join(dir, 'home'), CPY_CACHE_DIR: join(dir, 'cache'), NO_COLOR: '1' };
    const links = join(dir, 'links');
    const other = join(dir, 'other-bin');
    await mkdir(other, { recursive: true });
    await writeFile(join(other, 'python3'), '#!/bin/sh\necho not cpy\n', { mode: 0o755 });
    const off = await runCpy(['install', '--from', artifact.path, '--skip-validation', '--bin-dir', links], { env: { ...env, PATH: '/usr/bin:/bin' } });
    expect(off.code).toBe(0);
    expect(off.stderr).toContain(`note: ${links} is not on PATH: run ${join(links, 'python3')} by its path, or add it (export PATH="${links}:$PATH")`);
    const behind = await runCpy(['install', '--from', artifact.path, '--skip-validation', '--bin-dir', links], { env: { ...env, PATH: `${other}:${links}:/usr/bin:/bin` } });
    expect(behind.stderr).toContain(`note: python3 on PATH is ${join(other, 'python3')}, which comes before ${links}: put ${links} first in PATH to run this one`);
    const first = await runCpy(['install', '--from', artifact.path, '--skip-validation', '--bin-dir', links], { env: { ...env, PATH: `${links}:${other}:/usr/bin:/bin` } });
    expect(first.stderr).not.toContain('note:');
  });

  it('Ctrl-C while cpy uninstall waits for another install\'s lock stops the wait: CPY_INSTALL_CANCELLED saying so (it said CPY_INSTALL_LOCKED, the code of a lock still held), nothing removed (it went on waiting, then removed it)', async () => {
    const dir = join(work, 'uninstall-waits');
    const env = { CPY_HOME: join(dir, 'home'), CPY_CACHE_DIR: join(dir, 'cache'), NO_COLOR: '1' };
    expect((await runCpy(['install', '--from', artifact.path, '--skip-validation', '--no-link'], { env })).code).toBe(0);
    // Held by a live process on this host (this test's), as a running install holds it.
    await writeFile(join(dir, 'home', 'state', 'locks', 'state.lock'), `${process.pid} ${hostname()} a-running-install`);
    const child = spawn(process.execPath, [join(repoRoot(), 'apps', 'cli', 'bin', 'cpy.cjs'), 'uninstall', artifact.metadata.version, '--force', '--json'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGINT');
    expect(await closed).toBe(1);
    expect(stderr).toMatch(/stopping: a change already begun is finished first/);
    expect(JSON.parse(stdout).error).toMatchObject({ code: 'CPY_INSTALL_CANCELLED', message: expect.stringMatching(/^stopped while waiting for .*state\.lock, which another install holds \(process \d+ on .*\): nothing was changed$/) });
    expect(existsSync(join(dir, 'home', `python-${artifact.metadata.version}`, 'bin', 'python3'))).toBe(true);
    expect(JSON.parse((await runCpy(['list', '--json'], { env })).stdout).installed).toHaveLength(1);
  });

  it('the links stay in the --bin-dir an install made them in: cpy use and cpy uninstall without one find them there; another --bin-dir moves them, and says so', async () => {
    const dir = join(work, 'uninstall-other-bin');
    const env = { CPY_HOME: join(dir, 'home'), CPY_CACHE_DIR: join(dir, 'cache'), NO_COLOR: '1' };
    const version = artifact.metadata.version;
    const python3 = join(dir, 'home', `python-${version}`, 'bin', 'python3');
    expect((await runCpy(['install', '--from', artifact.path, '--skip-validation', '--bin-dir', join(dir, 'mybin')], { env })).code).toBe(0);
    // The links removed by hand: use, told no bin dir, makes them again where they were (it made them in $CPY_HOME/bin).
    await rm(join(dir, 'mybin', 'python3'));
    expect(await runCpy(['use', version], { env })).toMatchObject({ code: 0, stdout: `already using ${version}; its python3 links were not all in place, and are now\n` });
    expect(await readlink(join(dir, 'mybin', 'python3'))).toBe(python3);
    expect(existsSync(join(dir, 'home', 'bin'))).toBe(false);
    // Another --bin-dir: the links move there (none is left running a version cpy no longer calls current), said on stderr.
    const moved = await runCpy(['use', version, '--bin-dir', join(dir, 'otherbin')], { env });
    expect([moved.code, moved.stdout]).toEqual([0, `already using ${version}; its python3 links are now in ${join(dir, 'otherbin')}\n`]);
    expect(moved.stderr).toContain(`warning: the python3 links are now in ${join(dir, 'otherbin')}: cpy's links in ${join(dir, 'mybin')} (where the last install or use made them) were removed`);
    expect(await readdir(join(dir, 'mybin'))).toEqual([]);
    expect(await readlink(join(dir, 'otherbin', 'python3'))).toBe(python3);
    // Uninstalled without --bin-dir, they go from there.
    const r = await runCpy(['uninstall', version, '--force', '--json'], { env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).uninstalled).toMatchObject({ wasCurrent: true, unlinked: expect.arrayContaining(['python3', 'python']), binDir: join(dir, 'otherbin') });
    expect(r.stderr).not.toContain('warning');
    expect(await readdir(join(dir, 'otherbin'))).toEqual([]);
    // Installed again and its marker deleted: forgotten, the files left where they are, said.
    expect((await runCpy(['install', '--from', artifact.path, '--skip-validation', '--bin-dir', join(dir, 'mybin')], { env })).code).toBe(0);
    await rm(join(dir, 'home', `python-${version}`, '.cpy-install.json'));
    const kept = await runCpy(['uninstall', version, '--force'], { env });
    expect([kept.code, kept.stdout.split(': ')[0]]).toEqual([0, `forgot ${version}; its files stay in ${join(dir, 'home', `python-${version}`)}; its links removed from ${join(dir, 'mybin')}`]);
    expect(kept.stdout).toContain('python3');
    expect(kept.stderr).toContain(`warning: ${join(dir, 'home', `python-${version}`)} has no valid install marker, so nothing says its files are still the CPython ${version} cpy installed there`);
    expect(existsSync(python3)).toBe(true);
  });

  it('a CPY_HOME whose path CPython cannot take (a space, a quote, a #): refused before anything is fetched, naming the variable', async () => {
    for (const name of ['sp home', "it's", 'a#b']) {
      const home = join(work, 'odd-homes', name);
      const r = await runCpy(['install', '--from', artifact.path, '--json'], { env: { CPY_HOME: home, CPY_CACHE_DIR: join(work, 'odd-homes-cache'), NO_COLOR: '1' } });
      expect([r.code, JSON.parse(r.stdout).error]).toEqual([
        1,
        expect.objectContaining({
          code: 'CPY_INSTALL_BAD_OPTIONS',
          message: `the prefix ${join(home, `python-${artifact.metadata.version}`)} (made from CPY_HOME) has characters CPython's own scripts do not handle: cpy installs at paths of letters, digits and . _ / + @ - only`,
          hint: 'set CPY_HOME to such a path, or give the prefix (--prefix)',
        }),
      ]);
      expect(existsSync(home)).toBe(false);
    }
    expect(existsSync(join(work, 'odd-homes-cache'))).toBe(false);
  });

  (process.getuid?.() === 0 ? it : it.skip)("as a normal user, cpy use on root's install state: CPY_INSTALL_NOT_WRITABLE naming the locks' directory, not a lock someone holds", async () => {
    const home = join(work, 'root-state');
    const env = { CPY_HOME: home, CPY_CACHE_DIR: join(work, 'root-state-cache'), NO_COLOR: '1' };
    expect((await runCpy(['install', '--from', artifact.path, '--skip-validation', '--no-link'], { env })).code).toBe(0);
    await chmod(work, 0o755);
    const r = await runCpy(['use', artifact.metadata.version, '--json'], { uid: NOBODY, env: { ...env, CPY_CACHE_DIR: join(work, 'nobody-use-cache') } });
    expect([r.code, JSON.parse(r.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_INSTALL_NOT_WRITABLE', message: `cannot write ${join(home, 'state', 'locks')}: permission denied` })]);
    // Once root has made its links (said: `use` of the current version after --no-link made them),
    // nothing is left to change: the user is told, without the lock.
    const linked = await runCpy(['use', artifact.metadata.version], { env });
    expect([linked.code, linked.stdout]).toEqual([0, `already using ${artifact.metadata.version}; its python3 links were not all in place, and are now\n`]);
    const same = await runCpy(['use', artifact.metadata.version.split('.').slice(0, 2).join('.')], { uid: NOBODY, env: { ...env, CPY_CACHE_DIR: join(work, 'nobody-use-cache') } });
    expect([same.code, same.stdout, same.stderr]).toEqual([0, `already using ${artifact.metadata.version}\n`, '']);
    // The user's own state, a bin dir it may not write: refused before the state changes (it was
    // half a switch: `current` moved, no link made, and a Python traceback).
    const mine = join(work, 'nobody-own-state');
    await mkdir(mine);
    await chown(mine, NOBODY, NOBODY);
    const ownEnv = { CPY_HOME: mine, CPY_CACHE_DIR: join(mine, 'cache'), NO_COLOR: '1' };
    expect((await runCpy(['install', '--from', artifact.path, '--skip-validation', '--no-link'], { uid: NOBODY, env: ownEnv })).code).toBe(0);
    const rootBin = join(work, 'root-bin');
    await mkdir(rootBin, { mode: 0o755 });
    const denied = await runCpy(['use', artifact.metadata.version, '--bin-dir', rootBin, '--json'], { uid: NOBODY, env: ownEnv });
    expect([denied.code, JSON.parse(denied.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_INSTALL_NOT_WRITABLE', message: `cannot make the python3 links in ${rootBin}: permission denied` })]);
    expect(denied.stderr).not.toContain('Traceback');
    expect(await readdir(rootBin)).toEqual([]);
    // A root-owned CPY_HOME with no state yet: the directory that could not be made is named.
    const empty = join(work, 'root-empty-home');
    await mkdir(empty, { mode: 0o755 });
    const own = join(work, 'nobody-prefix-parent');
    await mkdir(own);
    await chown(own, NOBODY, NOBODY);
    const s = await runCpy(['install', '--from', artifact.path, '--prefix', join(own, 'py'), '--skip-validation', '--json'], { uid: NOBODY, env: { CPY_HOME: empty, CPY_CACHE_DIR: join(own, 'cache'), NO_COLOR: '1' } });
    expect([s.code, JSON.parse(s.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_INSTALL_NOT_WRITABLE', message: `cannot write ${join(empty, 'state')}: permission denied` })]);
    // Root's state, which this user may not read (a umask of 077): said so (it said "no CPython installed by cpy", exit 0).
    const stateFile = join(home, 'state', 'state.json');
    await chmod(stateFile, 0o600);
    try {
      const listed = await runCpy(['list', '--json'], { uid: NOBODY, env: { ...env, CPY_CACHE_DIR: join(work, 'nobody-use-cache') } });
      expect([listed.code, JSON.parse(listed.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_INSTALL_STATE_UNREADABLE', message: `cannot read ${stateFile}: this user may not read it` })]);
    } finally {
      await chmod(stateFile, 0o644);
    }
  });

  (process.getuid?.() === 0 ? it : it.skip)('as a normal user, a prefix of its own it cannot read (mode 000): CPY_INSTALL_NOT_WRITABLE, and what it holds stays where it is', async () => {
    const shared = join(work, 'shared-000');
    await mkdir(shared, { recursive: true });
    for (const file of [artifact.path, artifact.checksumPath]) await cp(file, join(shared, basename(file)));
    for (const dir of [work, shared]) await chmod(dir, 0o755);
    const home = join(work, 'nobody-home');
    const prefix = join(home, 'py');
    await mkdir(prefix, { recursive: true });
    await writeFile(join(prefix, 'notes.txt'), 'mine');
    await chown(home, NOBODY, NOBODY);
    await chown(prefix, NOBODY, NOBODY);
    await chmod(prefix, 0o000);
    const r = await runCpy(['install', '--from', join(shared, artifact.fileName), '--prefix', prefix, '--no-link', '--json'], { uid: NOBODY, env: { CPY_HOME: home, CPY_CACHE_DIR: join(home, 'cache'), NO_COLOR: '1' } });
    expect([r.code, JSON.parse(r.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_INSTALL_NOT_WRITABLE', message: `cannot read ${prefix} (EACCES): what it holds cannot be checked, so it is not replaced` })]);
    await chmod(prefix, 0o755);
    expect(await readFile(join(prefix, 'notes.txt'), 'utf8')).toBe('mine');
    expect((await readdir(home)).filter((n) => n.startsWith('.cpy-'))).toEqual([]);
  });

  it('cpy index add stopped (Ctrl-C) while it waits for another update of the index: it stops, CPY_INDEX_CANCELLED (it said CPY_INDEX_BUSY), nothing changed (it was killed, and one killed between its moves left the index unsigned)', async () => {
    const site = join(work, 'stopped-site');
    await mkdir(site, { recursive: true });
    const index = join(site, 'index.json');
    let release = () => undefined as void;
    const released = new Promise<void>((r) => (release = r));
    // Another update holds the index: this one waits, and is stopped while it does.
    const held = withLock({ code: 'CPY_INDEX_BUSY', holds: 'test', whenHeld: () => 'wait' }, `${index}.lock`, { timeoutMs: 0 }, () => released);
    const run = startCpy(['index', 'add', artifact.path, '--url', `https://mirror.example/python/${artifact.fileName}`, '--index', index, '--json']);
    await run.until(/waiting for another update/);
    run.child.kill('SIGINT');
    expect(await run.closed).toBe(1);
    release();
    await held;
    expect(JSON.parse(run.stdout()).error).toMatchObject({ code: 'CPY_INDEX_CANCELLED', message: expect.stringContaining(`stopped while waiting for ${index}.lock`) });
    expect(run.stderr()).toContain(`stopping: a wait for another update of ${index} ends now`);
    expect(await readdir(site)).toEqual([]);
  });

  it('cpy artifact sign of an index waits for an update of it to finish, then signs the bytes the update left (it signed the old ones, and the new index stood beside their signature); another .json is signed at once', async () => {
    const site = join(work, 'sign-site');
    await mkdir(site, { recursive: true });
    const index = join(site, 'index.json');
    expect((await runCpy(['index', 'add', artifact.path, '--url', `https://mirror.example/python/${artifact.fileName}`, '--index', index])).code).toBe(0);
    const key = join(site, 'key.asc');
    const made = await runCpy(['keys', 'generate', '--name', 'Index Signer', '--email', 'index@example.org', '--out', key, '--json']);
    const fingerprint = JSON.parse(made.stdout).key.fingerprint as string;
    let release = () => undefined as void;
    const released = new Promise<void>((r) => (release = r));
    // An update of the index is under way (cpy index add holds its lock): it writes new bytes, then lets go.
    const held = withLock({ code: 'CPY_INDEX_BUSY', holds: 'test', whenHeld: () => 'wait' }, `${index}.lock`, { timeoutMs: 0 }, () => released);
    const run = startCpy(['artifact', 'sign', index, '--signing-key', key]);
    await run.until(/waiting for an update of/);
    expect(existsSync(`${index}.asc`)).toBe(false);
    await writeFile(index, `${(await readFile(index, 'utf8')).trimEnd()}\n\n`);
    release();
    await held;
    expect(await run.closed).toBe(0);
    const verified = await runCpy(['artifact', 'verify', index, '--signer', fingerprint, '--trusted-keys', key.replace(/\.asc$/, '.pub.asc')]);
    expect([verified.code, verified.stderr]).toEqual([0, expect.any(String)]);
    // Not an index (an artifact's metadata): no lock is asked for, held or not.
    await writeFile(join(site, 'meta.json'), '{"schemaVersion": 1}');
    let releaseMeta = () => undefined as void;
    const metaReleased = new Promise<void>((r) => (releaseMeta = r));
    const metaHeld = withLock({ code: 'CPY_INDEX_BUSY', holds: 'test', whenHeld: () => 'wait' }, join(site, 'meta.json.lock'), { timeoutMs: 0 }, () => metaReleased);
    const meta = await runCpy(['artifact', 'sign', join(site, 'meta.json'), '--signing-key', key]);
    releaseMeta();
    await metaHeld;
    expect([meta.code, meta.stderr]).toEqual([0, expect.not.stringContaining('waiting')]);
  });

  (canMount() ? it : it.skip)('a write its file system refuses, where no library names it (cpy index add into a read-only directory): CPY_CLI_CANNOT_WRITE, not an internal error', async () => {
    const disk = await mountSmallDisk(1024 * 1024, join(work, 'read-only'), { readOnly: true });
    try {
      const index = join(disk.dir, 'index.json');
      const r = await cpy(['index', 'add', artifact.path, '--url', `https://mirror.example/python/${artifact.fileName}`, '--index', index, '--json']);
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout).error).toMatchObject({
        code: 'CPY_CLI_CANNOT_WRITE',
        // (ARTIFACTS.md is written first, then index.json: the first write is the one refused.)
        message: expect.stringMatching(new RegExp(`^cannot write ${disk.dir}/(ARTIFACTS\\.md|index\\.json)\\S*: its file system is read-only$`)),
        details: { errno: 'EROFS' },
      });
    } finally {
      await disk.unmount();
    }
    // Full (a tmpfs too small for the table): the file is named, where Node names none for a write
    // (it was "cannot write: no space left on its disk (ENOSPC ..., write)").
    const full = await mountSmallDisk(64 * 1024, join(work, 'full-site'));
    try {
      await writeFile(join(full.dir, 'filler'), Buffer.alloc(60 * 1024));
      const index = join(full.dir, 'index.json');
      const r = await cpy(['index', 'add', artifact.path, '--url', `https://mirror.example/python/${artifact.fileName}`, '--index', index, '--json']);
      expect(JSON.parse(r.stdout).error).toMatchObject({
        code: 'CPY_CLI_CANNOT_WRITE',
        message: expect.stringMatching(new RegExp(`^cannot write ${full.dir}/(ARTIFACTS\\.md|index\\.json): `)),
        details: { errno: 'ENOSPC' },
      });
      expect((await readdir(full.dir)).sort()).toEqual(['filler']);
    } finally {
      await full.unmount();
    }
    // An index signed where its lock cannot be made (a full disk): the disk's error, not another
    // update said to hold the index (it was CPY_INDEX_BUSY, "cannot create the lock").
    const site = join(work, 'full-sign-src');
    await mkdir(site, { recursive: true });
    expect((await cpy(['index', 'add', artifact.path, '--url', `https://mirror.example/python/${artifact.fileName}`, '--index', join(site, 'index.json')])).code).toBe(0);
    const key = join(site, 'key.asc');
    expect((await cpy(['keys', 'generate', '--name', 'Full Disk', '--email', 'full@example.org', '--out', key])).code).toBe(0);
    const signing = await mountSmallDisk(64 * 1024, join(work, 'full-sign'));
    try {
      const index = join(signing.dir, 'index.json');
      await writeFile(index, await readFile(join(site, 'index.json')));
      await writeFile(join(signing.dir, 'filler'), Buffer.alloc(60 * 1024));
      const r = await cpy(['artifact', 'sign', index, '--signing-key', key, '--json']);
      expect([r.code, JSON.parse(r.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_CLI_CANNOT_WRITE', details: { errno: 'ENOSPC' } })]);
      expect(existsSync(`${index}.asc`)).toBe(false);
    } finally {
      await signing.unmount();
    }
  });
});


describe('a version from the index: cpy index add/show, cpy list --available, cpy install <version>', () => {
  /** os-release of this host (Debian 12 in CI). */
  let distro: { id: string; versionId: string };
  let forHost: TestArtifact;
  let debian11: TestArtifact;

  beforeAll(async () => {
    const osRelease = await readFile('/etc/os-release', 'utf8');
    const field = (name: string) => new RegExp(`^${name}="?([^"\n]*)"?$`, 'm').exec(osRelease)?.[1] ?? '';
    distro = { id: field('ID'), versionId: field('VERSION_ID') };
    // The same real interpreter, published as a build for this distribution, and as a Debian 11 build
    // whose libraries (libssl1.1) Debian 12's archive does not have.
    forHost = await repackArtifact(artifact, join(work, 'index-artifacts'), {
      metadata: (m) => ({ ...m, build: 2, platform: { ...m.platform, os: distro.id, osVersion: distro.versionId } }),
    });
    debian11 = await repackArtifact(artifact, join(work, 'index-artifacts'), {
      metadata: (m) => ({
        ...m,
        platform: { ...m.platform, os: 'debian', osVersion: '11', glibcFloor: '2.28' },
        runtime: { needs: [{ soname: 'libssl.so.1.1', packages: ['libssl1.1'], usedBy: [`lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so`] }] },
      }),
    });
    for (const a of [forHost, debian11]) {
      mirror.serve(`builds/${a.fileName}`, a.path);
      mirror.serve(`builds/${a.fileName}.sha256`, a.checksumPath);
      mirror.serve(`builds/${a.fileName}.json`, a.metadataPath);
    }
  }, 120_000);

  it('builds an index file, reads it back, and installs the build for this host from a version alone', async () => {
    const index = join(work, 'site', 'index.json');
    await mkdir(join(work, 'site'), { recursive: true });
    for (const a of [debian11, forHost]) {
      const added = await cpy(['index', 'add', a.path, '--url', mirror.fileUrl('builds', a.fileName), '--index', index, '--json']);
      expect(added.code).toBe(0);
    }
    expect(await readFile(join(work, 'site', 'ARTIFACTS.md'), 'utf8')).toContain(forHost.fileName);
    mirror.serve('site/index.json', index);
    const indexUrl = mirror.fileUrl('site', 'index.json');
    const shown = JSON.parse((await cpy(['index', 'show', '--index', indexUrl, '--json'])).stdout);
    expect(shown.index.artifacts.map((e: { file: string }) => e.file)).toEqual([forHost.fileName, debian11.fileName]);
    expect(shown.sha256).toBe(createHash('sha256').update(await readFile(index)).digest('hex'));

    const version = artifact.metadata.version;
    const line = version.split('.').slice(0, 2).join('.');
    const available = JSON.parse((await cpy(['list', '--available', line, '--index', indexUrl, '--json'])).stdout);
    expect(available.available.map((b: { entry: { file: string }; fits: boolean; chosen: boolean; why: string }) => [b.entry.file, b.fits, b.chosen, b.why])).toEqual([
      [forHost.fileName, true, true, `built for ${distro.id.charAt(0).toUpperCase()}${distro.id.slice(1)} ${distro.versionId}, like this host`],
      [debian11.fileName, false, false, `the debian11 build needs libssl1.1, which ${distro.id.charAt(0).toUpperCase()}${distro.id.slice(1)} ${distro.versionId} does not provide`],
    ]);

    // .python-version in a project, two levels up; the index from CPY_INDEX_URL.
    const project = join(work, 'project');
    await mkdir(join(project, 'src', 'pkg'), { recursive: true });
    await writeFile(join(project, '.python-version'), `# the project's Python\n${line}\n`);
    const home = { CPY_HOME: join(work, 'home-index'), CPY_INDEX_URL: indexUrl };
    const r = await cpy(['install', '--json'], { cwd: join(project, 'src', 'pkg'), env: home });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`version ${line}, from ${join(project, '.python-version')}`);
    const installed = JSON.parse(r.stdout).install;
    expect(installed).toMatchObject({ status: 'installed', version, build: 2, sha256: forHost.sha256, artifact: forHost.fileName });
    expect(installed.resolution).toMatchObject({ entry: { file: forHost.fileName }, reason: expect.stringContaining('like this host') });
    expect((await run(join(work, 'home-index', 'bin', 'python3'), ['-c', 'import ssl; print("ok")'])).stdout).toBe('ok\n');
    const again = await cpy(['install', line], { env: home });
    expect([again.code, again.stdout]).toEqual([0, expect.stringMatching(/^already installed: CPython .* build 2/)]);
  });

  it('with no build that fits, says what is published and why each does not fit, before downloading anything', async () => {
    const index = join(work, 'only-debian11', 'index.json');
    await mkdir(join(work, 'only-debian11'), { recursive: true });
    expect((await cpy(['index', 'add', debian11.path, '--url', mirror.fileUrl('builds', debian11.fileName), '--index', index])).code).toBe(0);
    const requests = mirror.requests.length;
    const line = artifact.metadata.version.split('.').slice(0, 2).join('.');
    const r = await cpy(['install', line, '--index', index], { env: { CPY_HOME: join(work, 'home-nofit') } });
    expect(r.code).toBe(1);
    const name = `${distro.id.charAt(0).toUpperCase()}${distro.id.slice(1)} ${distro.versionId}`;
    expect(r.stderr).toContain(
      `error [CPY_INSTALL_NO_MATCHING_BUILD]: no published build of CPython ${line} fits this host (${distro.id} ${distro.versionId}, ${artifact.metadata.platform.arch}, glibc `,
    );
    expect(r.stderr).toContain(`): ${debian11.fileName} (${artifact.metadata.platform.arch}): the debian11 build needs libssl1.1, which ${name} does not provide`);
    expect(mirror.requests.length).toBe(requests);
    // The same check, before the download, for an artifact given by URL with its .json beside it.
    const byUrl = await cpy(['install', '--from', mirror.fileUrl('builds', debian11.fileName), '--json'], { env: { CPY_HOME: join(work, 'home-nofit') } });
    expect(JSON.parse(byUrl.stdout).error).toMatchObject({ code: 'CPY_INSTALL_PACKAGES_UNAVAILABLE', message: expect.stringContaining(`needs libssl1.1, which ${name} does not provide`) });
    const asked = mirror.requests.slice(requests).map((q) => q.path);
    expect(asked).toContain(`/ftp/python/builds/${debian11.fileName}.json`);
    expect(asked).not.toContain(`/ftp/python/builds/${debian11.fileName}`);
  });

  it('cpy index add lists what the artifact itself says: a renamed copy, a stale .json beside it, a missing file or directory are refused, and nothing is written', async () => {
    const dir = join(work, 'index-checks');
    await mkdir(dir, { recursive: true });
    const index = join(dir, 'index.json');
    const add = async (file: string, indexFile = index) => {
      const r = await cpy(['index', 'add', file, '--url', `https://mirror.example/python/${basename(file)}`, '--index', indexFile, '--json']);
      return [r.code, JSON.parse(r.stdout).error];
    };
    // A copy renamed as another version and build, its .json (the same metadata) beside it.
    const liarName = `cpython-3.99.0-${distro.id}${distro.versionId}-build${forHost.metadata.build + 1}.tgz`;
    await mkdir(join(dir, 'renamed'));
    await cp(forHost.path, join(dir, 'renamed', liarName));
    await cp(forHost.metadataPath, join(dir, 'renamed', `${liarName}.json`));
    expect(await add(join(dir, 'renamed', liarName))).toEqual([
      1,
      expect.objectContaining({
        code: 'CPY_ARTIFACT_MISNAMED',
        message: `the name ${liarName} says version 3.99.0 and build ${forHost.metadata.build + 1}; the metadata inside it says ${forHost.metadata.version} and ${forHost.metadata.build}`,
        hint: expect.stringContaining(`name it ${forHost.fileName}`),
      }),
    ]);
    // Its own name, and a .json beside it left from another build.
    await mkdir(join(dir, 'stale'));
    const stale = join(dir, 'stale', forHost.fileName);
    await cp(forHost.path, stale);
    await writeFile(`${stale}.json`, JSON.stringify({ ...forHost.metadata, build: 7 }));
    expect(await add(stale)).toEqual([
      1,
      expect.objectContaining({ code: 'CPY_INDEX_BAD_ENTRY', message: `${stale}.json disagrees with the metadata inside ${forHost.fileName}: build is 7 beside it, ${forHost.metadata.build} inside` }),
    ]);
    expect(await add(join(dir, 'nothing-here.tgz'))).toEqual([1, expect.objectContaining({ code: 'CPY_ARTIFACT_NOT_FOUND', message: `no artifact ${join(dir, 'nothing-here.tgz')}` })]);
    // A .sha256 beside it that is not its checksum (it was indexed; cpy install --from and sha256sum -c then refused the file).
    await mkdir(join(dir, 'badsum'));
    const badSum = join(dir, 'badsum', forHost.fileName);
    await cp(forHost.path, badSum);
    await writeFile(`${badSum}.sha256`, `${'0'.repeat(64)}  ${forHost.fileName}\n`);
    expect(await add(badSum)).toEqual([
      1,
      expect.objectContaining({ code: 'CPY_INDEX_BAD_ENTRY', message: `${badSum}.sha256 says sha256 ${'0'.repeat(64)}, but ${forHost.fileName} has sha256 ${forHost.sha256}: installers and sha256sum -c would refuse the artifact` }),
    ]);
    expect(existsSync(index)).toBe(false);
    // Written right, it is indexed; into another index file beside it, the table is that file's own (it overwrote ARTIFACTS.md, naming index.json).
    await writeFile(`${badSum}.sha256`, `${forHost.sha256}  ${forHost.fileName}\n`);
    expect(await add(badSum, join(dir, 'py.json'))).toEqual([0, undefined]);
    // The same bytes again, at another URL: what --json says is the entry as listed, with the date they were first published (it said the new date).
    const firstDate = JSON.parse(await readFile(join(dir, 'py.json'), 'utf8')).artifacts[0].publishedAt;
    const again = await cpy(['index', 'add', badSum, '--url', `https://mirror2.example/python/${forHost.fileName}`, '--index', join(dir, 'py.json'), '--json']);
    expect(JSON.parse(again.stdout).entry).toMatchObject({ publishedAt: firstDate, url: `https://mirror2.example/python/${forHost.fileName}` });
    // An index given by URL: said as such (it was "its directory .../https:/mirror.example does not exist").
    const byUrl = await cpy(['index', 'add', badSum, '--url', `https://mirror.example/python/${forHost.fileName}`, '--index', 'https://mirror.example/python/index.json', '--json']);
    expect(JSON.parse(byUrl.stdout).error).toMatchObject({ code: 'CPY_CLI_USAGE', message: expect.stringContaining('is a URL: index add edits a local index file') });
    // Other bytes under the name it lists (the same tree, gzipped again): refused, the index as it was; with --replace, listed.
    await mkdir(join(dir, 'regzipped'));
    const regzipped = join(dir, 'regzipped', forHost.fileName);
    await promisify(execFile)('sh', ['-c', 'gzip -dc "$1" | gzip -1 > "$2"', 'sh', forHost.path, regzipped]);
    const listedBefore = await readFile(join(dir, 'py.json'), 'utf8');
    expect(await add(regzipped, join(dir, 'py.json'))).toEqual([1, expect.objectContaining({ code: 'CPY_INDEX_REPLACES_BYTES', message: expect.stringContaining(`the index lists ${forHost.fileName} (${forHost.metadata.platform.arch}) with sha256 ${forHost.sha256}`) })]);
    expect(await readFile(join(dir, 'py.json'), 'utf8')).toBe(listedBefore);
    const replaced = await cpy(['index', 'add', regzipped, '--url', `https://mirror.example/python/${forHost.fileName}`, '--index', join(dir, 'py.json'), '--replace', '--json']);
    expect([replaced.code, JSON.parse(replaced.stdout).entry.sha256]).toEqual([0, expect.not.stringMatching(forHost.sha256)]);
    expect(await readFile(join(dir, 'py.md'), 'utf8')).toMatch(/Generated by cpy from py\.json /);
    expect(existsSync(join(dir, 'ARTIFACTS.md'))).toBe(false);
    await rm(join(dir, 'py.json'));
    await rm(join(dir, 'py.md'));
    // The index's directory is not made: a mistyped --index would leave an index no one serves.
    expect(await add(forHost.path, join(dir, 'no', 'such', 'index.json'))).toEqual([
      1,
      expect.objectContaining({ code: 'CPY_CLI_CANNOT_WRITE', message: `cannot write the index ${join(dir, 'no', 'such', 'index.json')}: its directory ${join(dir, 'no', 'such')} does not exist` }),
    ]);
    expect(existsSync(join(dir, 'no'))).toBe(false);
    // The options it cannot do without say so in its help.
    const help = await cpy(['index', 'add', '--help']);
    expect(help.stdout).toMatch(/--url <url>\s+\(required\) /);
    expect(help.stdout).toMatch(/--index <file>\s+\(required\) /);
  });

  it('cpy index show names an entry whose file name says another version or build than the entry (an older cpy wrote it); the index is read as installers read it', async () => {
    const dir = join(work, 'lying-index');
    await mkdir(dir, { recursive: true });
    const index = join(dir, 'index.json');
    expect((await cpy(['index', 'add', forHost.path, '--url', mirror.fileUrl('builds', forHost.fileName), '--index', index])).code).toBe(0);
    const liarName = `cpython-3.99.0-${distro.id}${distro.versionId}-build${forHost.metadata.build}.tgz`;
    await writeFile(index, (await readFile(index, 'utf8')).replaceAll(`"file": "${forHost.fileName}"`, `"file": "${liarName}"`));
    const shown = await cpy(['index', 'show', '--index', index, '--json']);
    expect([shown.code, JSON.parse(shown.stdout).misnamed]).toEqual([0, [{ file: liarName, said: `${liarName} says version 3.99.0; its entry says ${forHost.metadata.version}` }]]);
    expect(shown.stderr).toContain(`warning: ${liarName} says version 3.99.0; its entry says ${forHost.metadata.version}; add the artifact again`);
    // One such entry does not make the index unreadable for the others (it did, for every reader).
    const listed = await cpy(['list', '--available', '--index', index, '--json']);
    expect(listed.code).toBe(0);
  });
});

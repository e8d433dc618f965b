import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { withBuildLock } from '@cpy/build';
import { fixturesDir, type PythonMirror, repoRoot, runCpy, startCpy, startPythonMirror } from '@cpy/harness';

const TARBALL = 'Python-3.13.5.tar.xz';

let mirror: PythonMirror;
let work: string;

const cpy = (args: string[]) => runCpy(args, { npx: true, env: { CPY_CACHE_DIR: join(work, 'cache'), CPY_PYTHON_MIRRORS: mirror.url, NO_COLOR: '1' } });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-cli-source-'));
  mirror = await startPythonMirror();
});
afterAll(async () => {
  await mirror.close();
  await rm(work, { recursive: true, force: true });
});

describe('cpy source fetch / verify (the built bin, a loopback mirror, the real 3.13.5)', () => {
  it('fetches, verifies, reports the signers in JSON; then serves it from the cache', async () => {
    const r = await cpy(['source', 'fetch', '3.13.5', '--json', '-o', join(work, 'out')]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({
      outcome: 'success',
      command: 'source fetch',
      source: { fileName: TARBALL, fromCache: false, copiedTo: join(work, 'out', TARBALL) },
      verification: {
        method: 'openpgp+sigstore',
        openpgp: { fingerprint: '7169605F62C751356D054A26A821E680E5FA6305' },
        sigstore: { identity: 'thomas@python.org' },
      },
    });
    expect(r.stderr).toMatch(/downloading Python-3\.13\.5\.tar\.xz \(21\.8 MiB\)/);

    const again = await cpy(['source', 'fetch', '3.13.5']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/from the cache, re-verified/);
    expect(again.stdout).toMatch(/OpenPGP\s+good signature by Thomas Wouters/);

    const verified = await cpy(['source', 'verify', join(work, 'out', TARBALL), '--json']);
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout).verification.method).toBe('openpgp+sigstore');
    expect(verified.stderr).not.toMatch(/warning/);
    // Another release given than the file is named for: its signatures verify (the same release
    // manager signs 3.13.4), but it holds 3.13.5, as cpy source fetch reads it: refused (it was "verified").
    const other = await cpy(['source', 'verify', join(work, 'out', TARBALL), '--version', '3.13.4', '--json']);
    expect([other.code, JSON.parse(other.stdout).error.code]).toEqual([1, 'CPY_SOURCE_WRONG_RELEASE']);
    expect(other.stderr).toContain(`warning: ${TARBALL} is named for 3.13.5, and is verified as 3.13.4 (--version): the signatures show who made the file, not which release it is`);
    // The same renamed, with its signatures: the name is not the release either.
    const renamed = join(work, 'renamed', 'Python-3.13.4.tar.xz');
    await mkdir(dirname(renamed), { recursive: true });
    for (const s of ['', '.asc', '.sigstore']) await copyFile(join(work, 'out', TARBALL + s), renamed + s);
    const liar = await cpy(['source', 'verify', renamed, '--json']);
    expect([liar.code, JSON.parse(liar.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_SOURCE_WRONG_RELEASE', message: 'Python-3.13.4.tar.xz is not CPython 3.13.4: it holds no Python-3.13.4/Include/patchlevel.h: another release, or not a CPython source tarball' })]);
    // Bytes that are no tarball, unsigned, let through by --allow-unsigned: tar cannot read them,
    // which is said (it was a warning that the release "was not checked here", and exit 0).
    const junk = join(work, 'junk', TARBALL);
    await mkdir(dirname(junk), { recursive: true });
    await writeFile(junk, Buffer.alloc(1000, 7));
    const notTar = await cpy(['source', 'verify', junk, '--allow-unsigned', '--json']);
    expect([notTar.code, JSON.parse(notTar.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_SOURCE_WRONG_RELEASE', message: `${TARBALL} is not CPython 3.13.5: tar cannot read it (xz: (stdin): File format not recognized): a damaged file, or not a CPython source tarball` })]);
  });

  it('exits 1 with the error code and a hint when the file was tampered with', async () => {
    const bad = join(work, TARBALL);
    await copyFile(join(fixturesDir(), TARBALL), bad);
    for (const s of ['.asc', '.sigstore']) await copyFile(join(fixturesDir(), TARBALL + s), bad + s);
    const fh = await open(bad, 'r+');
    await fh.write(Buffer.from([0xff]), 0, 1, 4096);
    await fh.close();
    const r = await cpy(['source', 'verify', bad]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/error \[CPY_SOURCE_SIGNATURE_INVALID\]: .*\n\s+hint: /);

    const missing = await cpy(['source', 'fetch', '3.12.99', '--json']);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ outcome: 'error', error: { code: 'CPY_SOURCE_NOT_FOUND' } });
  });

  it('Ctrl-C while it downloads: CPY_SOURCE_CANCELLED (exit 1), one JSON document, and nothing of the download left in the cache', async () => {
    const cache = join(work, 'cache-interrupted');
    let release = () => undefined as void;
    const held = new Promise<void>((resolve) => (release = resolve));
    mirror.inject(`3.13.5/${TARBALL}`, { pauseAfterBytes: 2_000_000, resume: held });
    try {
      const run = startCpy(['source', 'fetch', '3.13.5', '--json'], { env: { CPY_CACHE_DIR: cache, CPY_PYTHON_MIRRORS: mirror.url, NO_COLOR: '1' } });
      await run.until(/downloading Python-3\.13\.5\.tar\.xz/);
      await new Promise((r) => setTimeout(r, 500));
      run.child.kill('SIGINT');
      expect(await run.closed).toBe(1);
      expect(run.stderr()).toMatch(/stopping the download/);
      expect(JSON.parse(run.stdout()).error).toMatchObject({ code: 'CPY_SOURCE_CANCELLED', message: 'the fetch of CPython 3.13.5 was stopped: nothing was kept of its download' });
      expect(await readdir(join(cache, 'sources', 'tmp')).catch(() => [])).toEqual([]);
    } finally {
      release();
    }
  });

  it('cpy build --compression zstd where zstd cannot be run says so before it fetches anything (it was said after the whole build)', async () => {
    const requested = mirror.requests.length;
    const r = await runCpy(['build', '3.13.5', '--builder', 'host', '--compression', 'zstd', '-o', join(work, 'zstd-out'), '--json'], {
      env: { PATH: '/nonexistent', CPY_CACHE_DIR: join(work, 'cache'), CPY_PYTHON_MIRRORS: mirror.url, NO_COLOR: '1' },
    });
    expect([r.code, JSON.parse(r.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_ARTIFACT_NO_ZSTD', message: expect.stringContaining('--compression zstd needs it to pack') })]);
    expect(mirror.requests.length).toBe(requested);
  });

  it('cpy source fetch -o where a file is, and cpy build -o where no directory can be made: said before the download, as CPY_CLI_CANNOT_WRITE (it was EEXIST after the download, and "a bug in cpy")', async () => {
    const requested = mirror.requests.length;
    const file = join(work, 'a-file');
    await (await open(file, 'w')).close();
    const fetched = await cpy(['source', 'fetch', '3.13.5', '-o', file, '--json']);
    expect([fetched.code, JSON.parse(fetched.stdout).error]).toEqual([1, { code: 'CPY_CLI_CANNOT_WRITE', message: `cannot write the source into ${file}: a file is where that directory goes`, hint: 'give another directory (-o, --output), or move that file away' }]);
    const built = await cpy(['build', '3.13.5', '--builder', 'host', '--work-dir', join(work, 'proc-work'), '-o', '/proc/cpy-no-such-dir', '--json']);
    expect([built.code, JSON.parse(built.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_CLI_CANNOT_WRITE', message: 'cannot put the artifact in /proc/cpy-no-such-dir: no directory can be made there (ENOENT)' })]);
    expect(mirror.requests.slice(requested)).toEqual([]);
  });

  (process.getuid?.() === 0 ? it : it.skip)('cpy build -o a directory this user may not write (root\'s): said before the download (it was found when packing, the build done)', async () => {
    const requested = mirror.requests.length;
    const roots = join(work, 'roots-out');
    await mkdir(roots, { mode: 0o755 });
    await chmod(work, 0o755);
    const scratch = join(work, 'nobody');
    await mkdir(scratch, { mode: 0o777 });
    await chmod(scratch, 0o777);
    const r = await runCpy(['build', '3.13.5', '--builder', 'host', '--work-dir', join(scratch, 'work'), '-o', roots, '--json'], {
      uid: 65534,
      env: { CPY_CACHE_DIR: join(scratch, 'cache'), CPY_PYTHON_MIRRORS: mirror.url, NO_COLOR: '1', HOME: scratch },
    });
    expect([r.code, JSON.parse(r.stdout).error]).toEqual([
      1,
      expect.objectContaining({ code: 'CPY_CLI_CANNOT_WRITE', message: `cannot put the artifact in ${roots}: this user may not write there`, hint: 'give another directory (-o, --out), or run as a user who may write there' }),
    ]);
    expect(mirror.requests.slice(requested)).toEqual([]);
  });

  it('cpy build of a build directory another build holds is refused before the download (it was refused after its own 22 MiB download and verification)', async () => {
    const requested = mirror.requests.length;
    const workDir = join(work, 'busy-work');
    const r = await withBuildLock(workDir, { version: '3.13.5', build: 1 }, () =>
      runCpy(['build', '3.13.5', '--builder', 'host', '--work-dir', workDir, '-o', join(work, 'busy-out'), '--json'], { env: { CPY_CACHE_DIR: join(work, 'cache-busy'), CPY_PYTHON_MIRRORS: mirror.url, NO_COLOR: '1' } }),
    );
    expect([r.code, JSON.parse(r.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_BUILD_BUSY', message: expect.stringMatching(/^another build holds .*\/cpython-3\.13\.5-build1\.lock \(process \d+ on /) })]);
    expect(mirror.requests.slice(requested)).toEqual([]);
  });

  it('cpy artifact pack of a build directory a build holds names the build (it said "not a finished build": a running build has removed its result)', async () => {
    const workDir = join(work, 'busy-pack');
    const buildDir = join(workDir, 'cpython-3.13.5-build1');
    await mkdir(buildDir, { recursive: true });
    const pack = () => runCpy(['artifact', 'pack', buildDir, '-o', join(work, 'busy-pack-out'), '--json'], { env: { CPY_CACHE_DIR: join(work, 'cache-busy'), CPY_PYTHON_MIRRORS: mirror.url, NO_COLOR: '1' } });
    const held = await withBuildLock(workDir, { version: '3.13.5', build: 1 }, pack);
    expect([held.code, JSON.parse(held.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_BUILD_BUSY', message: expect.stringMatching(/^another build or pack holds .*\/cpython-3\.13\.5-build1\.lock/) })]);
    const free = await pack();
    expect([free.code, JSON.parse(free.stdout).error.code]).toEqual([1, 'CPY_BUILD_NOT_FINISHED']);
  });

  it('cpy build --builder container with an image that is not here and cannot be pulled says so before it fetches anything', async () => {
    const requested = mirror.requests.length;
    const r = await runCpy(['build', '3.13.5', '--builder', 'container', '--image', 'localhost/cpy-no-such-image:zzz', '--work-dir', join(work, 'noimage-work'), '-o', join(work, 'noimage-out'), '--json'], {
      env: { CPY_CACHE_DIR: join(work, 'cache-noimage'), CPY_PYTHON_MIRRORS: mirror.url, NO_COLOR: '1' },
    });
    expect([r.code, JSON.parse(r.stdout).error]).toEqual([
      1,
      expect.objectContaining({ code: 'CPY_BUILD_CONTAINER_FAILED', message: expect.stringMatching(/^no image localhost\/cpy-no-such-image:zzz here, and podman cannot pull it: /), hint: expect.stringContaining('podman images') }),
    ]);
    expect(mirror.requests.slice(requested)).toEqual([]);
  });

  it('cpy artifact pack of a build made in a container checks it in that image: one that is gone is said before anything is fetched, with --no-validate as the way round (it was validated on this host)', async () => {
    const buildDir = join(work, 'in-container', 'cpython-3.13.5-build1');
    const installDir = join(buildDir, 'staging', 'opt', 'python-3.13.5');
    await mkdir(installDir, { recursive: true });
    const image = 'localhost/cpy-no-such-image:gone';
    const result = {
      version: '3.13.5', build: 1, profile: 'fast', prefix: '/opt/python-3.13.5', buildDir, stagingDir: join(buildDir, 'staging'), installDir, logs: {}, configureArgs: [], makeJobs: 2, compiler: 'gcc',
      os: { id: 'debian', versionId: '11', prettyName: 'Debian GNU/Linux 11 (bullseye)', family: 'debian' },
      builder: { kind: 'container', description: `container ${image} (podman)`, identity: image, spec: { kind: 'container', image, provision: true, provisionExclude: [] } },
      modules: { present: [], missing: [], cpython: { notFound: [], failedToBuild: [], failedToImport: [] } },
      arch: 'x86_64', cross: null, runtimePackages: {}, warnings: [], durationsMs: {},
      source: { path: join(work, TARBALL), fileName: TARBALL, sha256: 'ab'.repeat(32) }, finishedAt: new Date().toISOString(),
    };
    await writeFile(join(buildDir, 'build-result.json'), JSON.stringify(result));
    const pack = (...extra: string[]) => runCpy(['artifact', 'pack', buildDir, '-o', join(work, 'in-container-out'), '--json', ...extra], { env: { CPY_CACHE_DIR: join(work, 'cache-in-container'), CPY_PYTHON_MIRRORS: mirror.url, NO_COLOR: '1' } });
    const requested = mirror.requests.length;
    const gone = await pack();
    expect([gone.code, JSON.parse(gone.stdout).error]).toEqual([
      1,
      expect.objectContaining({
        code: 'CPY_BUILD_CONTAINER_FAILED',
        message: expect.stringMatching(/^no image localhost\/cpy-no-such-image:gone here, and podman cannot pull it: .* \(the build ran there, and its artifact is checked there\)$/),
        hint: expect.stringMatching(/; or pack it unchecked \(--no-validate\) and check it where it is meant to run \(cpy artifact validate\)$/),
      }),
    ]);
    expect(mirror.requests.slice(requested)).toEqual([]);
    // Unchecked, it asks for no builder: on to the source (which is not the one this record names).
    const unchecked = await pack('--no-validate');
    expect([unchecked.code, JSON.parse(unchecked.stdout).error.code]).toEqual([1, 'CPY_ARTIFACT_SOURCE_MISMATCH']);
  });

  it('cpy build stopped while its source is verified stops there (it went on to configure and make, and built to the end)', async () => {
    const child = spawn(
      process.execPath,
      [join(repoRoot(), 'apps', 'cli', 'bin', 'cpy.cjs'), 'build', '3.13.5', '--builder', 'host', '--work-dir', join(work, 'build-work'), '-o', join(work, 'build-out'), '--json'],
      { env: { ...process.env, CPY_CACHE_DIR: join(work, 'cache-build-stopped'), CPY_PYTHON_MIRRORS: mirror.url, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      // Gone past the fetch (the old code): stopped here, not after a whole build.
      if (/\bprovision|configure/.test(stderr)) child.kill('SIGKILL');
    });
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    // The last file of the fetch asked for (the Sigstore bundle, a few KiB): the verification of the 22 MiB tarball comes next.
    const requested = mirror.requests.length;
    while (!mirror.requests.slice(requested).some((r) => r.path.endsWith(`${TARBALL}.sigstore`))) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 30));
    child.kill('SIGINT');
    expect(await closed).toBe(1);
    expect(JSON.parse(stdout).error).toMatchObject({ code: 'CPY_SOURCE_CANCELLED' });
    expect(stderr).not.toMatch(/provision|configure/);
    expect(await readdir(join(work, 'build-work')).catch(() => [])).toEqual([]);
  });

  it('cpy build on this host, what it lacks is said before it fetches anything (it was said after the download), a work directory with a space too', async () => {
    const requested = mirror.requests.length;
    const env = { CPY_CACHE_DIR: join(work, 'cache-preflight'), CPY_PYTHON_MIRRORS: mirror.url, NO_COLOR: '1' };
    const r = await runCpy(['build', '3.13.5', '--builder', 'host', '--work-dir', join(work, 'preflight-work'), '-o', join(work, 'preflight-out'), '--json'], { env: { ...env, CC: '/no/such/cc' } });
    expect([r.code, JSON.parse(r.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_BUILD_MISSING_DEPENDENCIES', message: expect.stringContaining('cc (CC=/no/such/cc, from your environment') })]);
    const spaced = await runCpy(['build', '3.13.5', '--builder', 'host', '--work-dir', join(work, 'my builds'), '-o', join(work, 'preflight-out'), '--json'], { env });
    expect([spaced.code, JSON.parse(spaced.stdout).error.code]).toEqual([1, 'CPY_BUILD_WORK_DIR_UNUSABLE']);
    // Not made first (an empty one was left), and cpy doctor --dir says it too (it said the host could build there).
    expect(await readdir(work)).not.toContain('my builds');
    const doctor = await runCpy(['doctor', '--dir', join(work, 'my builds'), '--min-free-gb', '0', '--json'], { env });
    expect(JSON.parse(doctor.stdout).report.checks.find((c: { id: string }) => c.id === 'disk')).toMatchObject({ ok: false, detail: expect.stringContaining(`cannot build in ${join(work, 'my builds')}: its path has a space`) });
    expect(mirror.requests.slice(requested)).toEqual([]);
  });

  it('cpy build --builder container where no container engine works says so before it fetches anything (it downloaded and verified the source first)', async () => {
    const requested = mirror.requests.length;
    const noEngines = join(work, 'no-engines');
    await mkdir(noEngines, { recursive: true });
    const r = await runCpy(['build', '3.13.5', '--builder', 'container', '--image', 'localhost/debian-minbase:bookworm', '--work-dir', join(work, 'engine-work'), '-o', join(work, 'engine-out'), '--json'], {
      env: { CPY_CACHE_DIR: join(work, 'cache-no-engine'), CPY_PYTHON_MIRRORS: mirror.url, NO_COLOR: '1', PATH: noEngines },
    });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'CPY_BUILD_NO_CONTAINER_ENGINE', message: 'no working container engine (podman: not installed; docker: not installed)' });
    expect(mirror.requests.slice(requested)).toEqual([]);
  });
});

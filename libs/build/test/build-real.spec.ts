import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { isCpyError } from '@cpy/core';
import { checkPythonTree, packArtifact, validateArtifact, type PackedArtifact } from '@cpy/artifact';
import { aptInstallScript, requireBaseImage, requireContainerEngine, startContainer, startPythonMirror, type ContainerEngine, type PythonMirror } from '@cpy/harness';
import { artifactMetadataFor, buildCPython, fetchSource, packBuild, parseBuildSpec, readBuildResult, type Builder, type BuildResult, type FetchedSource } from '../src/index.js';
import { containerBuilder } from '../src/compile/builders.js';

const run = promisify(execFile);
const CRITICAL = 'import ssl, sqlite3, uuid, _uuid, lzma, bz2, ctypes, zlib, readline; print(ssl.OPENSSL_VERSION)';

/** The newest GLIBC_x.y symbol version any ELF file under `dir` needs, read with objdump. */
async function glibcFloor(dir: string): Promise<string> {
  let best = [0, 0];
  for (const rel of await readdir(dir, { recursive: true })) {
    const path = join(dir, String(rel));
    const st = await stat(path).catch(() => null);
    if (!st?.isFile() || !(String(rel).endsWith('.so') || /\.so\.|bin\/python3\.\d+$/.test(String(rel)))) continue;
    const { stdout } = await run('objdump', ['-T', path], { maxBuffer: 64 * 1024 * 1024 }).catch(() => ({ stdout: '' }));
    for (const m of stdout.matchAll(/GLIBC_(\d+)\.(\d+)/g)) {
      const v = [Number(m[1]), Number(m[2])];
      if (v[0]! > best[0]! || (v[0] === best[0] && v[1]! > best[1]!)) best = v;
    }
  }
  return best.join('.');
}

let mirror: PythonMirror;
let work: string;
let source: FetchedSource;
// CI compiles CPython once here, in a bullseye container, and once in the e2e, on the host through
// the real CLI: this build and its artifact carry every library-level assertion, and what it runs
// it runs in the builder, where its libssl1.1 is.
let engine: ContainerEngine;
let builder: Builder;
let built: BuildResult | undefined;
const inBuilder = (file: string, args: readonly string[]) => builder.exec(file, args);

const pack = (result: BuildResult, outDir: string, installDir = result.installDir) =>
  packArtifact({ installDir, metadata: artifactMetadataFor(result, source.verification), outDir, packagesFor: async () => result.runtimePackages });
/** Validates in the builder: `dir` is under the build directory, which the container sees at the same path. */
const validateThere = (path: string, dir: string) => validateArtifact(path, { runner: inBuilder, workDir: join(built!.buildDir, 'validate', dir) });

beforeAll(async () => {
  mirror = await startPythonMirror();
  work = await mkdtemp(join(tmpdir(), 'cpy-build-real-'));
  source = await fetchSource('3.13.5', { mirrors: [mirror.url], cacheDir: join(work, 'cache'), env: {} });
  engine = await requireContainerEngine();
});
afterAll(async () => {
  await builder?.stop();
  await mirror.close();
  await rm(work, { recursive: true, force: true });
});

describe('a real CPython 3.13.5 build in a bullseye container (fast profile)', () => {
  it('a missing libssl-dev stops it naming ssl and the package; with it, the tree imports every critical module, needs no glibc newer than 2.31, and its logs are on disk; CC="ccache gcc" compiles through the launcher and records gcc alone', async () => {
    const image = await requireBaseImage(engine, 'bullseye');
    const spec = parseBuildSpec({ version: '3.13.5', builder: { kind: 'container', image, engine: engine.name, provisionExclude: ['libssl-dev'] } });
    builder = containerBuilder(spec.builder as Extract<typeof spec.builder, { kind: 'container' }>);
    const workDir = join(work, 'bullseye');
    let error: unknown;
    try {
      await buildCPython({ spec, source, workDir, builder });
    } catch (e) {
      error = e;
    }
    expect(isCpyError(error, 'CPY_BUILD_MISSING_DEPENDENCIES')).toBe(true);
    expect((error as Error).message).toMatch(/ssl \(libssl-dev\)/);

    const apt = await builder.exec('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'libssl-dev']);
    expect(apt.exitCode).toBe(0);

    // A pip already at the build's prefix on the builder (3.13.5 installed there): ensurepip would
    // find it and put none in the artifact. Refused in preflight, naming it; gone, the build runs.
    const planted = `${spec.prefix}/lib/python3.13/site-packages/pip-25.1.1.dist-info`;
    expect((await builder.exec('mkdir', ['-p', planted])).exitCode).toBe(0);
    error = undefined;
    try {
      await buildCPython({ spec, source, workDir, builder });
    } catch (e) {
      error = e;
    }
    expect(isCpyError(error, 'CPY_BUILD_PREFIX_HAS_PIP')).toBe(true);
    expect((error as Error).message).toContain(`(${planted})`);
    expect((await builder.exec('rm', ['-rf', spec.prefix])).exitCode).toBe(0);
    // A compiler launcher as ccache is one (it counts the compiles it runs), given as developers do:
    // CC="ccache gcc". It compiles; what sysconfig records for extensions users build is gcc.
    const ccache = '#!/bin/sh\necho "$*" >> /tmp/ccache-runs\nexec "$@"\n';
    expect((await builder.exec('sh', ['-c', 'printf "%s" "$1" > /usr/local/bin/ccache && chmod 755 /usr/local/bin/ccache', 'sh', ccache])).exitCode).toBe(0);
    const launched = parseBuildSpec({ ...spec, env: { CC: 'ccache gcc' } });
    const phases: string[] = [];
    const result = await buildCPython({ spec: launched, source, workDir, builder, onEvent: (e) => void (e.type === 'phase' && phases.push(e.phase)) });
    const runs = await builder.exec('sh', ['-c', 'grep -c -- " -c " /tmp/ccache-runs']);
    expect(Number(runs.stdout.trim())).toBeGreaterThan(200);
    expect(result.configureArgs).toContain('CC=gcc');
    expect(result.compiler).toMatch(/^gcc /);
    const recorded = await builder.exec(join(result.installDir, 'bin', 'python3'), ['-c', 'import sysconfig as s; print(s.get_config_var("CC")); print(s.get_config_var("LDSHARED"))']);
    expect(recorded.stdout.trim().split('\n').map((l) => l.split(' ')[0])).toEqual(['gcc', 'gcc']);
    expect(phases).toEqual(['provision', 'preflight', 'extract', 'configure', 'make', 'install', 'check']);
    built = result;
    expect(result.os).toMatchObject({ id: 'debian', versionId: '11' });
    expect(result.modules.present).toEqual(expect.arrayContaining(['ssl', 'sqlite3', 'uuid', 'lzma', 'bz2', 'ctypes', 'zlib', 'readline']));
    for (const log of ['configure', 'make', 'install']) expect((await stat(result.logs[log]!)).size).toBeGreaterThan(1000);
    const [major, minor] = (await glibcFloor(result.installDir)).split('.').map(Number);
    expect(major).toBe(2);
    expect(minor).toBeLessThanOrEqual(31);
    // A build on 2 cores shared with the other lane of scripts/test.sh: as long as the e2e's.
  }, 30 * 60 * 1000);

  it('the tree runs after being moved: no rpath needed', async () => {
    expect(built).toBeDefined();
    const moved = join(built!.buildDir, 'moved', 'somewhere-else');
    await cp(built!.installDir, moved, { recursive: true, verbatimSymlinks: true });
    const r = await builder.exec(join(moved, 'bin', 'python3'), ['-c', CRITICAL]);
    expect({ exitCode: r.exitCode, stderr: r.stderr.trim() }).toEqual({ exitCode: 0, stderr: '' });
    expect(r.stdout).toMatch(/^OpenSSL 1\.1/);
    // The interpreter carries libpython itself (a copy of it runs, as venv --copies makes one);
    // libpython3.13.so is still built for programs that embed Python. Neither has an rpath.
    const { stdout: dynamic } = await run('readelf', ['-d', join(moved, 'bin', 'python3')]);
    expect(dynamic).not.toMatch(/libpython|RPATH|RUNPATH/);
    expect((await run('readelf', ['-d', join(moved, 'lib', 'libpython3.13.so.1.0')])).stdout).not.toMatch(/RPATH|RUNPATH/);

  });
});

describe('the artifact of that build', () => {
  let packed: PackedArtifact;

  it('with zstd and --debug-symbols: a .tar.zst that validates, and a separate debug asset gdb can find', async () => {
    expect(built).toBeDefined();
    // A copy, packed as a build's tree is (the next test packs the original).
    const tree = join(work, 'zstd', 'opt', 'python-3.13.5');
    await cp(built!.installDir, tree, { recursive: true, verbatimSymlinks: true });
    const zstd = await packArtifact({
      installDir: tree,
      metadata: artifactMetadataFor(built!, source.verification),
      outDir: join(work, 'zstd', 'out'),
      packagesFor: async () => built!.runtimePackages,
      compression: 'zstd',
      debugSymbols: true,
    });
    expect(zstd.fileName).toBe('cpython-3.13.5-debian11-build1.tar.zst');
    expect(zstd.bytes).toBeLessThanOrEqual(30 * 1000 * 1000);
    expect((await validateThere(zstd.path, 'zstd')).summary).toBe('[SUCCESS]');

    const debug = zstd.debugSymbols!;
    expect(debug.fileName).toBe('cpython-3.13.5-debian11-build1.debug.tar.zst');
    const { stdout: sums } = await run('sha256sum', ['-c', `${debug.fileName}.sha256`], { cwd: join(work, 'zstd', 'out') });
    expect(sums).toBe(`${debug.fileName}: OK\n`);
    const unpacked = join(work, 'zstd', 'debug');
    await run('mkdir', ['-p', unpacked]);
    await run('tar', ['--zstd', '-xf', debug.path, '-C', unpacked]);
    const symbols = join(unpacked, 'opt/python-3.13.5/bin/.debug/python3.13.debug');
    expect((await run('readelf', ['-S', symbols])).stdout).toMatch(/\.debug_info/);
    // The packed binary is stripped and names its symbols file, with a CRC gdb checks; the tree
    // keeps its symbols (packed again, with a test result or --debug-symbols, it still has them).
    const packedDir = join(work, 'zstd', 'packed');
    await run('mkdir', ['-p', packedDir]);
    await run('tar', ['--zstd', '-xf', zstd.path, '-C', packedDir, 'opt/python-3.13.5/bin/python3.13']);
    const packedBinary = join(packedDir, 'opt/python-3.13.5/bin/python3.13');
    const { stdout: link } = await run('readelf', ['--string-dump=.gnu_debuglink', packedBinary]);
    expect(link).toMatch(/python3\.13\.debug/);
    expect((await run('readelf', ['-S', packedBinary])).stdout).not.toMatch(/\.debug_info/);
    expect((await run('readelf', ['-S', join(tree, 'bin', 'python3.13')])).stdout).toMatch(/\.debug_info/);
  });

  it('packs deterministically into at most 30 MB, with checksum, metadata and LICENSE; validated where it is meant to run [SUCCESS]; on this Debian 12 host it cannot be judged', async () => {
    expect(built).toBeDefined();
    packed = await pack(built!, join(work, 'artifacts-1'));
    const again = await pack(built!, join(work, 'artifacts-2'));
    expect(again.sha256).toBe(packed.sha256);
    expect(packed.fileName).toBe('cpython-3.13.5-debian11-build1.tgz');
    expect(packed.bytes).toBeLessThanOrEqual(30 * 1000 * 1000);
    const { stdout } = await run('sha256sum', ['-c', packed.checksumPath], { cwd: join(work, 'artifacts-1') });
    expect(stdout).toBe(`${packed.fileName}: OK\n`);
    const { stdout: first } = await run('sh', ['-c', `tar -tzf '${packed.path}' | head -n 4`]);
    expect(first.split('\n').slice(0, 4)).toEqual(['cpy-artifact.json', 'opt/', 'opt/python-3.13.5/', 'opt/python-3.13.5/LICENSE.txt']);
    // The artifact's metadata says what the ELF files say.
    expect(packed.metadata.platform.glibcFloor).toBe(await glibcFloor(built!.installDir));
    expect(packed.metadata.runtime.needs.find((n) => n.soname === 'libssl.so.1.1')?.packages).toEqual(['libssl1.1']);
    expect(packed.metadata.source.verification.method).toBe('openpgp+sigstore');

    // Validated in the builder (as `cpy build --builder container` does), it is sound; on this
    // Debian 12 host it cannot be judged: bullseye's libssl1.1 is not here.
    const there = await validateThere(packed.path, 'packed');
    expect(there.summary).toBe('[SUCCESS]');
    expect(there.checks.map((c) => c.id)).toEqual(expect.arrayContaining(['relocation', 'venv', 'venv-copies', 'sysconfig', 'c-extension', 'interpreter-copy', 'embedding']));
    // The prefix compiled into python3.X and libpython is where the tree was relocated to (its
    // build left room for it): a program embedding libpython finds the standard library there,
    // without PYTHONHOME, as with a build configured at that prefix.
    expect(there.checks.find((c) => c.id === 'embedding')).toMatchObject({ ok: true, detail: expect.stringMatching(/^a program embedding libpython3\.13\.so .* finds the standard library at .*\/validate\/packed\/tree\/opt\/python-3\.13\.5 /) });
    // Where python3 cannot start python3 (a cross build's check under qemu-user), the C extension
    // built with sysconfig's compiler is imported by the checking python3 itself.
    const tree = join(built!.buildDir, 'validate', 'packed', 'tree', 'opt', 'python-3.13.5');
    const checks = await checkPythonTree(tree, '3.13.5', { workDir: join(built!.buildDir, 'checks-in-process'), venvs: false, runner: inBuilder });
    expect(checks.find((c) => c.id === 'c-extension')).toEqual({ id: 'c-extension', ok: true, detail: expect.stringMatching(/^built with gcc and sysconfig's flags, imports \(in this python3\), no RPATH/) });
    expect(checks.map((c) => c.id)).not.toContain('venv');
    const onHost = await validateArtifact(packed.path);
    expect(onHost.checks.find((c) => c.id === 'critical-modules')).toMatchObject({ ok: false, detail: expect.stringMatching(/libssl\.so\.1\.1/) });
  });

  it('packed from its build directory as `cpy artifact pack` packs it, no builder running: its recorded bullseye image is started again, provisioned in full (the build left libssl-dev out), and the artifact validates there [SUCCESS]; the container goes after (it was validated on this host, missing libssl.so.1.1, and rejected)', async () => {
    expect(built).toBeDefined();
    const recorded = await readBuildResult(built!.buildDir);
    expect(recorded.builder.spec).toMatchObject({ kind: 'container', image: await requireBaseImage(engine, 'bullseye'), provisionExclude: ['libssl-dev'] });
    const containers = async () => (await engine.cli(['ps', '-a', '-q', '--filter', 'name=cpy-build-'])).stdout.trim().split('\n').filter(Boolean).sort();
    const before = await containers();
    const said: string[] = [];
    const out = await packBuild(recorded, source.verification, { outDir: join(work, 'repacked'), testsAsset: false, onLog: (line) => void said.push(line) });
    expect(said).toContain(`starting container ${recorded.builder.spec!.kind === 'container' ? recorded.builder.spec!.image : ''} again, where the build ran, to check the artifact there (log ${join(built!.buildDir, 'logs', 'pack-builder.log')})`);
    expect(out.validation?.summary).toBe('[SUCCESS]');
    expect(out.packed.path).toBe(join(work, 'repacked', 'cpython-3.13.5-debian11-build1.tgz'));
    expect(await containers()).toEqual(before);
  }, 15 * 60 * 1000);

  it('installed in a minimal bullseye container with the packages its metadata names, the critical modules import', async () => {
    expect(packed).toBeDefined();
    const container = await startContainer(engine, await requireBaseImage(engine, 'bullseye'), { mounts: [{ host: join(work, 'artifacts-1'), container: '/artifacts', readOnly: true }] });
    try {
      const packages = [...new Set(packed.metadata.runtime.needs.flatMap((n) => n.packages))];
      const r = await container.exec([
        'sh',
        '-c',
        `${aptInstallScript(packages)} && tar -xzf /artifacts/${packed.fileName} -C / --exclude cpy-artifact.json && /opt/python-3.13.5/bin/python3 -c '${CRITICAL}'`,
      ]);
      expect(r.stderr.split('\n').filter((l) => /Error|^E:/.test(l))).toEqual([]);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/OpenSSL 1\.1/);
    } finally {
      await container.remove();
    }
  });

  /** Packs a changed copy of the build's tree and returns its validation report (from the builder). */
  async function validateVariant(name: string, change: (tree: string) => Promise<void>) {
    const tree = join(work, `variant-${name}`, 'opt', 'python-3.13.5');
    await cp(built!.installDir, tree, { recursive: true, verbatimSymlinks: true });
    await change(tree);
    const variant = await pack(built!, join(work, `variant-${name}`, 'out'), tree);
    return validateThere(variant.path, `variant-${name}`);
  }

  /** A copy of the packed artifact (and its .sha256) changed by `change`, and its validation report (from the builder): no tree to copy and pack again. */
  async function validatePackedCopy(name: string, change: (copy: { path: string; fileName: string; checksumPath: string }) => Promise<void>) {
    const dir = join(work, `variant-${name}`, 'out');
    await mkdir(dir, { recursive: true });
    const copy = { path: join(dir, packed.fileName), fileName: packed.fileName, checksumPath: join(dir, `${packed.fileName}.sha256`) };
    await cp(packed.path, copy.path);
    await cp(packed.checksumPath, copy.checksumPath);
    await change(copy);
    return validateThere(copy.path, `variant-${name}`);
  }

  it('refuses a planted private key, a missing critical module, a checksum mismatch and a missing LICENSE, saying which', async () => {
    const key = await validateVariant('key', (t) =>
      writeFile(join(t, 'lib', 'python3.13', 'site-packages', 'deploy.pem'), '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n'),
    );
    expect(key.summary).toMatch(/^\[FAILED\]\n- secrets: must never ship: private key in lib\/python3\.13\/site-packages\/deploy\.pem$/);

    const ssl = await validateVariant('ssl', async (t) => {
      const dynload = join(t, 'lib', 'python3.13', 'lib-dynload');
      for (const f of await readdir(dynload)) if (f.startsWith('_ssl.')) await rm(join(dynload, f));
    });
    expect(ssl.summary).toMatch(/- critical-modules: cannot import ssl \(.*_ssl/);

    const sum = await validatePackedCopy('sum', (p) => writeFile(p.checksumPath, `${'0'.repeat(64)}  ${p.fileName}\n`));
    expect(sum.summary).toMatch(/- checksum: sha256 is [0-9a-f]{64}, but cpython-3\.13\.5-debian11-build1\.tgz\.sha256 says 0{64}/);

    // Without a LICENSE the packer refuses; a tarball made without one is refused by validation.
    let refused: unknown;
    try {
      await validateVariant('nolicense-pack', (t) => rm(join(t, 'lib', 'python3.13', 'LICENSE.txt')));
    } catch (e) {
      refused = e;
    }
    expect(isCpyError(refused, 'CPY_ARTIFACT_NO_LICENSE')).toBe(true);
    const noLicense = await validatePackedCopy('nolicense', async (p) => {
      const dir = join(work, 'repack');
      await run('mkdir', ['-p', dir]);
      await run('tar', ['-xzf', p.path, '-C', dir]);
      await rm(join(dir, 'opt', 'python-3.13.5', 'LICENSE.txt'));
      await run('sh', ['-c', `cd '${dir}' && tar --sort=name --owner=0 --group=0 -czf '${p.path}' cpy-artifact.json opt && sha256sum '${p.fileName}' >/dev/null; cd '${join(p.path, '..')}' && sha256sum '${p.fileName}' > '${p.checksumPath}'`]);
    });
    expect(noLicense.summary).toMatch(/- license: no LICENSE\.txt at the top of the tree/);
  });
});

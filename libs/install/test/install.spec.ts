import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { cp, lstat, mkdir, mkdtemp, open, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { artifactFileName, isCpyError, sha256Hex } from '@cpy/core';
import { canMount, makeHostPythonArtifact, mountSmallDisk, repackArtifact, startPythonMirror, type PythonMirror, type TestArtifact } from '@cpy/harness';
import { installPython, listInstalled, MARKER_FILE, rollback, uninstall, useVersion, type InstallOptions } from '../src/index.js';

const run = promisify(execFile);
const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'worker.mjs');

let work: string;
let artifact: TestArtifact;
let mirror: PythonMirror;
let version: string;

/** A fresh place to install into: its own prefix, state, bin and cache. */
async function sandbox() {
  const root = await mkdtemp(join(work, 'sb-'));
  const paths = {
    root,
    prefix: join(root, 'opt', `python-${version}`),
    stateDir: join(root, 'state'),
    binDir: join(root, 'bin'),
    cacheDir: join(root, 'cache'),
  };
  const options = (extra: Partial<InstallOptions> = {}): InstallOptions => ({
    installPrefix: paths.prefix,
    stateDir: paths.stateDir,
    binDir: paths.binDir,
    cacheDir: paths.cacheDir,
    ...extra,
  });
  return { ...paths, options };
}

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; message: string; hint: string }> {
  try {
    await promise;
  } catch (error) {
    if (isCpyError(error)) return { code: error.code, message: error.message, hint: error.hint };
    throw error;
  }
  throw new Error('expected an error');
}

/** Everything under `dir`, for "nothing was left behind" checks. */
async function listing(dir: string): Promise<string[]> {
  return ((await readdir(dir, { recursive: true }).catch(() => [])) as string[]).sort();
}

function worker(options: InstallOptions, env: Record<string, string> = {}): Promise<{ code: number | null; signal: string | null; out: Record<string, unknown> | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [WORKER, JSON.stringify(options)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code, signal) => resolve({ code, signal, out: out ? (JSON.parse(out) as Record<string, unknown>) : null }));
  });
}

const serve = (a: TestArtifact, dir = 'artifacts') => {
  mirror.serve(`${dir}/${a.fileName}`, a.path);
  mirror.serve(`${dir}/${a.fileName}.sha256`, a.checksumPath);
  mirror.serve(`${dir}/${a.fileName}.json`, a.metadataPath);
  return mirror.fileUrl(dir, a.fileName);
};

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-install-'));
  artifact = await makeHostPythonArtifact(join(work, 'artifacts'));
  version = artifact.metadata.version;
  mirror = await startPythonMirror();
}, 180_000);
afterAll(async () => {
  await mirror.close();
  await rm(work, { recursive: true, force: true });
});

describe('installPython: a python3 that does not start on this host', () => {
  it('is refused before anything is put in place, even with skipValidation at the prefix it was built for (the install record runs it)', async () => {
    const sb = await sandbox();
    const mm = version.split('.').slice(0, 2).join('.');
    const oldRoot = artifact.metadata.prefix.replace(/^\//, '');
    // Built for the sandbox's prefix (no relocation: nothing else runs the python3 first), its
    // interpreter one that fails as a binary for a newer glibc does.
    const broken = await repackArtifact(artifact, join(work, 'nostart'), {
      metadata: (m) => ({ ...m, prefix: sb.prefix }),
      // (and the artifact's opt/ entry, which is outside that prefix)
      drop: (name) => name === `${oldRoot}/bin/python${mm}` || !(name === oldRoot || name.startsWith(`${oldRoot}/`)),
      append: [{ name: `${sb.prefix.replace(/^\//, '')}/bin/python${mm}`, mode: 0o755, body: `#!/bin/sh\necho "python${mm}: /lib/x86_64-linux-gnu/libc.so.6: version \\\`GLIBC_2.99' not found" >&2\nexit 1\n` }],
    });
    const error = await codeOf(installPython(sb.options({ artifactUrl: broken.path, skipValidation: true })));
    expect(error.code).toBe('CPY_INSTALL_VALIDATION_FAILED');
    expect(error.message).toMatch(/^the unpacked python3 does not work: python3 does not run: .*GLIBC_2\.99' not found/);
    expect(existsSync(sb.prefix)).toBe(false);
    expect(await listing(sb.stateDir).then((l) => l.filter((p) => p !== 'locks' && !p.startsWith('locks/')))).toEqual([]);
    expect(await listing(sb.binDir)).toEqual([]);
  });

  it('an artifact without share/cpy/postinstall.py (packed by an older cpy), at the prefix it was built for: said to be of an older cpy, not one that does not run here', async () => {
    const sb = await sandbox();
    const oldRoot = artifact.metadata.prefix.replace(/^\//, '');
    const older = await repackArtifact(artifact, join(work, 'nopostinstall'), {
      metadata: (m) => ({ ...m, prefix: sb.prefix }),
      drop: (name) => name === `${oldRoot}/share/cpy/postinstall.py` || !(name === oldRoot || name.startsWith(`${oldRoot}/`)),
    });
    const error = await codeOf(installPython(sb.options({ artifactUrl: older.path })));
    expect([error.code, error.message]).toEqual(['CPY_INSTALL_VALIDATION_FAILED', expect.stringContaining('postinstall: the artifact has no share/cpy/postinstall.py')]);
    // It said to check the artifact's runtime needs, or to use one built for this distribution.
    expect(error.hint).toBe('nothing was changed; use an artifact packed by this version of cpy (cpy artifact pack), or pass --skip-validation');
    expect(existsSync(sb.prefix)).toBe(false);
  });
});

describe('installPython: a real artifact, installed for real', () => {
  it('installs from a path, links python3, and a second run returns at once without touching anything', async () => {
    const sb = await sandbox();
    const first = await installPython(sb.options({ artifactUrl: artifact.path }));
    expect(first).toMatchObject({ status: 'installed', version, prefix: sb.prefix, sha256: artifact.sha256, activated: true });
    const { stdout } = await run(join(sb.binDir, 'python3'), ['-c', 'import sys, ssl, sqlite3, lzma, bz2, ctypes, zlib; print(sys.prefix)']);
    expect(stdout.trim()).toBe(sb.prefix);
    // Relocated: the script's #! names the new prefix.
    expect((await readFile(join(sb.prefix, 'bin', 'pydoc3'), 'utf8')).split('\n')[0]).toBe(`#!${sb.prefix}/bin/python${version.split('.').slice(0, 2).join('.')}`);
    await run(join(sb.binDir, 'pydoc3'), ['-k', 'zzz-no-such-topic']);
    const marker = JSON.parse(await readFile(join(sb.prefix, MARKER_FILE), 'utf8'));
    expect(marker).toMatchObject({ sha256: artifact.sha256, artifact: artifact.fileName, builtFor: artifact.metadata.prefix });

    // Untouched: the same entries, each file and link with the same change time (a tree unpacked
    // again in place, or a marker or state written again with the same bytes, would change it;
    // a directory's changes with the lock files made and removed in it).
    const stamped = async () =>
      Promise.all((await listing(sb.root)).map(async (p) => ((st) => (st.isDirectory() ? p : `${p} ${st.ctimeMs}`))(await lstat(join(sb.root, p)))));
    const before = await stamped();
    const phases: string[] = [];
    const second = await installPython(sb.options({ artifactUrl: artifact.path }), { onEvent: (e) => void (e.type === 'phase' && phases.push(e.phase)) });
    expect(second.status).toBe('already-installed');
    expect(await stamped()).toEqual(before);
    expect(phases).toEqual([]);

    // A checksum given on its own is read even then: one that names other bytes, or none at all, is
    // not "already installed" (both were: the name alone matched the marker).
    const other = join(sb.root, 'other.sha256');
    await writeFile(other, `${'4'.repeat(64)}  ${artifact.fileName}\n`);
    await expect(installPython(sb.options({ artifactUrl: artifact.path, checksumUrl: other }))).rejects.toMatchObject({ code: 'CPY_INSTALL_CHECKSUM_MISMATCH' });
    await expect(installPython(sb.options({ artifactUrl: artifact.path, checksumUrl: join(sb.root, 'none.sha256') }))).rejects.toMatchObject({ code: 'CPY_INSTALL_NOT_FOUND' });
    await writeFile(other, `${artifact.sha256}  ${artifact.fileName}\n`);
    expect((await installPython(sb.options({ artifactUrl: artifact.path, checksumUrl: other }))).status).toBe('already-installed');
    await rm(other);
    expect(await stamped()).toEqual(before);
  });

  it('installs over HTTP with the .sha256 beside the artifact; the second run makes no request at all', async () => {
    const sb = await sandbox();
    const url = serve(artifact);
    const first = await installPython(sb.options({ artifactUrl: url }));
    expect(first).toMatchObject({ status: 'installed', source: url, fromCache: false });
    const requests = mirror.requests.length;
    const second = await installPython(sb.options({ artifactUrl: url }));
    expect(second.status).toBe('already-installed');
    expect(mirror.requests.length).toBe(requests);
  });

  it('with its sha256 given, an artifact in the cache installs at another prefix without a request (reinstalls work offline)', async () => {
    const sb = await sandbox();
    const url = serve(artifact, 'cached');
    await installPython(sb.options({ artifactUrl: url, sha256: artifact.sha256 }));
    const requests = mirror.requests.length;
    const again = await installPython(sb.options({ artifactUrl: url, sha256: artifact.sha256, installPrefix: join(sb.root, 'again') }));
    expect(again).toMatchObject({ status: 'installed', fromCache: true, sha256: artifact.sha256 });
    expect(mirror.requests.slice(requests).map((r) => r.path)).toEqual([]);
  });

  it('stopped (its signal) once the artifact is downloaded and verified: it is recorded in the cache, and the next run installs from it offline, by version (it was left there unrecorded: "the cache holds no CPython")', async () => {
    const sb = await sandbox();
    const url = serve(artifact, 'stopped-after-download');
    const controller = new AbortController();
    // Stopped while the pass unpacks (a quarter of the tree written), once every byte has arrived:
    // over loopback the download ends long before the unpacking does.
    let arrived = false;
    const stopped = await codeOf(
      installPython(sb.options({ artifactUrl: url }), {
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'download' && e.total !== null && e.received === e.total) arrived = true;
          if (e.type === 'extract' && arrived && e.bytes > e.total / 4) controller.abort();
        },
      }),
    );
    expect(stopped.code).toBe('CPY_INSTALL_CANCELLED');
    expect(existsSync(join(sb.prefix, MARKER_FILE))).toBe(false);
    const requests = mirror.requests.length;
    const again = await installPython(sb.options({ version, skipValidation: true }));
    expect(again).toMatchObject({ status: 'installed', fromCache: true, sha256: artifact.sha256 });
    expect(mirror.requests.slice(requests)).toEqual([]);
  });

  it('refuses a corrupt download with its checksum, keeps the installed build, and caches nothing', async () => {
    const sb = await sandbox();
    await installPython(sb.options({ artifactUrl: artifact.path }));
    const build2 = await repackArtifact(artifact, join(work, 'corrupt'), { metadata: (m) => ({ ...m, build: 2 }) });
    const fh = await open(build2.path, 'r+');
    await fh.write(Buffer.from([0x00, 0xff, 0x00]), 0, 3, 100_000);
    await fh.close();
    const e = await codeOf(installPython(sb.options({ artifactUrl: build2.path })));
    expect(e.code).toBe('CPY_INSTALL_CHECKSUM_MISMATCH');
    expect(e.message).toContain(build2.sha256);
    expect(JSON.parse(await readFile(join(sb.prefix, MARKER_FILE), 'utf8')).build).toBe(1);
    await run(join(sb.binDir, 'python3'), ['-c', 'import ssl']);
    expect((await listing(sb.cacheDir)).filter((n) => !n.startsWith(artifact.sha256))).toEqual([]);

    const wrong = await codeOf(installPython(sb.options({ artifactUrl: artifact.path, sha256: 'a'.repeat(64), installPrefix: join(sb.root, 'other') })));
    expect(wrong.code).toBe('CPY_INSTALL_CHECKSUM_MISMATCH');
    expect(existsSync(join(sb.root, 'other'))).toBe(false);
  });

  it('treats a damaged cache index as a cache miss: the artifact is fetched and checked again', async () => {
    const sb = await sandbox();
    await installPython(sb.options({ artifactUrl: artifact.path }));
    await writeFile(join(sb.cacheDir, `${artifact.sha256}.json`), '{ not json');
    const other = join(sb.root, 'again');
    const r = await installPython(sb.options({ artifactUrl: artifact.path, installPrefix: other }));
    expect(r).toMatchObject({ status: 'installed', fromCache: false, sha256: artifact.sha256 });
  });

  it('reads a cached artifact once, hashed as it unpacks; one damaged since is removed: downloaded again with a URL, else nothing is installed', async () => {
    const sb = await sandbox();
    const url = serve(artifact, 'damaged-cache');
    await installPython(sb.options({ artifactUrl: url }));
    const cached = join(sb.cacheDir, `${artifact.sha256}.tgz`);
    const damage = async () => {
      const fh = await open(cached, 'r+');
      await fh.write(Buffer.from([0x00, 0xff, 0x00]), 0, 3, 100_000);
      await fh.close();
    };
    const staged = async () => (await listing(sb.root)).filter((n) => n.includes('.cpy-staging'));

    // Intact: from the cache (its checksum is asked for, not the artifact), and the extraction
    // is seen before the hash is.
    const requests = mirror.requests.length;
    const artifactAsked = () => mirror.requests.slice(requests).some((r) => r.path.endsWith(`/${artifact.fileName}`));
    const phases: string[] = [];
    const intact = await installPython(sb.options({ artifactUrl: url, installPrefix: join(sb.root, 'intact') }), {
      onEvent: (e) => void (e.type === 'phase' && phases.push(`${e.phase}: ${e.detail}`)),
    });
    expect(intact).toMatchObject({ status: 'installed', fromCache: true, sha256: artifact.sha256 });
    expect(artifactAsked()).toBe(false);
    expect(phases.findIndex((p) => /^extract: .*read and hashed/.test(p))).toBeGreaterThan(-1);
    expect(phases.findIndex((p) => /^extract:/.test(p))).toBeLessThan(phases.findIndex((p) => p.startsWith('verify:')));

    // Damaged, with a URL: removed, downloaded again, installed from what was downloaded.
    await damage();
    const warnings: string[] = [];
    const again = await installPython(sb.options({ artifactUrl: url, installPrefix: join(sb.root, 'again') }), {
      onEvent: (e) => void (e.type === 'warning' && warnings.push(e.message)),
    });
    expect(again).toMatchObject({ status: 'installed', fromCache: false, sha256: artifact.sha256 });
    expect(warnings.join('\n')).toContain(`the cached ${artifact.fileName} is damaged`);
    expect(artifactAsked()).toBe(true);
    await run(join(sb.root, 'again', 'bin', 'python3'), ['-c', 'import ssl, sqlite3']);
    expect(sha256Hex(await readFile(cached))).toBe(artifact.sha256);
    expect(await staged()).toEqual([]);

    // Damaged, and no URL (the version and its sha256, from the cache only): the error says so.
    await damage();
    const offline = await codeOf(installPython(sb.options({ version, sha256: artifact.sha256, installPrefix: join(sb.root, 'offline') })));
    expect(offline.code).toBe('CPY_INSTALL_NO_SOURCE');
    expect(offline.message).toContain(`the cached ${artifact.fileName} is damaged`);
    expect(existsSync(join(sb.root, 'offline'))).toBe(false);
    expect(existsSync(cached)).toBe(false);
    expect(await staged()).toEqual([]);
  }, 120_000);

  it('offline, by version: a newest cached build found damaged is removed, and the next newest is installed in the same run', async () => {
    const sb = await sandbox();
    const build2 = await repackArtifact(artifact, join(work, 'older-cached'), { metadata: (m) => ({ ...m, build: 2 }) });
    await installPython(sb.options({ artifactUrl: artifact.path, installPrefix: join(sb.root, 'b1') }));
    await installPython(sb.options({ artifactUrl: build2.path, installPrefix: join(sb.root, 'b2') }));
    const fh = await open(join(sb.cacheDir, `${build2.sha256}.tgz`), 'r+');
    await fh.write(Buffer.from([0x00, 0xff, 0x00]), 0, 3, 100_000);
    await fh.close();

    const warnings: string[] = [];
    const r = await installPython(sb.options({ version, installPrefix: join(sb.root, 'offline') }), {
      onEvent: (e) => void (e.type === 'warning' && warnings.push(e.message)),
    });
    expect(r).toMatchObject({ status: 'installed', fromCache: true, sha256: artifact.sha256, build: 1 });
    expect(warnings.join('\n')).toContain(`the cached ${build2.fileName} is damaged`);
    expect(r.warnings.join('\n')).toContain(`another cached build of ${version} is tried`);
    expect(existsSync(join(sb.cacheDir, `${build2.sha256}.tgz`))).toBe(false);
    await run(join(sb.root, 'offline', 'bin', 'python3'), ['-c', 'import ssl']);

    // With none left but a damaged one, the error says what there is (none of that version), and what was removed.
    const fh1 = await open(join(sb.cacheDir, `${artifact.sha256}.tgz`), 'r+');
    await fh1.write(Buffer.from([0x00, 0xff, 0x00]), 0, 3, 100_000);
    await fh1.close();
    const none = await codeOf(installPython(sb.options({ version, installPrefix: join(sb.root, 'none') })));
    expect(none.code).toBe('CPY_INSTALL_NO_SOURCE');
    expect(none.message).toContain('holds no CPython');
    expect(none.message).toContain(`(before that: the cached ${artifact.fileName} is damaged`);
    expect(existsSync(join(sb.root, 'none'))).toBe(false);
    // Asked by sha256: said so (it said the cache held no CPython <version>, which it may well hold under another sha256).
    const bySum = await codeOf(installPython(sb.options({ version, sha256: 'e'.repeat(64), installPrefix: join(sb.root, 'none') })));
    expect([bySum.code, bySum.message]).toEqual(['CPY_INSTALL_NO_SOURCE', expect.stringContaining(`holds no artifact with sha256 ${'e'.repeat(64)} (CPython ${version})`)]);
  }, 120_000);

  it('offline, by version: a cached build for another system that cannot run here is passed over for one that can, and named when none can (it was taken, then refused)', async () => {
    const sb = await sandbox();
    // Newer (build 5), for Ubuntu 24.04 with a glibc this host lacks; older (build 1), for Debian 11, which runs here.
    const foreign = await repackArtifact(artifact, join(work, 'foreign-cached'), { metadata: (m) => ({ ...m, build: 5, platform: { ...m.platform, os: 'ubuntu', osVersion: '24.04', glibcFloor: '9.99' } }) });
    const older = await repackArtifact(artifact, join(work, 'debian11-cached'), { metadata: (m) => ({ ...m, build: 1, platform: { ...m.platform, os: 'debian', osVersion: '11' } }) });
    await mkdir(sb.cacheDir, { recursive: true });
    for (const a of [foreign, older]) {
      await cp(a.path, join(sb.cacheDir, `${a.sha256}.tgz`));
      await writeFile(join(sb.cacheDir, `${a.sha256}.json`), JSON.stringify({ fileName: a.fileName, version: a.metadata.version, build: a.metadata.build, source: a.path }));
    }
    // An index nobody answers at: offline.
    const closed = await new Promise<number>((done) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => done(port));
      });
    });
    const offline = { version, indexUrl: `http://127.0.0.1:${closed}/index.json` };
    const r = await installPython(sb.options({ ...offline, installPrefix: join(sb.root, 'offline') }));
    expect(r).toMatchObject({ status: 'installed', fromCache: true, sha256: older.sha256, build: 1 });
    await run(join(sb.root, 'offline', 'bin', 'python3'), ['-c', 'import ssl']);

    // With the foreign one alone: refused, naming it and why it cannot run here, nothing installed.
    await rm(join(sb.cacheDir, `${older.sha256}.tgz`));
    const none = await codeOf(installPython(sb.options({ ...offline, installPrefix: join(sb.root, 'none') })));
    expect(none.code).toBe('CPY_INSTALL_INDEX_UNAVAILABLE');
    expect(none.message).toContain(`the cache holds no build of ${version} that runs here; it holds builds for other systems that cannot run here (${foreign.fileName}: `);
    expect(none.message).toContain('9.99');
    // Without an index, the same.
    const noIndex = await codeOf(installPython(sb.options({ version, installPrefix: join(sb.root, 'none') })));
    expect([noIndex.code, noIndex.message]).toEqual(['CPY_INSTALL_NO_SOURCE', expect.stringContaining(`cannot run here (${foreign.fileName}: `)]);
    expect(existsSync(join(sb.root, 'none'))).toBe(false);
  }, 120_000);

  it('unpacks a .tgz as it downloads (one pass): files are written before the body has arrived; nothing is placed before the hash matched', async () => {
    const sb = await sandbox();
    const url = serve(artifact, 'one-pass');
    // The server sends half the body, then waits: an installer that unpacks only after the
    // download would wait forever (the fallback timer then lets the test fail, not hang).
    let release!: () => void;
    const resume = new Promise<void>((resolve) => (release = resolve));
    const fallback = setTimeout(release, 20_000);
    mirror.inject(`one-pass/${artifact.fileName}`, { pauseAfterBytes: Math.floor((await stat(artifact.path)).size / 2), resume });
    const seen: string[] = [];
    let placedEarly = false;
    const r = await installPython(sb.options({ artifactUrl: url }), {
      onEvent: (event) => {
        if (event.type === 'extract' && !seen.includes('extract-while-downloading')) {
          seen.push('extract-while-downloading');
          placedEarly = existsSync(sb.prefix) || existsSync(join(sb.binDir, 'python3'));
          release();
        }
        if (event.type === 'phase') seen.push(event.phase);
      },
    });
    clearTimeout(fallback);
    expect(r).toMatchObject({ status: 'installed', sha256: artifact.sha256, fromCache: false });
    expect(seen.indexOf('extract-while-downloading')).toBeGreaterThan(-1);
    expect(seen.indexOf('extract-while-downloading')).toBeLessThan(seen.indexOf('verify'));
    expect(placedEarly).toBe(false);
    expect(existsSync(join(sb.cacheDir, `${artifact.sha256}.tgz`))).toBe(true);
    await run(join(sb.binDir, 'python3'), ['-c', 'import ssl, sqlite3']);
  }, 60_000);

  it('one pass, corrupt on the wire: the checksum is the error, the half-unpacked tree is gone, nothing is cached', async () => {
    const sb = await sandbox();
    const corrupt = join(work, 'wire-corrupt.tgz');
    await writeFile(corrupt, await readFile(artifact.path));
    const fh = await open(corrupt, 'r+');
    // Past the metadata entry: the pass is admitted and unpacks until the damage.
    await fh.write(Buffer.alloc(4096, 0x5a), 0, 4096, Math.floor((await stat(artifact.path)).size * 0.6));
    await fh.close();
    mirror.serve(`wire/${artifact.fileName}`, corrupt);
    mirror.serve(`wire/${artifact.fileName}.sha256`, artifact.checksumPath);
    const phases: string[] = [];
    const e = await codeOf(installPython(sb.options({ artifactUrl: mirror.fileUrl('wire', artifact.fileName) }), { onEvent: (ev) => void (ev.type === 'phase' && phases.push(ev.phase)) }));
    expect(e.code).toBe('CPY_INSTALL_CHECKSUM_MISMATCH');
    expect(phases).toContain('extract');
    expect(existsSync(sb.prefix)).toBe(false);
    expect(existsSync(join(sb.binDir, 'python3'))).toBe(false);
    expect(await listing(join(sb.root, 'opt'))).toEqual([]);
    expect((await listing(sb.cacheDir)).filter((n) => n.endsWith('.tgz') || n.includes('download'))).toEqual([]);
  }, 60_000);

  it('survives a dropped connection (retried), and a download that keeps breaking leaves nothing', async () => {
    const sb = await sandbox();
    const url = serve(artifact, 'flaky');
    mirror.inject(`flaky/${artifact.fileName}`, { dropAfterBytes: 100_000 });
    expect((await installPython(sb.options({ artifactUrl: url }))).status).toBe('installed');

    const sb2 = await sandbox();
    mirror.inject(`flaky/${artifact.fileName}`, { dropAfterBytes: 50_000 }, { dropAfterBytes: 50_000 }, { dropAfterBytes: 50_000 });
    const e = await codeOf(installPython(sb2.options({ artifactUrl: url })));
    expect(e.code).toBe('CPY_INSTALL_DOWNLOAD_FAILED');
    expect(existsSync(sb2.prefix)).toBe(false);
    expect((await listing(sb2.cacheDir)).filter((n) => n.endsWith('.tgz') || n.includes('download'))).toEqual([]);
  }, 60_000);

  it.each([
    ['a .. path', { name: `opt/python-VERSION/../../../escaped`, body: 'x' }, /climbs out/],
    ['an absolute path', { name: '/tmp/cpy-absolute-evil', body: 'x' }, /absolute path/],
    ['a symlink out of the tree', { name: 'opt/python-VERSION/lib/evil', type: 'symlink' as const, linkname: '../../../../../../etc' }, /points out of the tree/],
    ['a hard link', { name: 'opt/python-VERSION/bin/evil', type: 'link' as const, linkname: 'etc/shadow' }, /link entry/],
    ['a device', { name: 'opt/python-VERSION/bin/evil', type: 'character-device' as const }, /character-device entry/],
  ])('refuses an artifact with %s (right checksum), naming the entry; nothing is installed or left', async (_what, entry, message) => {
    const sb = await sandbox();
    const hostile = await repackArtifact(artifact, join(work, `hostile-${Math.random()}`), {
      append: [{ ...entry, name: entry.name.replace('VERSION', version) }],
    });
    const e = await codeOf(installPython(sb.options({ artifactUrl: hostile.path })));
    expect(e.code).toBe('CPY_ARTIFACT_UNSAFE_ENTRY');
    expect(e.message).toMatch(message);
    expect(e.message).toContain(entry.name.replace('VERSION', version));
    expect(existsSync(sb.prefix)).toBe(false);
    expect(await listing(join(sb.root, 'opt'))).toEqual([]);
    expect(existsSync('/tmp/cpy-absolute-evil')).toBe(false);
    expect(existsSync(join(sb.root, 'escaped'))).toBe(false);
  });

  it('refuses a glibc floor newer than the host before downloading the artifact (from the .json beside it)', async () => {
    const sb = await sandbox();
    const future = await repackArtifact(artifact, join(work, 'future'), {
      metadata: (m) => ({ ...m, build: 7, platform: { ...m.platform, glibcFloor: '9.99' } }),
    });
    const url = serve(future, 'future');
    const e = await codeOf(installPython(sb.options({ artifactUrl: url })));
    expect(e.code).toBe('CPY_INSTALL_GLIBC_TOO_OLD');
    expect(e.message).toMatch(/needs glibc 9\.99; this host has glibc \d+\.\d+/);
    expect(mirror.requests.some((r) => r.path.endsWith(`future/${future.fileName}`))).toBe(false);
    // The same artifact as a local file (no .json read first): refused from the tarball's own metadata.
    await rm(future.metadataPath);
    const local = await codeOf(installPython(sb.options({ artifactUrl: future.path })));
    expect(local.code).toBe('CPY_INSTALL_GLIBC_TOO_OLD');
    expect(existsSync(sb.prefix)).toBe(false);

    const arm = await repackArtifact(artifact, join(work, 'arch'), { metadata: (m) => ({ ...m, build: 8, platform: { ...m.platform, arch: 'riscv64' } }) });
    expect((await codeOf(installPython(sb.options({ artifactUrl: arm.path })))).code).toBe('CPY_INSTALL_WRONG_ARCH');

    // An aarch64 build given by URL on x86_64 (the reverse on aarch64), named for its arch: refused from
    // the .json beside it with the arch error, and the tarball is never asked for.
    const other = process.arch === 'arm64' ? 'x86_64' : 'aarch64';
    const m = artifact.metadata;
    const foreign = await repackArtifact(artifact, join(work, 'foreign-arch'), {
      fileName: artifactFileName({ version: m.version, os: m.platform.os, osVersion: m.platform.osVersion, arch: other, build: 9 }),
      metadata: (x) => ({ ...x, build: 9, platform: { ...x.platform, arch: other } }),
    });
    if (other === 'aarch64') expect(foreign.fileName).toBe(`cpython-${m.version}-${m.platform.os}${m.platform.osVersion}-aarch64-build9.tgz`);
    const byUrl = await codeOf(installPython(sb.options({ artifactUrl: serve(foreign, 'foreign-arch') })));
    expect(byUrl.code).toBe('CPY_INSTALL_WRONG_ARCH');
    expect(byUrl.message).toMatch(new RegExp(`build 9 \\(.*, ${other}\\) is built for ${other}; this host is `));
    expect(mirror.requests.some((r) => r.path.endsWith(`foreign-arch/${foreign.fileName}`))).toBe(false);
    expect(mirror.requests.some((r) => r.path.endsWith(`foreign-arch/${foreign.fileName}.json`))).toBe(true);
    expect(existsSync(sb.prefix)).toBe(false);
  });

  // A small disk is a tmpfs mounted for the test: root only (reported skipped otherwise, not passed).
  (canMount() ? it.each : it.skip.each)(['relocate', 'validate'] as const)('names a disk that fills up while the tree is %sd (after it was unpacked): CPY_INSTALL_DISK_FULL, and nothing is left', async (phase) => {
    const sb = await sandbox();
    const disk = await mountSmallDisk(3 * artifact.metadata.contents.bytes, join(sb.root, 'disk'));
    try {
      const prefix = join(disk.dir, `python-${version}`);
      // Whatever room is left is taken as the phase begins: what it writes meets a full disk.
      const fill = () => {
        const fd = openSync(join(disk.dir, 'filler'), 'w');
        const chunk = Buffer.alloc(1024 * 1024);
        try {
          for (;;) writeSync(fd, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
        } finally {
          closeSync(fd);
        }
      };
      const e = await codeOf(
        installPython(sb.options({ artifactUrl: artifact.path, installPrefix: prefix }), {
          onEvent: (event) => void (event.type === 'phase' && event.phase === phase && fill()),
        }),
      );
      expect(e.code).toBe('CPY_INSTALL_DISK_FULL');
      expect(e.message).toContain('no space left on its disk');
      expect(existsSync(prefix)).toBe(false);
      expect((await readdir(disk.dir)).filter((n) => n !== 'filler')).toEqual([]);
    } finally {
      await disk.unmount();
    }
  }, 120_000);

  (canMount() ? it : it.skip)("names the state directory when its disk fills up as the install is recorded (the tree in place): CPY_INSTALL_DISK_FULL; the next run records it", async () => {
    const sb = await sandbox();
    const disk = await mountSmallDisk(256 * 1024, join(sb.root, 'state-disk'));
    try {
      const stateDir = join(disk.dir, 'state');
      const options = sb.options({ artifactUrl: artifact.path, stateDir });
      // As the record begins, the state's disk is full but for one page: room for the state lock,
      // none for the state the record writes.
      const fill = () => {
        const filler = join(disk.dir, 'filler');
        const fd = openSync(filler, 'w');
        try {
          for (const size of [64 * 1024, 4096]) {
            const chunk = Buffer.alloc(size);
            try {
              for (;;) writeSync(fd, chunk);
            } catch (error) {
              if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
            }
          }
          ftruncateSync(fd, Math.max(0, fstatSync(fd).size - 4096));
        } finally {
          closeSync(fd);
        }
      };
      const e = await installPython(options, { onEvent: (event) => void (event.type === 'phase' && event.phase === 'activate' && fill()) }).catch((error: unknown) => error);
      expect(e).toMatchObject({
        code: 'CPY_INSTALL_DISK_FULL',
        message: expect.stringContaining(`cannot write ${stateDir}`),
        hint: expect.stringMatching(new RegExp(`^the install is in place, not fully recorded: free some space for ${stateDir} \\(df -h; df -i\\), then run the same command again to finish recording it$`)),
      });
      expect(existsSync(join(sb.prefix, 'bin', 'python3'))).toBe(true);

      await rm(join(disk.dir, 'filler'));
      const r = await installPython(options);
      expect(r.status).toBe('already-installed');
      expect(JSON.parse(await readFile(join(stateDir, 'state.json'), 'utf8')).installs[version]).toEqual({ prefix: sb.prefix });
    } finally {
      await disk.unmount();
    }
  }, 120_000);

  (canMount() ? it : it.skip)('an uninstall that cannot write the state puts the tree back where it was: it was left hidden beside the prefix for ever', async () => {
    const sb = await sandbox();
    await installPython(sb.options({ artifactUrl: artifact.path, skipValidation: true, activate: false }));
    // state.json made a mount point (bound onto itself): read as ever, never replaced (EBUSY).
    const state = join(sb.stateDir, 'state.json');
    await run('mount', ['--bind', state, state]);
    try {
      const e = await codeOf(uninstall(version, { stateDir: sb.stateDir, binDir: sb.binDir }));
      expect(e.code).toMatch(/^CPY_INSTALL_/);
      expect(existsSync(join(sb.prefix, 'bin', 'python3'))).toBe(true);
      expect((await readdir(dirname(sb.prefix))).filter((n) => n.startsWith('.cpy-old-'))).toEqual([]);
      expect(JSON.parse(await readFile(state, 'utf8')).installs[version]).toEqual({ prefix: sb.prefix });
    } finally {
      await run('umount', [state]);
    }
    // Once it can be written, the version goes.
    expect(await uninstall(version, { stateDir: sb.stateDir, binDir: sb.binDir })).toMatchObject({ version });
    expect(existsSync(sb.prefix)).toBe(false);
  }, 120_000);

  it('names a missing system library and its package; a library only optional modules need is a warning', async () => {
    const sb = await sandbox();
    const dynload = `lib/python${version.split('.').slice(0, 2).join('.')}/lib-dynload`;
    const needs = (soname: string, module: string) =>
      repackArtifact(artifact, join(work, `needs-${module}`), {
        metadata: (m) => ({ ...m, runtime: { needs: [...m.runtime.needs, { soname, packages: ['libcpy-test0'], usedBy: [`${dynload}/${module}.cpython-311-x86_64-linux-gnu.so`] }] } }),
      });
    const critical = await needs('libcpy-test-missing.so.0', '_ssl');
    // With its .json beside it: refused before the download, since no package in this system's archive provides it.
    const early = await codeOf(installPython(sb.options({ artifactUrl: critical.path })));
    expect(early.code).toBe('CPY_INSTALL_PACKAGES_UNAVAILABLE');
    expect(early.message).toMatch(/needs libcpy-test0, which .* does not provide$/);
    // Without it: refused from the tarball's own metadata, naming the library and its package.
    await rm(critical.metadataPath);
    const e = await codeOf(installPython(sb.options({ artifactUrl: critical.path })));
    expect(e.code).toBe('CPY_INSTALL_MISSING_LIBRARIES');
    expect(e.message).toContain('libcpy-test-missing.so.0 (for _ssl; package libcpy-test0)');
    expect(existsSync(sb.prefix)).toBe(false);

    const optional = await needs('libcpy-test-missing.so.0', '_tkinter');
    const r = await installPython(sb.options({ artifactUrl: optional.path }));
    expect(r.status).toBe('installed');
    expect(r.warnings.join('\n')).toMatch(/libcpy-test-missing\.so\.0 is missing \(package libcpy-test0\): _tkinter will not import \(--install-tk/);
  });

  it('does not put in place a python3 that fails validation, and keeps what was there', async () => {
    const sb = await sandbox();
    // The metadata claims 3.99.1; the interpreter inside says otherwise.
    const liar = await repackArtifact(artifact, join(work, 'liar'), { version: '3.99.1' });
    const prefix = join(sb.root, 'opt', 'python-3.99.1');
    const e = await codeOf(installPython(sb.options({ artifactUrl: liar.path, installPrefix: prefix })));
    expect(e.code).toBe('CPY_INSTALL_VALIDATION_FAILED');
    expect(e.message).toMatch(new RegExp(`Python ${version.replace(/\./g, '\\.')}, expected 3\\.99\\.1`));
    expect(existsSync(prefix)).toBe(false);
    expect(await listing(join(sb.root, 'opt'))).toEqual([]);
    expect(existsSync(join(sb.binDir, 'python3'))).toBe(false);
  });

  it('replaces a broken install (its marker damaged) atomically', async () => {
    const sb = await sandbox();
    await mkdir(join(sb.prefix, 'bin'), { recursive: true });
    await writeFile(join(sb.prefix, 'bin', 'python3'), 'half-written');
    await writeFile(join(sb.prefix, MARKER_FILE), '{"schemaVersion": 1, "vers');
    const r = await installPython(sb.options({ artifactUrl: artifact.path }));
    expect(r.status).toBe('replaced');
    await run(join(sb.prefix, 'bin', 'python3'), ['-c', 'import ssl']);
    expect((await readdir(dirname(sb.prefix))).sort()).toEqual([`python-${version}`]);
  });

  it("recovers only its own prefix's leftovers: a neighbour prefix's staging tree is left alone", async () => {
    const sb = await sandbox();
    // /opt/python-X-custom is another prefix; its staging tree's name starts like python-X's would.
    const neighbour = join(dirname(sb.prefix), `.cpy-staging-${basename(sb.prefix)}-custom-0123abcd`);
    const own = join(dirname(sb.prefix), `.cpy-staging-${basename(sb.prefix)}-0123abcd`);
    for (const dir of [neighbour, own]) await mkdir(join(dir, 'bin'), { recursive: true });
    await writeFile(join(neighbour, 'bin', 'python3'), 'being installed by another run');
    expect((await installPython(sb.options({ artifactUrl: artifact.path, installPrefix: `${sb.prefix}/`, skipValidation: true }))).prefix).toBe(sb.prefix);
    expect(await readFile(join(neighbour, 'bin', 'python3'), 'utf8')).toBe('being installed by another run');
    expect(existsSync(own)).toBe(false);
  });

  it('refuses a prefix that holds files cpy did not install, and leaves them alone', async () => {
    const sb = await sandbox();
    await mkdir(join(sb.prefix, 'lib'), { recursive: true });
    await writeFile(join(sb.prefix, 'lib', 'precious.so'), 'not ours');
    const e = await codeOf(installPython(sb.options({ artifactUrl: artifact.path })));
    expect(e.code).toBe('CPY_INSTALL_PREFIX_NOT_EMPTY');
    expect(e.message).toContain(sb.prefix);
    expect(await readFile(join(sb.prefix, 'lib', 'precious.so'), 'utf8')).toBe('not ours');
    expect(await readdir(dirname(sb.prefix))).toEqual([`python-${version}`]);
  });

  it('refuses option values with shell metacharacters before doing anything', async () => {
    const sb = await sandbox();
    for (const bad of ['http://127.0.0.1:1/$(touch /tmp/x).tgz', 'http://127.0.0.1:1/a b.tgz', '/tmp/`id`.tgz']) {
      const e = await codeOf(installPython(sb.options({ artifactUrl: bad })));
      expect(e.code).toBe('CPY_INSTALL_BAD_OPTIONS');
      expect(e.message).toMatch(/^artifactUrl: .*shell metacharacters/);
    }
    expect(existsSync(sb.prefix)).toBe(false);
  });

  it('waits for another install of the prefix as long as CPY_LOCK_TIMEOUT_MS says, as install.sh does, and no longer once stopped; a value that is not a number of milliseconds is refused before anything is done', async () => {
    const sb = await sandbox();
    for (const bad of ['10m', '0', '-5', '1e6']) {
      const e = await codeOf(installPython(sb.options({ artifactUrl: artifact.path }), { env: { ...process.env, CPY_LOCK_TIMEOUT_MS: bad } }));
      expect(e).toMatchObject({ code: 'CPY_INSTALL_BAD_OPTIONS', message: `CPY_LOCK_TIMEOUT_MS: must be a number of milliseconds (got '${bad}')` });
    }
    expect(existsSync(sb.prefix)).toBe(false);
    // Another install (this very process, under another token) holds the prefix's lock: refused after the wait it was given.
    const lock = join(sb.stateDir, 'locks', `${sha256Hex(sb.prefix).slice(0, 16)}.lock`);
    await mkdir(dirname(lock), { recursive: true });
    await writeFile(lock, `${process.pid} ${hostname()} another-install`);
    const started = Date.now();
    const held = await codeOf(installPython(sb.options({ artifactUrl: artifact.path, skipValidation: true }), { env: { ...process.env, CPY_LOCK_TIMEOUT_MS: '700' } }));
    expect(held.code).toBe('CPY_INSTALL_LOCKED');
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(existsSync(sb.prefix)).toBe(false);
    // Stopped (Ctrl-C) while it waits, a minute to go: at once, said as a stop (it waited the whole timeout).
    const stop = new AbortController();
    const waiting = codeOf(installPython(sb.options({ artifactUrl: artifact.path, skipValidation: true }), { env: { ...process.env, CPY_LOCK_TIMEOUT_MS: '60000' }, signal: stop.signal, onEvent: (e) => void (e.type === 'waiting' && stop.abort()) }));
    const stopping = Date.now();
    expect((await waiting).code).toBe('CPY_INSTALL_CANCELLED');
    expect(Date.now() - stopping).toBeLessThan(10_000);
    expect(existsSync(sb.prefix)).toBe(false);
    await rm(lock);
  });
});

describe('interruptions and concurrency (separate processes)', () => {
  it.each(['download', 'extract'])('kill -9 during %s leaves no install and no debris; the next run completes', async (phase) => {
    const sb = await sandbox();
    const url = phase === 'download' ? serve(artifact) : artifact.path;
    const killed = await worker(sb.options({ artifactUrl: url }), { CPY_TEST_KILL_AT: phase });
    expect(killed.signal).toBe('SIGKILL');
    expect(existsSync(sb.prefix)).toBe(false);
    const again = await worker(sb.options({ artifactUrl: url }));
    expect(again.code).toBe(0);
    expect(again.out).toMatchObject({ status: 'installed' });
    expect((await readdir(dirname(sb.prefix))).sort()).toEqual([`python-${version}`]);
    expect((await listing(sb.cacheDir)).sort()).toEqual([`${artifact.sha256}.json`, `${artifact.sha256}.tgz`]);
    expect((await listing(join(sb.stateDir, 'locks'))).filter((n) => !n.endsWith('state.lock'))).toEqual([]);
  }, 60_000);

  it('finishes a replacement that was killed between its two renames (the journal)', async () => {
    const sb = await sandbox();
    await installPython(sb.options({ artifactUrl: artifact.path }));
    // What a kill between "rename prefix aside" and "rename staged into place" leaves.
    const parent = dirname(sb.prefix);
    const staged = join(parent, `.cpy-staging-python-${version}-deadbeef`, 'opt', `python-${version}`);
    const aside = join(parent, `.cpy-old-python-${version}-deadbeef`);
    await mkdir(dirname(staged), { recursive: true });
    await cp(sb.prefix, staged, { recursive: true, verbatimSymlinks: true });
    await cp(sb.prefix, aside, { recursive: true, verbatimSymlinks: true });
    await rm(sb.prefix, { recursive: true });
    await writeFile(join(parent, `.cpy-journal-python-${version}.json`), JSON.stringify({ prefix: sb.prefix, staged, aside }));
    const r = await installPython(sb.options({ artifactUrl: artifact.path }));
    expect(r.status).toBe('already-installed');
    expect((await readdir(parent)).sort()).toEqual([`python-${version}`]);
    await run(join(sb.prefix, 'bin', 'python3'), ['-c', 'import ssl']);
  });

  it('8 concurrent installs of one version: one installs, the others wait and find it done', async () => {
    const sb = await sandbox();
    const results = await Promise.all(Array.from({ length: 8 }, () => worker(sb.options({ artifactUrl: artifact.path }))));
    expect(results.map((r) => r.code)).toEqual(Array(8).fill(0));
    const statuses = results.map((r) => r.out?.['status']).sort();
    expect(statuses).toEqual(['already-installed', 'already-installed', 'already-installed', 'already-installed', 'already-installed', 'already-installed', 'already-installed', 'installed']);
    expect((await readdir(dirname(sb.prefix))).sort()).toEqual([`python-${version}`]);
    await run(join(sb.binDir, 'python3'), ['-c', 'import ssl']);
  }, 120_000);
});

describe('versions side by side: list, use, rollback, uninstall', () => {
  it('switches python3 between versions atomically, rolls back, and refuses to remove the one in use', async () => {
    const root = await mkdtemp(join(work, 'versions-'));
    const env = { CPY_HOME: root, CPY_CACHE_DIR: join(root, 'cache') };
    const other = await repackArtifact(artifact, join(work, 'other-version'), { version: '3.99.1' });
    const a = await installPython({ artifactUrl: artifact.path }, { env });
    const b = await installPython({ artifactUrl: other.path, skipValidation: true }, { env });
    expect([a.prefix, b.prefix]).toEqual([join(root, `python-${version}`), join(root, 'python-3.99.1')]);
    const python3 = join(root, 'bin', 'python3');
    expect(await readlink(python3)).toBe(join(b.prefix, 'bin', 'python3'));

    const rows = await listInstalled({ env });
    expect(rows.map((r) => [r.version, r.current, r.previous, r.marker?.sha256])).toEqual([
      [version, false, true, artifact.sha256],
      ['3.99.1', true, false, other.sha256],
    ]);
    expect(await rollback({ env })).toMatchObject({ version, from: '3.99.1' });
    expect(await readlink(python3)).toBe(join(a.prefix, 'bin', 'python3'));
    expect((await run(python3, ['-c', 'import sys; print(sys.prefix)'])).stdout.trim()).toBe(a.prefix);
    expect(await useVersion('3.99.1', { env })).toMatchObject({ version: '3.99.1', from: version });
    // A release line (or latest): the newest installed version it takes.
    const line = version.split('.').slice(0, 2).join('.');
    expect(await useVersion(line, { env })).toMatchObject({ version, from: '3.99.1' });
    expect(await useVersion('latest', { env })).toMatchObject({ version: '3.99.1', from: version });
    expect(await useVersion('3', { env })).toMatchObject({ version: '3.99.1', from: '3.99.1' });
    expect((await codeOf(useVersion('3.98', { env }))).code).toBe('CPY_INSTALL_NOT_INSTALLED');
    // Not a broken one (its marker gone): the newest that is whole.
    await useVersion(version, { env });
    await rename(join(b.prefix, MARKER_FILE), join(root, 'marker-aside'));
    expect(await useVersion('3', { env })).toMatchObject({ version, from: version });
    await rename(join(root, 'marker-aside'), join(b.prefix, MARKER_FILE));
    await useVersion('3.99.1', { env });

    expect((await codeOf(uninstall('3.99.1', { env }))).code).toBe('CPY_INSTALL_IN_USE');
    expect((await codeOf(useVersion('3.1.0', { env }))).code).toBe('CPY_INSTALL_NOT_INSTALLED');
    await useVersion(version, { env });
    expect(await uninstall('3.99.1', { env })).toMatchObject({ wasCurrent: false });
    expect(existsSync(b.prefix)).toBe(false);
    expect((await listInstalled({ env })).map((r) => r.version)).toEqual([version]);

    // Reinstalling needs no network: the cache has it by version.
    const again = await installPython({ version: '3.99.1', skipValidation: true, activate: false }, { env });
    expect(again).toMatchObject({ status: 'installed', fromCache: true, activated: false });
    expect(await readlink(python3)).toBe(join(a.prefix, 'bin', 'python3'));
  });

  it('another version installed over a version at its prefix (an upgrade in place): the one replaced is no longer recorded, nor the rollback target, and the warning says so (both were listed at one tree)', async () => {
    const root = await mkdtemp(join(work, 'in-place-'));
    const env = { CPY_HOME: root, CPY_CACHE_DIR: join(root, 'cache') };
    const other = await repackArtifact(artifact, join(work, 'in-place-other'), { version: '3.99.1' });
    const newer = await repackArtifact(artifact, join(work, 'in-place-newer'), { version: '3.99.2' });
    const prefix = join(root, 'python');
    await installPython({ artifactUrl: other.path, skipValidation: true }, { env });
    await installPython({ artifactUrl: artifact.path, installPrefix: prefix }, { env });
    // The rollback target is the version about to be replaced (installed before it, then current at that prefix).
    expect(await useVersion('3.99.1', { env })).toMatchObject({ from: version });
    await useVersion(version, { env });
    expect((await listInstalled({ env })).map((r) => [r.version, r.previous])).toEqual([[version, false], ['3.99.1', true]]);
    await useVersion('3.99.1', { env });
    expect((await listInstalled({ env })).find((r) => r.previous)?.version).toBe(version);

    // Not made current: 3.99.1 stays current, and the rollback target it named is gone.
    const r = await installPython({ artifactUrl: newer.path, installPrefix: prefix, skipValidation: true, activate: false }, { env });
    expect(r.warnings).toContain(`CPython ${version} was installed at ${prefix}, which now holds CPython 3.99.2: it is no longer installed (cpy rollback does not go back to it); each version gets a prefix of its own unless one is given`);
    const rows = await listInstalled({ env });
    expect(rows.map((row) => [row.version, row.prefix, row.current, row.previous])).toEqual([
      ['3.99.1', join(root, 'python-3.99.1'), true, false],
      ['3.99.2', prefix, false, false],
    ]);
    expect((await codeOf(useVersion(version, { env }))).code).toBe('CPY_INSTALL_NOT_INSTALLED');
    expect((await codeOf(rollback({ env }))).code).toMatch(/^CPY_INSTALL_/);
    expect(await useVersion('3.99.2', { env })).toMatchObject({ version: '3.99.2', from: '3.99.1' });
    expect(await rollback({ env })).toMatchObject({ version: '3.99.1', from: '3.99.2' });
  });

  it('--no-link of the current version into another prefix: python3 still runs the old tree, and the warning says so instead of inviting its removal', async () => {
    const sb = await sandbox();
    await installPython(sb.options({ artifactUrl: artifact.path, skipValidation: true }));
    const elsewhere = join(sb.root, 'elsewhere');
    const r = await installPython(sb.options({ artifactUrl: artifact.path, skipValidation: true, binDir: null, installPrefix: elsewhere }));
    expect(r).toMatchObject({ status: 'installed', activated: true });
    expect(r.warnings).toEqual([
      `CPython ${version} was recorded at ${sb.prefix}, and is now at ${elsewhere}: the tree at ${sb.prefix} stays, no longer listed, used or uninstalled by cpy; python3 in ${sb.binDir} still runs it (--no-link changes no links): cpy use ${version} links ${elsewhere}, after which ${sb.prefix} can be removed`,
    ]);
    expect(await readlink(join(sb.binDir, 'python3'))).toBe(join(sb.prefix, 'bin', 'python3'));
  });

  it('a damaged install (its python3 or its os.py gone) is installed again by version, offline from the cache, instead of being "already installed"; one whose marker is gone is refused, said as such', async () => {
    const sb = await sandbox();
    await installPython(sb.options({ artifactUrl: artifact.path, skipValidation: true }));
    const line = version.split('.').slice(0, 2).join('.');
    for (const missing of [`lib/python${line}/os.py`, 'bin/python3']) {
      await rm(join(sb.prefix, missing));
      const r = await installPython(sb.options({ version, skipValidation: true }));
      expect(r).toMatchObject({ status: 'replaced', fromCache: true, warnings: [`CPython ${version} in ${sb.prefix} is damaged (${missing} is missing): installing it again`] });
      expect(existsSync(join(sb.prefix, missing))).toBe(true);
      expect(await installPython(sb.options({ version, skipValidation: true }))).toMatchObject({ status: 'already-installed', warnings: [] });
    }
    // The marker gone: the state's record alone does not say the files there are still cpy's
    // (a tree deleted by hand, another Python built in its place). Refused, said as such, nothing
    // touched. cpy uninstall forgets the version and removes its links, and leaves the files too.
    await rm(join(sb.prefix, MARKER_FILE));
    const refused = await installPython(sb.options({ version, skipValidation: true })).catch((e: unknown) => e);
    expect(refused).toMatchObject({
      code: 'CPY_INSTALL_PREFIX_NOT_EMPTY',
      message: `${sb.prefix} has no install marker, though cpy recorded CPython ${version} there: its marker was deleted, or other files took its place`,
      hint: `if it is that install, delete ${sb.prefix} yourself and install again; if the files are someone else's, choose another prefix (cpy uninstall ${version} forgets the version and leaves them)`,
    });
    expect(existsSync(join(sb.prefix, 'bin', 'python3'))).toBe(true);
    expect(await uninstall(version, { stateDir: sb.stateDir, binDir: sb.binDir, force: true })).toMatchObject({
      kept: true,
      wasCurrent: true,
      unlinked: expect.arrayContaining(['python3']),
      warnings: [`${sb.prefix} has no valid install marker, so nothing says its files are still the CPython ${version} cpy installed there: cpy forgot the version and left them; delete that directory yourself if they are`],
    });
    expect(existsSync(join(sb.prefix, 'bin', 'python3'))).toBe(true);
    expect(existsSync(join(sb.binDir, 'python3'))).toBe(false);
    expect(await listInstalled({ stateDir: sb.stateDir, binDir: sb.binDir })).toEqual([]);
    // What the refusal said: deleted by the user, it is installed again (from the cache).
    await rm(sb.prefix, { recursive: true });
    expect(await installPython(sb.options({ version, skipValidation: true }))).toMatchObject({ status: 'installed', fromCache: true });
    // With its marker, uninstall removes the tree as before.
    expect(await uninstall(version, { stateDir: sb.stateDir, binDir: sb.binDir, force: true })).toMatchObject({ kept: false, warnings: [] });
    expect(existsSync(sb.prefix)).toBe(false);
  });

  it('will not take over a python3 that is not its own', async () => {
    const sb = await sandbox();
    await mkdir(sb.binDir, { recursive: true });
    await writeFile(join(sb.binDir, 'python3'), '#!/bin/sh\necho mine\n', { mode: 0o755 });
    const e = await codeOf(installPython(sb.options({ artifactUrl: artifact.path })));
    expect(e.code).toBe('CPY_INSTALL_BIN_CONFLICT');
    expect(existsSync(sb.prefix)).toBe(false);
    const r = await installPython(sb.options({ artifactUrl: artifact.path, binDir: null }));
    expect(r.status).toBe('installed');
    expect(await readFile(join(sb.binDir, 'python3'), 'utf8')).toContain('mine');

    // A relative link to the user's own interpreter is theirs too (as `make altinstall` users set it up).
    const sb2 = await sandbox();
    await mkdir(sb2.binDir, { recursive: true });
    await writeFile(join(sb2.binDir, 'python3.11'), '#!/bin/sh\necho mine\n', { mode: 0o755 });
    await symlink('python3.11', join(sb2.binDir, 'python3'));
    expect((await codeOf(installPython(sb2.options({ artifactUrl: artifact.path })))).code).toBe('CPY_INSTALL_BIN_CONFLICT');
    expect(await readlink(join(sb2.binDir, 'python3'))).toBe('python3.11');
  });
});

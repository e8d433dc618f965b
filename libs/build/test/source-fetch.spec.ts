import { copyFile, mkdir, mkdtemp, open, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { canMount, expectCode, fixtureChecksums, fixturesDir, mountSmallDisk, peakLiveMemory, type PythonMirror, startConnectProxy, startPythonMirror } from '@cpy/harness';
import { fetchSource, type FetchSourceOptions } from '../src/index.js';
import { type RetryPolicy } from '@cpy/transfer';

const FIXTURES = fixturesDir();
const TARBALL = 'Python-3.13.5.tar.xz';
const REL = `3.13.5/${TARBALL}`;
const FAST: RetryPolicy = { attempts: 3, baseDelayMs: 20, maxDelayMs: 100, maxRetryAfterMs: 5000 };

let mirror: PythonMirror;
let work: string;
let cacheDir: string;
let sha256: string;

const hits = (path: string) => mirror.requests.filter((r) => r.path === `/ftp/python/${path}`);
const fetch = (version: string, options: FetchSourceOptions = {}) =>
  fetchSource(version, { mirrors: [mirror.url], cacheDir, retry: FAST, env: {}, ...options });

/** Every file under a directory, relative, for "nothing was left behind" checks. */
async function tree(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
  } catch {
    return [];
  }
}

beforeAll(async () => {
  sha256 = (await fixtureChecksums()).get(TARBALL)!;
  work = await mkdtemp(join(tmpdir(), 'cpy-fetch-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});
beforeEach(async () => {
  mirror = await startPythonMirror();
  cacheDir = await mkdtemp(join(work, 'cache-'));
});
afterEach(async () => {
  await mirror.close();
});

describe('fetchSource from a mirror laid out like python.org', () => {
  it('downloads, verifies and caches; the second fetch makes no request', async () => {
    const progress: number[] = [];
    const first = await fetch('3.13.5', { onProgress: (p) => void progress.push(p.received) });
    expect(first).toMatchObject({ version: '3.13.5', fileName: TARBALL, sha256, bytes: 22856016, fromCache: false, url: mirror.fileUrl('3.13.5', TARBALL) });
    expect(first.verification.method).toBe('openpgp+sigstore');
    expect(progress.at(-1)).toBe(22856016);
    expect(mirror.requests.map((r) => r.path)).toEqual([`/ftp/python/${REL}`, `/ftp/python/${REL}.asc`, `/ftp/python/${REL}.sigstore`]);

    const before = mirror.requests.length;
    const second = await fetch('3.13.5');
    expect(mirror.requests.length).toBe(before);
    expect(second).toMatchObject({ sha256, fromCache: true, path: first.path });
    expect(second.verification.method).toBe('openpgp+sigstore');
    // Offline really means offline: no mirror at all.
    await mirror.close();
    expect((await fetchSource('3.13.5', { mirrors: ['http://127.0.0.1:9/none'], cacheDir, env: {} })).fromCache).toBe(true);
    mirror = await startPythonMirror();
  });

  it('500, 500, 200: succeeds on the third attempt', async () => {
    mirror.inject(REL, { status: 500 }, { status: 500 });
    const retries: string[] = [];
    const got = await fetch('3.13.5', { onRetry: (r) => void retries.push(r.reason) });
    expect(got.sha256).toBe(sha256);
    expect(hits(REL)).toHaveLength(3);
    expect(retries).toEqual(['HTTP 500', 'HTTP 500']);
  });

  it('a connection dropped mid-body is retried, and no partial file survives', async () => {
    mirror.inject(REL, { dropAfterBytes: 5_000_000 });
    const got = await fetch('3.13.5');
    expect(got.sha256).toBe(sha256);
    expect(hits(REL)).toHaveLength(2);
    expect(await tree(cacheDir)).toEqual([
      `sources/sha256/${sha256}/${TARBALL}`,
      `sources/sha256/${sha256}/${TARBALL}.asc`,
      `sources/sha256/${sha256}/${TARBALL}.sigstore`,
      'sources/versions/3.13.5.json',
    ]);
  });

  it('a server that closes the connection after the body (Connection: close) is fine', async () => {
    mirror.inject(REL, { headers: { connection: 'close' } });
    expect((await fetch('3.13.5')).sha256).toBe(sha256);
  });

  it('429 with Retry-After is honoured', async () => {
    mirror.inject(REL, { status: 429, headers: { 'retry-after': '1' } });
    await fetch('3.13.5');
    const [a, b] = hits(REL);
    expect(b!.at - a!.at).toBeGreaterThanOrEqual(950);
  });

  it('404 is not retried, and says the version does not exist there', async () => {
    const error = await expectCode(fetch('3.13.99'), 'CPY_SOURCE_NOT_FOUND');
    expect(error.message).toMatch(/3\.13\.99/);
    expect(hits('3.13.99/Python-3.13.99.tar.xz')).toHaveLength(1);
    expect(hits('3.13.99/Python-3.13.99.tgz')).toHaveLength(1);
    expect(mirror.requests).toHaveLength(2);
  });

  it('gives up on a failing mirror after 3 attempts and takes the next one', async () => {
    const broken = await startPythonMirror();
    try {
      broken.inject(REL, { status: 503 }, { status: 503 }, { status: 503 });
      const got = await fetch('3.13.5', { mirrors: [broken.url, mirror.url] });
      expect(got.url).toBe(mirror.fileUrl('3.13.5', TARBALL));
      expect(broken.requests.filter((r) => r.path.endsWith(TARBALL))).toHaveLength(3);
    } finally {
      await broken.close();
    }
    const down = await expectCode(fetch('3.13.5', { mirrors: ['http://127.0.0.1:9/ftp/python'], refresh: true }), 'CPY_SOURCE_DOWNLOAD_FAILED');
    expect(down.message).toMatch(/127\.0\.0\.1:9/);
  });

  it('works from a file:// mirror and from a plain directory', async () => {
    const dir = join(work, 'local-mirror');
    await mkdir(join(dir, '3.13.5'), { recursive: true });
    for (const suffix of ['', '.asc', '.sigstore']) await symlink(join(FIXTURES, TARBALL + suffix), join(dir, '3.13.5', TARBALL + suffix));
    const viaUrl = await fetch('3.13.5', { mirrors: [pathToFileURL(dir).href] });
    expect(viaUrl).toMatchObject({ sha256, fromCache: false });
    expect(viaUrl.verification.method).toBe('openpgp+sigstore');
    const viaPath = await fetch('3.13.5', { mirrors: [dir], refresh: true });
    expect(viaPath.sha256).toBe(sha256);
    expect(mirror.requests).toHaveLength(0);
  });

  it('another release the same manager signed, served under this release\'s name, is refused before it is cached as this version; a good mirror after it serves the release', async () => {
    // 3.13.5, signed by 3.13's manager, as Python-3.13.4.tar.xz: its signature verifies.
    const dir = join(work, 'liar-mirror');
    await mkdir(join(dir, '3.13.4'), { recursive: true });
    for (const suffix of ['', '.asc', '.sigstore']) await symlink(join(FIXTURES, TARBALL + suffix), join(dir, '3.13.4', `Python-3.13.4.tar.xz${suffix}`));
    const liarCache = join(work, 'liar-cache');
    const refused = await expectCode(fetch('3.13.4', { mirrors: [dir], cacheDir: liarCache }), 'CPY_SOURCE_WRONG_RELEASE');
    expect(refused.message).toContain('Python-3.13.4.tar.xz is not CPython 3.13.4: it holds no Python-3.13.4/Include/patchlevel.h');
    expect(refused.hint).toMatch(/^the mirror serves another release under this name/);
    expect((await tree(liarCache)).filter((p) => p.startsWith('sources/versions') || p.startsWith('sources/sha256/'))).toEqual([]);
    // The release itself passes the check (the member is there, and says 3.13.5): no warning.
    expect((await fetch('3.13.5', { cacheDir: liarCache, refresh: true })).verification.warnings).toEqual([]);
  });

  it('a cached entry whose release was never read (cached by an older cpy, or where xz was missing) is read on its next use: another release under this name is refused', async () => {
    // As an older cpy left it: 3.13.5's tarball recorded as 3.13.4 (its signature verifies), no releaseChecked.
    const liarCache = join(work, 'unread-cache');
    const got = await fetch('3.13.5', { cacheDir: liarCache });
    const objectDir = join(liarCache, 'sources', 'sha256', sha256);
    for (const suffix of ['', '.asc', '.sigstore']) await copyFile(`${got.path}${suffix}`, join(objectDir, `Python-3.13.4.tar.xz${suffix}`));
    const entry = JSON.parse(await readFile(join(liarCache, 'sources', 'versions', '3.13.5.json'), 'utf8')) as Record<string, unknown>;
    expect(entry['releaseChecked']).toBe(true);
    delete entry['releaseChecked'];
    await writeFile(join(liarCache, 'sources', 'versions', '3.13.4.json'), JSON.stringify({ ...entry, version: '3.13.4', fileName: 'Python-3.13.4.tar.xz' }));
    // No mirror answers: only the cached copy could be handed on, and it is not 3.13.4.
    await expectCode(fetch('3.13.4', { cacheDir: liarCache, mirrors: ['http://127.0.0.1:9/ftp/python'] }), 'CPY_SOURCE_WRONG_RELEASE');
  });

  it('a signature storage refuses (403, as S3 answers for an object it does not hold) is absent, as a 404 is; one as large as the tarball is stopped, its name said', async () => {
    mirror.refuse(`${REL}.sigstore`, 403);
    const got = await fetch('3.13.5', { cacheDir: join(work, 'forbidden-cache') });
    expect(got.verification.method).toBe('openpgp');
    // The tarball served as its .asc: stopped past 1 MiB, said as the .asc's (it was "HTTP 403" or a full disk, with no file named).
    mirror.serve(`${REL}.asc`, join(FIXTURES, TARBALL));
    const asked = hits(`${REL}.asc`).length;
    const refused = await expectCode(fetch('3.13.5', { cacheDir: join(work, 'bigsig-cache') }), 'CPY_SOURCE_DOWNLOAD_FAILED');
    expect(refused.message).toContain(`${TARBALL}.asc: it is larger than`);
    expect(hits(`${REL}.asc`)).toHaveLength(asked + 1);
  });

  it('takes mirrors from $CPY_PYTHON_MIRRORS', async () => {
    const got = await fetchSource('3.13.5', { cacheDir, retry: FAST, env: { CPY_PYTHON_MIRRORS: `http://127.0.0.1:9/x ${mirror.url}` } });
    expect(got.url).toBe(mirror.fileUrl('3.13.5', TARBALL));
  });

  it('a pinned sha256 must match; a mismatch keeps nothing', async () => {
    expect((await fetch('3.13.5', { expectedSha256: sha256 })).sha256).toBe(sha256);
    const other = 'ab'.repeat(32);
    await expectCode(fetch('3.13.5', { expectedSha256: other, cacheDir: join(work, 'pin-cache') }), 'CPY_SOURCE_CHECKSUM_MISMATCH');
    expect(await tree(join(work, 'pin-cache'))).toEqual([]);
  });

  it('a tampered tarball or a missing .asc on the mirror is refused, and nothing is cached', async () => {
    const bad = join(work, 'tampered.tar.xz');
    await copyFile(join(FIXTURES, TARBALL), bad);
    const fh = await open(bad, 'r+');
    await fh.write(Buffer.from([0x42]), 0, 1, 1_000_000);
    await fh.close();
    mirror.serve(REL, bad);
    const refused = await expectCode(fetch('3.13.5'), 'CPY_SOURCE_SIGNATURE_INVALID');
    // The mirror is named, and the hint does not say to delete a file (nothing was kept).
    expect(refused.message).toMatch(new RegExp(`^${mirror.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/? served a copy cpy refused: the OpenPGP signature does not match`));
    expect(refused.hint).toMatch(/nothing of it was kept: fetch from another mirror \(--mirror, or CPY_PYTHON_MIRRORS\)$/);
    expect(await tree(cacheDir)).toEqual([]);
    // A good mirror after it: its copy is taken (the bad copy stopped the fetch).
    const dir = join(work, 'good-mirror');
    await mkdir(join(dir, '3.13.5'), { recursive: true });
    for (const suffix of ['', '.asc', '.sigstore']) await symlink(join(FIXTURES, TARBALL + suffix), join(dir, '3.13.5', TARBALL + suffix));
    expect((await fetch('3.13.5', { mirrors: [mirror.url, dir], cacheDir: join(work, 'good-mirror-cache') })).sha256).toBe(sha256);
    // A mirror directory that is not there is said as such (it said the release was not under it).
    const gone = await expectCode(fetch('3.13.5', { mirrors: [join(work, 'no-such-mirror')], refresh: true }), 'CPY_SOURCE_NOT_FOUND');
    expect(gone.message).toBe(`Python 3.13.5 was not found: ${join(work, 'no-such-mirror')}/: no such directory`);

    mirror.serve(REL, join(FIXTURES, TARBALL));
    mirror.remove(`${REL}.asc`);
    await expectCode(fetch('3.13.5'), 'CPY_SOURCE_SIGNATURE_MISSING');
    expect(await tree(cacheDir)).toEqual([]);
  });

  it('a damaged cache entry is noticed, said, and fetched again; offline, the failure says it was damaged (it blamed the network alone)', async () => {
    const damage = async (path: string) => {
      const fh = await open(path, 'r+');
      await fh.write(Buffer.from([0x00]), 0, 1, 123);
      await fh.close();
    };
    const first = await fetch('3.13.5');
    await damage(first.path);
    const again = await fetch('3.13.5');
    expect(again).toMatchObject({ fromCache: false, sha256 });
    expect(again.verification.warnings).toContain(`the cached ${TARBALL} was damaged (its sha256 or signatures changed since it was stored) and is removed: downloaded again`);
    expect(hits(REL)).toHaveLength(2);
    await damage(again.path);
    const offline = await expectCode(fetch('3.13.5', { mirrors: ['http://127.0.0.1:9/ftp/python'] }), 'CPY_SOURCE_DOWNLOAD_FAILED');
    expect(offline.message).toMatch(new RegExp(`\\(the cached ${TARBALL.replace(/\./g, '\\.')} was damaged \\(its sha256 or signatures changed since it was stored\\) and is removed\\)$`));
  });

  it('a cached source that this run cannot verify (cached --allow-unsigned, a signature damaged since) is fetched again and verified, not refused', async () => {
    mirror.remove(`${REL}.asc`);
    expect((await fetch('3.13.5', { allowUnsigned: true })).verification.method).not.toContain('openpgp');
    mirror.serve(`${REL}.asc`, join(FIXTURES, `${TARBALL}.asc`));
    const signed = await fetch('3.13.5');
    expect(signed).toMatchObject({ fromCache: false, sha256 });
    expect(signed.verification.method).toContain('openpgp');
    expect(hits(REL)).toHaveLength(2);
    // Offline, a cached copy this run refuses is refused for what it lacks, not as a network
    // error, and stays (it was forgotten, its 22 MB left with no entry).
    const unsignedCache = await mkdtemp(join(work, 'cache-unsigned-'));
    mirror.remove(`${REL}.asc`);
    await fetch('3.13.5', { allowUnsigned: true, cacheDir: unsignedCache });
    const offline = await expectCode(fetch('3.13.5', { cacheDir: unsignedCache, mirrors: ['http://127.0.0.1:9/ftp/python'] }), 'CPY_SOURCE_SIGNATURE_MISSING');
    // Where the refused copy is, and why no other came (it said "delete it and fetch it again" alone).
    expect(offline.message).toMatch(new RegExp(`\\(the cached copy, ${unsignedCache}/sources/sha256/${sha256}/${TARBALL.replace(/\./g, '\\.')}\\), and no mirror gave another: http://127\\.0\\.0\\.1:9/ftp/python`));
    expect((await fetch('3.13.5', { allowUnsigned: true, cacheDir: unsignedCache, mirrors: ['http://127.0.0.1:9/ftp/python'] })).fromCache).toBe(true);
  });

  it('a pin the cached source does not match is a checksum mismatch, and the cached source stays', async () => {
    await fetch('3.13.5');
    await expectCode(fetch('3.13.5', { expectedSha256: 'ab'.repeat(32) }), 'CPY_SOURCE_CHECKSUM_MISMATCH');
    // Offline too: the pin against the cached copy, not "could not download".
    await expectCode(fetch('3.13.5', { expectedSha256: 'ab'.repeat(32), mirrors: ['http://127.0.0.1:9/ftp/python'] }), 'CPY_SOURCE_CHECKSUM_MISMATCH');
    const again = await fetch('3.13.5');
    expect(again).toMatchObject({ fromCache: true, sha256 });
    expect(hits(REL)).toHaveLength(2);
  });

  it('what a fetch stopped part way left in the cache (over an hour old, its process gone) is swept by the next fetch', async () => {
    const tmp = join(cacheDir, 'sources', 'tmp');
    const dead = 2 ** 22 + 12345; // above the pid range Linux hands out by default
    for (const name of [`${dead}-old`, `${dead}-recent`]) {
      await mkdir(join(tmp, name), { recursive: true });
      await writeFile(join(tmp, name, 'Python-3.13.5.tar.xz.part'), 'partial');
    }
    const hoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(join(tmp, `${dead}-old`), hoursAgo, hoursAgo);
    await fetch('3.13.5');
    expect((await readdir(tmp)).sort()).toEqual([`${dead}-recent`]);
  });

  it('honours HTTP_PROXY (with or without http://), ALL_PROXY, and NO_PROXY with its address ranges, as curl reads them', async () => {
    const proxy = await startConnectProxy();
    try {
      const port = new URL(mirror.url).port;
      await fetch('3.13.5', { env: { HTTP_PROXY: proxy.url } });
      expect(proxy.tunnels).toContain(`127.0.0.1:${port}`);
      const seen = proxy.tunnels.length;
      await fetch('3.13.5', { env: { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' }, refresh: true });
      expect(proxy.tunnels).toHaveLength(seen);
      // Written without a scheme, as curl, apt and pip take it (it was "a bug in cpy").
      await fetch('3.13.5', { env: { http_proxy: proxy.url.replace(/^http:\/\//, '') }, refresh: true });
      const through = proxy.tunnels.length;
      expect(through).toBeGreaterThan(seen);
      // A range (a mirror reached by its address): undici took it for a host name, and proxied.
      await fetch('3.13.5', { env: { HTTP_PROXY: proxy.url, NO_PROXY: 'localhost,127.0.0.0/8' }, refresh: true });
      expect(proxy.tunnels).toHaveLength(through);
      // ALL_PROXY, which curl reads where its scheme's own is unset (undici did not), and a range the mirror is not in.
      await fetch('3.13.5', { env: { ALL_PROXY: proxy.url, NO_PROXY: '10.0.0.0/8' }, refresh: true });
      expect(proxy.tunnels.length).toBeGreaterThan(through);
    } finally {
      await proxy.close();
    }
  });

  it('keeps memory flat while fetching and verifying the 23 MB tarball', async () => {
    const peakLive = (work: () => Promise<unknown>) => peakLiveMemory(work);
    const MB = 1024 * 1024;
    // The sampler's baseline, in the same session: holding the tarball shows up as its size.
    const held = await peakLive(async () => {
      const whole = await readFile(join(FIXTURES, TARBALL));
      await new Promise((r) => setTimeout(r, 100));
      return whole.length;
    });
    expect(held).toBeGreaterThan(20 * MB);
    // Warm up (module loading, the parsed trusted root) outside the measurement.
    await fetch('3.13.5', { cacheDir: join(work, 'warm-up') });
    const streamed = await peakLive(() => fetch('3.13.5'));
    expect(streamed).toBeLessThan(6 * MB);
  });

  it('a cache directory that is a file (--cache-dir naming one): CPY_SOURCE_LOCAL_WRITE_FAILED saying so, before any request; it was an internal error', async () => {
    const file = join(work, 'a-file');
    await writeFile(file, 'notes\n');
    const before = mirror.requests.length;
    const error = await expectCode(fetch('3.13.5', { cacheDir: file }), 'CPY_SOURCE_LOCAL_WRITE_FAILED');
    expect(error.message).toContain(`cannot store the download in ${file}: ENOTDIR`);
    expect(error.hint).toBe(`a file is where ${file} or a directory in it goes: choose another cache directory (--cache-dir or $CPY_CACHE_DIR)`);
    expect(mirror.requests.length).toBe(before);
    expect(await readFile(file, 'utf8')).toBe('notes\n');
  });

  it('a release line cpy knows no signer of (3.7), with no --trusted-key or --allow-unsigned: refused before any request (it downloaded the tarball and its signatures first)', async () => {
    const before = mirror.requests.length;
    const error = await expectCode(fetch('3.7.17'), 'CPY_SOURCE_UNKNOWN_RELEASE_LINE');
    expect(error.hint).toMatch(/^pass the release manager's OpenPGP key with --trusted-key/);
    expect(mirror.requests.length).toBe(before);
  });

  (canMount() ? it : it.skip)('a full disk fails with a clear error and leaves nothing behind', async () => {
    const disk = await mountSmallDisk(4 * 1024 * 1024);
    try {
      const error = await expectCode(fetch('3.13.5', { cacheDir: disk.dir }), 'CPY_SOURCE_LOCAL_WRITE_FAILED');
      expect(error.message).toMatch(/disk is full/);
      expect(await tree(disk.dir)).toEqual([]);
    } finally {
      await disk.unmount();
    }
  });
});

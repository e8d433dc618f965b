import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { isCpyError } from '@cpy/core';
import { type IndexEntry } from '@cpy/artifact';
import { indexEntry, indexOf } from '@cpy/harness';
import { parseVersionRequest, matchesRequest } from '../request.js';
import { resolveBuild, type HostContext } from '../resolve.js';
import { listAvailable } from '../available.js';

const BOOKWORM_NEEDS: IndexEntry['needs'] = [
  { soname: 'libssl.so.3', packages: ['libssl3'], modules: ['_ssl', '_hashlib'], group: 'critical' },
  { soname: 'libffi.so.8', packages: ['libffi8'], modules: ['_ctypes'], group: 'critical' },
  { soname: 'libncursesw.so.6', packages: ['libncursesw6'], modules: ['_curses'], group: 'optional' },
  { soname: 'libtk8.6.so', packages: ['libtk8.6'], modules: ['_tkinter'], group: 'tk' },
];
const BULLSEYE_NEEDS: IndexEntry['needs'] = [
  { soname: 'libssl.so.1.1', packages: ['libssl1.1'], modules: ['_ssl', '_hashlib'], group: 'critical' },
  { soname: 'libffi.so.7', packages: ['libffi7'], modules: ['_ctypes'], group: 'critical' },
  { soname: 'libncursesw.so.6', packages: ['libncursesw6'], modules: ['_curses'], group: 'optional' },
];

function entry(version: string, osVersion: '11' | '12', build = 1, extra: Partial<IndexEntry> = {}): IndexEntry {
  return indexEntry(version, build, { osVersion, glibcFloor: osVersion === '12' ? '2.34' : '2.30', needs: osVersion === '12' ? BOOKWORM_NEEDS : BULLSEYE_NEEDS, ...extra });
}

/** A Debian host whose package archive is a list (the real one, apt-cache, is exercised in containers). */
function host(osVersion: '11' | '12' | '13', glibc: string, archive: string[] | null, loadable: string[] = [], arch = 'x86_64'): HostContext {
  return {
    host: { os: 'linux', arch, libc: 'glibc', glibcVersion: glibc },
    distro: { id: 'debian', versionId: osVersion },
    loadable: new Set(loadable),
    archive: { available: async (packages) => (archive ? new Map(packages.map((p) => [p, archive.includes(p)])) : 'no package lists, and not root to fetch them') },
    installTk: false,
  };
}
const BOOKWORM_ARCHIVE = ['libssl3', 'libffi8', 'libncursesw6', 'libtk8.6'];
const BULLSEYE_ARCHIVE = ['libssl1.1', 'libffi7', 'libncursesw6', 'libtk8.6'];
const TRIXIE_ARCHIVE = ['libssl3t64', 'libffi8', 'libncursesw6'];

const INDEX = indexOf(entry('3.11.2', '11'), entry('3.11.2', '12'), entry('3.13.5', '11'), entry('3.13.5', '12'), entry('3.13.4', '12'));

async function failure(p: Promise<unknown>) {
  try {
    await p;
  } catch (error) {
    if (isCpyError(error)) return error;
    throw error;
  }
  throw new Error('expected a CpyError');
}

describe('version requests', () => {
  it('a partial version means its newest final release; a full one, itself', () => {
    const r = (t: string) => parseVersionRequest(t);
    expect(matchesRequest('3.13.5', r('3'))).toBe(true);
    expect(matchesRequest('3.13.5', r('3.13'))).toBe(true);
    expect(matchesRequest('3.13.5', r('3.1'))).toBe(false);
    expect(matchesRequest('3.13.5', r('latest'))).toBe(true);
    expect(matchesRequest('3.14.0rc2', r('3.14'))).toBe(false);
    expect(matchesRequest('3.14.0rc2', r('3.14.0rc2'))).toBe(true);
    expect(matchesRequest('3.13.50', r('3.13.5'))).toBe(false);
  });
});

describe('resolveBuild', () => {
  it('on Debian 12: the newest 3.13 build for Debian 12, for this very distribution', async () => {
    const got = await resolveBuild(INDEX, parseVersionRequest('3.13'), host('12', '2.36', BOOKWORM_ARCHIVE), 'index.json');
    expect(got.entry.file).toBe('cpython-3.13.5-debian12-build1.tgz');
    expect(got.reason).toBe('built for Debian 12, like this host');
  });

  it('on Debian 11: the Debian 11 build (the Debian 12 one needs a newer glibc)', async () => {
    const got = await resolveBuild(INDEX, parseVersionRequest('3'), host('11', '2.31', BULLSEYE_ARCHIVE), 'index.json');
    expect(got.entry.file).toBe('cpython-3.13.5-debian11-build1.tgz');
    expect(got.considered.map((c) => c.entry.file)).toEqual(['cpython-3.13.5-debian11-build1.tgz']);
  });

  it('on another distribution: a build whose glibc floor fits and whose packages are in its archive', async () => {
    const ubuntu = { ...host('12', '2.39', ['libssl3', 'libffi8', 'libncursesw6']), distro: { id: 'ubuntu', versionId: '24.04' } };
    const got = await resolveBuild(INDEX, parseVersionRequest('3.11.2'), ubuntu, 'index.json');
    expect(got.entry.file).toBe('cpython-3.11.2-debian12-build1.tgz');
    expect(got.reason).toBe("no Ubuntu 24.04 build; its glibc floor 2.34 fits glibc 2.39 and its packages (libssl3 libffi8 libncursesw6) are in this system's archive");
  });

  it('prefers a higher build number, skips deprecated and removed builds, and names pre-releases', async () => {
    const index = indexOf(entry('3.13.5', '12', 1), entry('3.13.5', '12', 2), entry('3.13.5', '12', 3, { state: 'deprecated' }), entry('3.14.0rc2', '12'));
    const got = await resolveBuild(index, parseVersionRequest('3.13.5'), host('12', '2.36', BOOKWORM_ARCHIVE), 'index.json');
    expect(got.entry.build).toBe(2);
    const e = await failure(resolveBuild(index, parseVersionRequest('3.14'), host('12', '2.36', BOOKWORM_ARCHIVE), 'index.json'));
    expect(e.message).toBe(
      'no published build of CPython 3.14 fits this host (debian 12, x86_64, glibc 2.36): cpython-3.14.0rc2-debian12-build1.tgz (x86_64): a pre-release: ask for it by name (3.14.0rc2)',
    );
  });

  it('a version pinned by name whose builds newer ones deprecated still installs (a pinned Dev Container stopped building at the third newer patch release); a release line does not take them, and says why', async () => {
    const index = indexOf(entry('3.13.5', '12', 1, { state: 'deprecated', sha256: 'a'.repeat(64) }), entry('3.13.5', '11', 2, { state: 'deprecated', sha256: 'b'.repeat(64) }), entry('3.13.8', '12', 1, { sha256: 'c'.repeat(64) }));
    const pinned = await resolveBuild(index, parseVersionRequest('3.13.5'), host('12', '2.36', BOOKWORM_ARCHIVE), 'index.json');
    expect([pinned.entry.file, pinned.deprecated, pinned.reason]).toEqual(['cpython-3.13.5-debian12-build1.tgz', true, 'built for Debian 12, like this host']);
    // By its sha256 too; the line takes the active 3.13.8, not deprecated.
    const bySha = await resolveBuild(index, parseVersionRequest('3.13'), host('12', '2.36', BOOKWORM_ARCHIVE), 'index.json', 'a'.repeat(64));
    expect([bySha.entry.file, bySha.deprecated]).toEqual(['cpython-3.13.5-debian12-build1.tgz', true]);
    const line = await resolveBuild(index, parseVersionRequest('3.13'), host('12', '2.36', BOOKWORM_ARCHIVE), 'index.json');
    expect([line.entry.file, line.deprecated]).toEqual(['cpython-3.13.8-debian12-build1.tgz', false]);
    // A line whose builds are all deprecated: refused, and the hint is not to build one.
    const old = indexOf(entry('3.12.1', '12', 1, { state: 'deprecated' }));
    const e = await failure(resolveBuild(old, parseVersionRequest('3.12'), host('12', '2.36', BOOKWORM_ARCHIVE), 'index.json'));
    expect([e.code, e.hint]).toEqual([
      'CPY_INSTALL_NO_MATCHING_BUILD',
      'newer builds deprecated them: the index keeps them for installs that name their version (3.12.1); ask for one by name, or for a version it lists as active (cpy list --available)',
    ]);
    // Named, but not for this host: why it does not fit, not that it is deprecated.
    const elsewhere = await failure(resolveBuild(indexOf(entry('3.12.1', '12', 1, { state: 'deprecated', arch: 'aarch64' })), parseVersionRequest('3.12.1'), host('12', '2.36', BOOKWORM_ARCHIVE), 'index.json'));
    expect(elsewhere.message).toBe('no published build of CPython 3.12.1 fits this host (debian 12, x86_64, glibc 2.36): cpython-3.12.1-debian12-aarch64-build1.tgz (aarch64): the debian12 build is built for aarch64; this host is x86_64');
    expect(elsewhere.hint).toMatch(/^build one on this distribution \(cpy build 3\.12\.1 --builder container --image debian:12\)/);
    // A sha256 no build has: the hint says to fix it.
    const sha = await failure(resolveBuild(index, parseVersionRequest('3.13'), host('12', '2.36', BOOKWORM_ARCHIVE), 'index.json', 'f'.repeat(64)));
    expect(sha.hint).toBe('no build of CPython 3.13 in the index has the sha256 given: fix it, or leave it empty for the build the index chooses');
  });

  it('with no build that fits, says what is published and why each does not fit, word for word', async () => {
    const index = indexOf(entry('3.11.2', '11'), entry('3.11.2', '11', 1, { arch: 'aarch64' }));
    const e = await failure(resolveBuild(index, parseVersionRequest('3.11'), host('12', '2.36', BOOKWORM_ARCHIVE), 'index.json'));
    expect(e.code).toBe('CPY_INSTALL_NO_MATCHING_BUILD');
    expect(e.message).toBe(
      'no published build of CPython 3.11 fits this host (debian 12, x86_64, glibc 2.36): ' +
        'cpython-3.11.2-debian11-aarch64-build1.tgz (aarch64): the debian11 build is built for aarch64; this host is x86_64; ' +
        'cpython-3.11.2-debian11-build1.tgz (x86_64): the debian11 build needs libssl1.1, libffi7, which Debian 12 does not provide',
    );
    expect(e.hint).toBe('build one on this distribution (cpy build <version> --builder container --image debian:12) and publish it, or install on a host one of them fits');
  });

  it("says to ask by name when only pre-releases answer, and to let cpy ask the package archive when it could not (not to build one: neither is the remedy)", async () => {
    const pre = await failure(resolveBuild(indexOf(entry('3.14.0rc2', '12')), parseVersionRequest('3.14'), host('12', '2.36', BOOKWORM_ARCHIVE), 'index.json'));
    expect([pre.code, pre.hint]).toEqual(['CPY_INSTALL_NO_MATCHING_BUILD', 'only pre-releases of 3.14 are published: ask for one by name (cpy install 3.14.0rc2), or wait for the release']);
    // A Debian 12 build on Debian 13, whose archive cannot be asked (no lists, not root).
    const unasked = await failure(resolveBuild(indexOf(entry('3.13.5', '12')), parseVersionRequest('3.13'), host('13', '2.40', null), 'index.json'));
    expect(unasked.message).toContain("cpy cannot ask this system's package archive");
    expect(unasked.hint).toMatch(/^cpy could not ask this system's package archive .*: run apt-get update \(as root\), or install as root/);
  });

  it('picks the build for the reported architecture (uname -m) among x86_64 and aarch64 builds of one version', async () => {
    const arm = (v: string, b = 1) => entry(v, '12', b, { arch: 'aarch64', glibcFloor: '2.34' });
    const index = indexOf(entry('3.13.5', '12'), arm('3.13.5'), arm('3.13.5', 2));
    const onX86 = await resolveBuild(index, parseVersionRequest('3.13'), host('12', '2.36', BOOKWORM_ARCHIVE), 'index.json');
    expect(onX86.entry).toMatchObject({ arch: 'x86_64', build: 1, file: 'cpython-3.13.5-debian12-build1.tgz' });
    // The aarch64 build 2 comes first in the order (higher build) and is refused for its arch, then x86_64 fits.
    expect(onX86.considered.map((c) => [c.entry.file, c.fits])).toEqual([
      ['cpython-3.13.5-debian12-aarch64-build2.tgz', false],
      ['cpython-3.13.5-debian12-aarch64-build1.tgz', false],
      ['cpython-3.13.5-debian12-build1.tgz', true],
    ]);
    const onArm = await resolveBuild(index, parseVersionRequest('3.13.5'), host('12', '2.36', BOOKWORM_ARCHIVE, [], 'aarch64'), 'index.json');
    expect(onArm.entry).toMatchObject({ arch: 'aarch64', build: 2, file: 'cpython-3.13.5-debian12-aarch64-build2.tgz' });
    expect(onArm.reason).toBe('built for Debian 12, like this host');
  });

  it('refuses, before any download, a request only an aarch64 build satisfies on x86_64 (and the reverse)', async () => {
    const index = indexOf(entry('3.13.5', '12'), entry('3.14.0', '12', 1, { arch: 'aarch64' }));
    const e = await failure(resolveBuild(index, parseVersionRequest('3.14'), host('12', '2.36', BOOKWORM_ARCHIVE), 'index.json'));
    expect(e.code).toBe('CPY_INSTALL_NO_MATCHING_BUILD');
    expect(e.message).toBe(
      'no published build of CPython 3.14 fits this host (debian 12, x86_64, glibc 2.36): ' +
        'cpython-3.14.0-debian12-aarch64-build1.tgz (aarch64): the debian12 build is built for aarch64; this host is x86_64',
    );
    expect(e.details).toMatchObject({ considered: [{ file: 'cpython-3.14.0-debian12-aarch64-build1.tgz', arch: 'aarch64' }] });
    const r = await failure(resolveBuild(index, parseVersionRequest('3.13.5'), host('12', '2.36', BOOKWORM_ARCHIVE, [], 'aarch64'), 'index.json'));
    expect(r.message).toMatch(/fits this host \(debian 12, aarch64, glibc 2.36\): cpython-3.13.5-debian12-build1.tgz \(x86_64\): the debian12 build is built for x86_64; this host is aarch64$/);
  });

  it('a library already on the host counts, whatever the archive says; an archive it cannot ask does not fit', async () => {
    const index = indexOf(entry('3.11.2', '11'));
    const withLibs = host('13', '2.41', TRIXIE_ARCHIVE, ['libssl.so.1.1', 'libffi.so.7']);
    expect((await resolveBuild(index, parseVersionRequest('3.11'), withLibs, 'i')).entry.osVersion).toBe('11');
    const e = await failure(resolveBuild(index, parseVersionRequest('3.11'), host('13', '2.41', null), 'i'));
    expect(e.message).toMatch(/needs libssl1.1, libffi7, libncursesw6, and cpy cannot ask this system's package archive \(no package lists, and not root to fetch them\)$/);
  });

  it('a sha256 given with the version pins the build, even one not for this distribution', async () => {
    const ubuntu = { ...host('12', '2.39', BULLSEYE_ARCHIVE.concat(BOOKWORM_ARCHIVE)), distro: { id: 'ubuntu', versionId: '24.04' } };
    const pinned = entry('3.13.5', '11');
    const got = await resolveBuild(INDEX, parseVersionRequest('3.13'), ubuntu, 'i', pinned.sha256);
    expect(got.entry.file).toBe(pinned.file);
    expect(got.considered.map((c) => [c.entry.file, c.why])).toEqual([
      ['cpython-3.13.5-debian12-build1.tgz', 'not the build whose sha256 was given'],
      [pinned.file, expect.stringMatching(/^no Ubuntu 24.04 build; its glibc floor 2.30 fits glibc 2.39/)],
    ]);
  });

  it('a version the index does not list is named with what it lists', async () => {
    const e = await failure(resolveBuild(INDEX, parseVersionRequest('3.12'), host('12', '2.36', BOOKWORM_ARCHIVE), 'https://example.test/index.json'));
    expect(e.code).toBe('CPY_INSTALL_VERSION_NOT_PUBLISHED');
    expect(e.message).toBe('the index https://example.test/index.json lists no build of CPython 3.12 (it lists 3.13.5, 3.13.4, 3.11.2)');
  });
});

describe('listAvailable (cpy list --available)', () => {
  // Debian 12, where the Debian 11 builds fit too (their libraries are here).
  const bookworm = () => host('12', '2.36', BOOKWORM_ARCHIVE, BULLSEYE_NEEDS.map((n) => n.soname));
  async function listed(version?: string, index = INDEX) {
    const dir = await mkdtemp(join(tmpdir(), 'cpy-available-'));
    try {
      const file = join(dir, 'index.json');
      await writeFile(file, JSON.stringify(index));
      const { builds } = await listAvailable({ indexUrl: file, hostContext: async () => bookworm(), env: { CPY_HOME: dir }, ...(version ? { version } : {}) });
      return builds.map((b) => [b.entry.file, b.fits, b.chosen, b.why]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('given a version, marks the one build cpy install of it takes (it marked the newest build of every version the request matched)', async () => {
    const chosen = await resolveBuild(INDEX, parseVersionRequest('3.13'), bookworm(), 'index.json');
    expect(chosen.entry.file).toBe('cpython-3.13.5-debian12-build1.tgz');
    expect(await listed('3.13')).toEqual([
      ['cpython-3.13.5-debian12-build1.tgz', true, true, 'built for Debian 12, like this host'],
      // Not "no Debian 12 build": there is one, listed above it.
      ['cpython-3.13.5-debian11-build1.tgz', true, false, 'fits too, after the Debian 12 build: its glibc floor 2.30 fits glibc 2.36 and this host has every library it needs'],
      ['cpython-3.13.4-debian12-build1.tgz', true, false, 'built for Debian 12, like this host'],
    ]);
    expect((await listed('latest')).filter(([, , marked]) => marked).map(([file]) => file)).toEqual(['cpython-3.13.5-debian12-build1.tgz']);
  });

  it('listing every version, marks for each the build cpy install <that version> takes', async () => {
    expect((await listed()).filter(([, , marked]) => marked).map(([file]) => file)).toEqual([
      'cpython-3.13.5-debian12-build1.tgz',
      'cpython-3.13.4-debian12-build1.tgz',
      'cpython-3.11.2-debian12-build1.tgz',
    ]);
  });

  it('a version whose builds are all deprecated: its build is marked where cpy install <that version> takes it (by name), never for the line', async () => {
    const index = indexOf(entry('3.13.5', '12', 1, { state: 'deprecated', sha256: 'a'.repeat(64) }), entry('3.13.8', '12', 1, { sha256: 'c'.repeat(64) }));
    const deprecatedWhy = 'built for Debian 12, like this host; deprecated (newer builds replace it): installed only when its version is asked for by name';
    expect(await listed('3.13.5', index)).toEqual([['cpython-3.13.5-debian12-build1.tgz', true, true, deprecatedWhy]]);
    expect((await listed(undefined, index)).filter(([, , marked]) => marked).map(([file]) => file)).toEqual(['cpython-3.13.8-debian12-build1.tgz', 'cpython-3.13.5-debian12-build1.tgz']);
    expect(await listed('3.13', index)).toEqual([
      ['cpython-3.13.8-debian12-build1.tgz', true, true, 'built for Debian 12, like this host'],
      ['cpython-3.13.5-debian12-build1.tgz', false, false, 'deprecated: newer builds replace it'],
    ]);
  });
});

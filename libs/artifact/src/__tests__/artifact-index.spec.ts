import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { isCpyError } from '@cpy/core';
import {
  addEntry,
  refuseReplacedBytes,
  updateIndexFile,
  emptyIndex,
  indexEntryFor,
  indexEntryForFile,
  misnamedEntries,
  packArtifact,
  parseIndexText,
  planRetention,
  readArtifactFileMetadata,
  readIndexFile,
  replaceIndexFile,
  writeIndexFile,
  type IndexEntry,
  type PackedArtifact,
} from '../index.js';
import { packMetadata } from './pack-metadata.js';
import { tgz } from './tgz.js';

const entry = (version: string, build: number, osVersion = '12', extra: Partial<IndexEntry> = {}): IndexEntry => ({
  version,
  build,
  os: 'debian',
  osVersion,
  arch: 'x86_64',
  libc: 'glibc',
  glibcFloor: '2.34',
  file: `cpython-${version}-debian${osVersion}-build${build}.tgz`,
  url: `https://example.test/cpython-${version}-build${build}/cpython-${version}-debian${osVersion}-build${build}.tgz`,
  sha256: String(build).padEnd(64, 'a'),
  size: 19_000_000,
  needs: [{ soname: 'libssl.so.3', packages: ['libssl3'], modules: ['_ssl'], group: 'critical' }],
  state: 'active',
  publishedAt: '2026-11-30T12:00:00.000Z',
  ...extra,
});

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (error) {
    if (isCpyError(error)) return error.code;
    throw error;
  }
  return null;
};

describe('the artifact index', () => {
  it('updates of one index file at once each keep what the others added (each wrote what it had read: entries were lost), and leave no lock', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cpy-index-update-'));
    try {
      const path = join(dir, 'index.json');
      const versions = ['3.9.1', '3.10.1', '3.11.1', '3.12.1', '3.13.1', '3.14.1'];
      await Promise.all(versions.map((v) => updateIndexFile(path, (index) => ({ index: addEntry(index, entry(v, 1)), result: {} }))));
      expect(parseIndexText(await readFile(path, 'utf8'), path).artifacts.map((e) => e.version).sort()).toEqual([...versions].sort());
      expect((await readdir(dir)).sort()).toEqual(['ARTIFACTS.md', 'index.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an index that cannot be written leaves its table as it was (the table went first, and described an index never written)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cpy-index-table-'));
    try {
      await writeFile(join(dir, 'ARTIFACTS.md'), 'the old table\n');
      await mkdir(join(dir, 'index.json'));
      await expect(writeIndexFile(join(dir, 'index.json'), addEntry(emptyIndex(), entry('3.13.5', 1)))).rejects.toBeDefined();
      expect(await readFile(join(dir, 'ARTIFACTS.md'), 'utf8')).toBe('the old table\n');
      expect((await readdir(dir)).sort()).toEqual(['ARTIFACTS.md', 'index.json']);
      // A new site's first index: its directory is made, as it was.
      await writeIndexFile(join(dir, 'new', 'site', 'index.json'), addEntry(emptyIndex(), entry('3.13.5', 1)));
      expect((await readdir(join(dir, 'new', 'site'))).sort()).toEqual(['ARTIFACTS.md', 'index.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps entries newest first, replacing one with the same file and architecture', () => {
    let index = emptyIndex();
    for (const e of [entry('3.12.9', 1), entry('3.13.5', 1), entry('3.14.0rc2', 1), entry('3.14.0', 1), entry('3.13.5', 2), entry('3.13.5', 1, '12', { arch: 'aarch64' })]) index = addEntry(index, e);
    index = addEntry(index, entry('3.13.5', 1, '12', { size: 1 }));
    expect(index.artifacts.map((e) => `${e.version}-${e.build}-${e.arch}-${e.size}`)).toEqual([
      '3.14.0-1-x86_64-19000000',
      '3.14.0rc2-1-x86_64-19000000',
      '3.13.5-2-x86_64-19000000',
      '3.13.5-1-aarch64-19000000',
      '3.13.5-1-x86_64-1',
      '3.12.9-1-x86_64-19000000',
    ]);
  });

  it('the same bytes added again (a mirror moved, a signature added) keep the date they were first published; other bytes under the name take the new one', () => {
    const first = addEntry(emptyIndex(), entry('3.13.5', 1, '12', { publishedAt: '2026-01-01T00:00:00.000Z' }));
    const moved = addEntry(first, entry('3.13.5', 1, '12', { url: 'https://mirror2.example/cpython-3.13.5-debian12-build1.tgz', publishedAt: '2026-12-06T00:00:00.000Z' }));
    // cpy outdated ages builds by it: re-adding the same build called it new.
    expect(moved.artifacts.map((e) => [e.url, e.publishedAt])).toEqual([['https://mirror2.example/cpython-3.13.5-debian12-build1.tgz', '2026-01-01T00:00:00.000Z']]);
    const rebuilt = addEntry(first, entry('3.13.5', 1, '12', { sha256: 'b'.repeat(64), publishedAt: '2026-12-06T00:00:00.000Z' }));
    expect(rebuilt.artifacts.map((e) => e.publishedAt)).toEqual(['2026-12-06T00:00:00.000Z']);
  });

  it('never goes back in time: a change made on a clock behind the index is dated a millisecond after it', () => {
    const index = addEntry(emptyIndex(new Date('2026-12-03T10:00:00.000Z')), entry('3.13.5', 1), new Date('2026-12-03T11:00:00.000Z'));
    expect(index.updatedAt).toBe('2026-12-03T11:00:00.000Z');
    expect(addEntry(index, entry('3.13.5', 2), new Date('2026-12-01T00:00:00.000Z')).updatedAt).toBe('2026-12-03T11:00:00.001Z');
    expect(addEntry(index, entry('3.13.5', 2), new Date('2026-12-04T00:00:00.000Z')).updatedAt).toBe('2026-12-04T00:00:00.000Z');
  });

  it('keeps the last 3 builds per release line, distribution and architecture active, and deprecates older ones', () => {
    let index = emptyIndex();
    for (const b of [1, 2, 3, 4, 5]) index = addEntry(index, entry('3.13.5', b));
    index = addEntry(index, entry('3.13.5', 1, '11'));
    const plan = planRetention(index);
    expect(plan.deprecate.map((e) => e.file)).toEqual(['cpython-3.13.5-debian12-build2.tgz', 'cpython-3.13.5-debian12-build1.tgz']);
    expect(plan.index.artifacts.filter((e) => e.state === 'active')).toHaveLength(4);
  });

  it('refuses what is not an index, naming the cause: not JSON, another schema version, a bad entry', () => {
    expect(codeOf(() => parseIndexText('{', 'i.json'))).toBe('CPY_INDEX_INVALID');
    expect(codeOf(() => parseIndexText(JSON.stringify({ schemaVersion: 1, artifacts: [] }), 'i.json'))).toBe('CPY_INDEX_UNSUPPORTED');
    expect(codeOf(() => parseIndexText(JSON.stringify({ ...emptyIndex(), artifacts: [{ ...entry('3.13.5', 1), sha256: 'x' }] }), 'i.json'))).toBe('CPY_INDEX_INVALID');
  });

  it('refuses a URL the two installers would read differently: an escaped /, a % that begins no escape, a byte outside ASCII, a file URL on another host', () => {
    const withUrl = (url: string) => JSON.stringify({ ...emptyIndex(), artifacts: [entry('3.13.5', 1, '12', { url })] });
    for (const url of ['https://example.test/a%2Fcpython-3.13.5-debian12-build1.tgz', 'https://example.test/%zz/x.tgz', 'https://example.test/x.tgz%', 'https://example.test/caf%C3%A9/x.tgz', 'file://elsewhere/srv/x.tgz']) {
      expect([url, codeOf(() => parseIndexText(withUrl(url), 'i.json'))]).toEqual([url, 'CPY_INDEX_INVALID']);
    }
    for (const url of ['https://example.test/a%20b/x.tgz', 'file:///srv/a%2Db/x.tgz', 'file://localhost/srv/x.tgz']) {
      expect([url, codeOf(() => parseIndexText(withUrl(url), 'i.json'))]).toEqual([url, null]);
    }
  });

  it('is written atomically with ARTIFACTS.md beside it, and read back; a missing file is an empty index', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cpy-index-'));
    try {
      expect((await readIndexFile(join(dir, 'index.json'))).artifacts).toEqual([]);
      const index = addEntry(emptyIndex(), entry('3.13.5', 1));
      await writeIndexFile(join(dir, 'index.json'), index);
      expect(await readIndexFile(join(dir, 'index.json'))).toEqual(index);
      const md = await readFile(join(dir, 'ARTIFACTS.md'), 'utf8');
      expect(md).toContain('| 3.13.5 | 1 | debian12 | x86_64 | 2.34 | 2026-11-30 | [cpython-3.13.5-debian12-build1.tgz](https://example.test/');
      expect(md).toContain('| libssl3 | active |');
      await writeFile(join(dir, 'index.json'), 'not json');
      await expect(readIndexFile(join(dir, 'index.json'))).rejects.toMatchObject({ code: 'CPY_INDEX_INVALID' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a change that cannot be written leaves the index as it was, with the signature of those bytes beside it; one written removes that signature', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cpy-index-'));
    try {
      const path = join(dir, 'index.json');
      await writeIndexFile(path, addEntry(emptyIndex(), entry('3.13.5', 1)));
      const before = await readFile(path, 'utf8');
      await writeFile(`${path}.asc`, 'the signature of those bytes');
      // ARTIFACTS.md cannot be written (a directory in its way; a full disk does the same).
      await rm(join(dir, 'ARTIFACTS.md'));
      await mkdir(join(dir, 'ARTIFACTS.md'));
      await expect(replaceIndexFile(path, addEntry(emptyIndex(), entry('3.13.6', 1)))).rejects.toBeDefined();
      // Nothing changed: the index as it was, its signature beside it (an index written first kept the old signature beside new bytes).
      expect(await readFile(path, 'utf8')).toBe(before);
      expect(await readFile(`${path}.asc`, 'utf8')).toBe('the signature of those bytes');
      await rm(join(dir, 'ARTIFACTS.md'), { recursive: true });
      expect(await replaceIndexFile(path, addEntry(emptyIndex(), entry('3.13.6', 1)))).toEqual({ signatureRemoved: `${path}.asc` });
      expect((await readIndexFile(path)).artifacts.map((a) => a.version)).toEqual(['3.13.6']);
      expect((await readdir(dir)).sort()).toEqual(['ARTIFACTS.md', 'index.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the index entry of an artifact file (cpy index add)', () => {
  let work: string;
  let packed: PackedArtifact;
  const url = (file: string) => `https://mirror.example/python/${file}`;
  /** A copy of the packed artifact under another name, with its .json beside it (as given, or none). */
  const copyAs = async (dir: string, name: string, json: string | null = null): Promise<string> => {
    await mkdir(join(work, dir), { recursive: true });
    const path = join(work, dir, name);
    await copyFile(packed.path, path);
    if (json !== null) await writeFile(`${path}.json`, json);
    return path;
  };
  const failure = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => (isCpyError(e) ? { code: e.code, message: e.message, hint: e.hint } : e));

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'cpy-index-file-'));
    const tree = join(work, 'tree');
    await mkdir(join(tree, 'lib', 'python3.13'), { recursive: true });
    await writeFile(join(tree, 'lib', 'python3.13', 'LICENSE.txt'), 'PSF\n');
    packed = await packArtifact({ installDir: tree, metadata: packMetadata(), outDir: join(work, 'out'), strip: false, sourceDateEpoch: 1_700_000_000 });
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('takes what it lists from the artifact itself, with its .json beside it the same', async () => {
    expect(packed.fileName).toBe('cpython-3.13.5-debian12-build1.tgz');
    const entry = await indexEntryForFile(packed.path, url(packed.fileName));
    expect(entry).toMatchObject({ file: packed.fileName, version: '3.13.5', build: 1, os: 'debian', osVersion: '12', arch: 'x86_64', sha256: packed.sha256 });
    // A URL of another file (installers name the download by it): refused (every install then failed on the checksum).
    expect(await failure(indexEntryForFile(packed.path, url('cpython-3.13.6-debian12-build1.tgz')))).toMatchObject({
      code: 'CPY_INDEX_BAD_ENTRY',
      message: expect.stringMatching(/names the file cpython-3\.13\.6-debian12-build1\.tgz, not cpython-3\.13\.5-debian12-build1\.tgz: installers would download it under that name/),
    });
    // Other bytes under a file the index lists: refused unless asked for (the same bytes again are not).
    const listed = addEntry(emptyIndex(), entry);
    expect(() => refuseReplacedBytes(listed, entry)).not.toThrow();
    let refused: unknown;
    try {
      refuseReplacedBytes(listed, { ...entry, sha256: 'ab'.repeat(32) });
    } catch (error) {
      refused = error;
    }
    expect(isCpyError(refused, 'CPY_INDEX_REPLACES_BYTES')).toBe(true);
    expect(() => refuseReplacedBytes(listed, { ...entry, arch: 'aarch64', sha256: 'ab'.repeat(32) })).not.toThrow();
  });

  it('signed (an .asc beside it), lists the signature beside the file at its URL, before a query string (a signed URL had it after: ...?X-Amz-Signature=abc.asc)', async () => {
    const signed = await copyAs('signed', packed.fileName, await readFile(packed.metadataPath, 'utf8'));
    await writeFile(`${signed}.asc`, 'a signature');
    expect((await indexEntryForFile(signed, url(packed.fileName))).signatureUrl).toBe(`${url(packed.fileName)}.asc`);
    const query = `https://bucket.example/py/${packed.fileName}?X-Amz-Signature=abc`;
    expect((await indexEntryForFile(signed, query)).signatureUrl).toBe(`https://bucket.example/py/${packed.fileName}.asc?X-Amz-Signature=abc`);
  });

  it('refuses a renamed copy whose name says another version, build, distribution or architecture than its metadata', async () => {
    const renamed = await copyAs('renamed', 'cpython-3.14.0-debian12-build2.tgz', await readFile(packed.metadataPath, 'utf8'));
    expect(await failure(indexEntryForFile(renamed, url('cpython-3.14.0-debian12-build2.tgz')))).toEqual({
      code: 'CPY_ARTIFACT_MISNAMED',
      message: 'the name cpython-3.14.0-debian12-build2.tgz says version 3.14.0 and build 2; the metadata inside it says 3.13.5 and 1',
      hint: expect.stringContaining('name it cpython-3.13.5-debian12-build1.tgz'),
    });
    // Another distribution, and an architecture the name carries.
    expect(await failure(indexEntryForFile(await copyAs('other-os', 'cpython-3.13.5-ubuntu24.04-build1.tgz'), url('x.tgz')))).toMatchObject({
      code: 'CPY_ARTIFACT_MISNAMED',
      message: 'the name cpython-3.13.5-ubuntu24.04-build1.tgz says os ubuntu and osVersion 24.04; the metadata inside it says debian and 12',
    });
    expect(await failure(indexEntryForFile(await copyAs('other-arch', 'cpython-3.13.5-debian12-aarch64-build1.tgz'), url('x.tgz')))).toMatchObject({
      code: 'CPY_ARTIFACT_MISNAMED',
      message: expect.stringContaining('says arch aarch64; the metadata inside it says x86_64'),
    });
    // The same check for an entry made from metadata read elsewhere (cpy publish).
    expect(() => indexEntryFor(packed.metadata, { file: 'cpython-3.14.0-debian12-build1.tgz', url: url('x.tgz'), sha256: packed.sha256, size: 1 })).toThrow(
      expect.objectContaining({ code: 'CPY_ARTIFACT_MISNAMED' }),
    );
  });

  it('refuses a name whose compression is not the file\'s: installers choose how to read it by its name', async () => {
    const zstName = await copyAs('zst-name', 'cpython-3.13.5-debian12-build1.tar.zst', await readFile(packed.metadataPath, 'utf8'));
    const refusal = {
      code: 'CPY_ARTIFACT_MISNAMED',
      message: 'the name cpython-3.13.5-debian12-build1.tar.zst says zstd compression; the file is gzip-compressed',
      hint: expect.stringContaining('name it cpython-3.13.5-debian12-build1.tgz'),
    };
    expect(await failure(indexEntryForFile(zstName, url('cpython-3.13.5-debian12-build1.tar.zst')))).toEqual(refusal);
    // The same for cpy publish, which reads the metadata and checks the name before anything is sent.
    expect(await failure(readArtifactFileMetadata(zstName))).toEqual(refusal);
    // With another build too, both are said, and the right name has the file's compression.
    expect(await failure(indexEntryForFile(await copyAs('zst-build', 'cpython-3.13.5-debian12-build2.tar.zst'), url('x.tar.zst')))).toMatchObject({
      code: 'CPY_ARTIFACT_MISNAMED',
      message: 'the name cpython-3.13.5-debian12-build2.tar.zst says build 2; the metadata inside it says 1. It also says zstd compression; the file is gzip-compressed',
      hint: expect.stringContaining('name it cpython-3.13.5-debian12-build1.tgz'),
    });
  });

  // Packing zstd needs the zstd program (reported skipped without it, not passed).
  (spawnSync('zstd', ['--version']).status === 0 ? it : it.skip)('refuses a zstd artifact named .tgz', async () => {
    const tree = join(work, 'tree');
    const zst = await packArtifact({ installDir: tree, metadata: packMetadata(), outDir: join(work, 'out-zst'), strip: false, sourceDateEpoch: 1_700_000_000, compression: 'zstd' });
    expect(zst.fileName).toBe('cpython-3.13.5-debian12-build1.tar.zst');
    expect(await indexEntryForFile(zst.path, url(zst.fileName))).toMatchObject({ file: zst.fileName });
    await mkdir(join(work, 'tgz-name'), { recursive: true });
    const tgzName = join(work, 'tgz-name', 'cpython-3.13.5-debian12-build1.tgz');
    await copyFile(zst.path, tgzName);
    expect(await failure(indexEntryForFile(tgzName, url('cpython-3.13.5-debian12-build1.tgz')))).toEqual({
      code: 'CPY_ARTIFACT_MISNAMED',
      message: 'the name cpython-3.13.5-debian12-build1.tgz says gzip compression; the file is zstd-compressed',
      hint: expect.stringContaining('name it cpython-3.13.5-debian12-build1.tar.zst'),
    });
  });

  it('refuses a build of another architecture named without one (a name without an arch says x86_64)', async () => {
    const tree = join(work, 'tree');
    const arm = await packArtifact({ installDir: tree, metadata: packMetadata('aarch64'), outDir: join(work, 'out-arm'), strip: false, sourceDateEpoch: 1_700_000_000 });
    expect(arm.fileName).toBe('cpython-3.13.5-debian12-aarch64-build1.tgz');
    expect(await indexEntryForFile(arm.path, url(arm.fileName))).toMatchObject({ file: arm.fileName, arch: 'aarch64' });
    await mkdir(join(work, 'arm-no-arch'), { recursive: true });
    const noArch = join(work, 'arm-no-arch', 'cpython-3.13.5-debian12-build1.tgz');
    await copyFile(arm.path, noArch);
    const refusal = {
      code: 'CPY_ARTIFACT_MISNAMED',
      message: 'the name cpython-3.13.5-debian12-build1.tgz says arch x86_64; the metadata inside it says aarch64',
      hint: expect.stringContaining('name it cpython-3.13.5-debian12-aarch64-build1.tgz'),
    };
    expect(await failure(indexEntryForFile(noArch, url('cpython-3.13.5-debian12-build1.tgz')))).toEqual(refusal);
    expect(await failure(readArtifactFileMetadata(noArch))).toEqual(refusal);
    expect(() => indexEntryFor(arm.metadata, { file: 'cpython-3.13.5-debian12-build1.tgz', url: url('x.tgz'), sha256: arm.sha256, size: 1 })).toThrow(
      expect.objectContaining({ code: 'CPY_ARTIFACT_MISNAMED' }),
    );
  });

  it('refuses a .json beside it that is not the metadata inside it, naming the field', async () => {
    const stale = await copyAs('stale', packed.fileName, JSON.stringify({ ...packed.metadata, build: 2 }));
    expect(await failure(indexEntryForFile(stale, url(packed.fileName)))).toEqual({
      code: 'CPY_INDEX_BAD_ENTRY',
      message: `${stale}.json disagrees with the metadata inside ${packed.fileName}: build is 2 beside it, 1 inside`,
      hint: expect.stringContaining(`tar -xOf ${stale} cpy-artifact.json > ${stale}.json`),
    });
    const nested = await copyAs('nested', packed.fileName, JSON.stringify({ ...packed.metadata, platform: { ...packed.metadata.platform, glibcFloor: '2.99' } }));
    expect(await failure(indexEntryForFile(nested, url(packed.fileName)))).toMatchObject({ message: expect.stringContaining(': platform.glibcFloor is "2.99" beside it, null inside') });
    const garbled = await copyAs('garbled', packed.fileName, '{');
    expect(await failure(indexEntryForFile(garbled, url(packed.fileName)))).toMatchObject({ code: 'CPY_INDEX_BAD_ENTRY', message: expect.stringMatching(/\.json, the metadata beside the artifact, is not JSON: /) });
  });

  it('a file that is not there is not found; one without valid metadata is not an artifact', async () => {
    const missing = join(work, 'nowhere', packed.fileName);
    expect(await failure(indexEntryForFile(missing, url(packed.fileName)))).toMatchObject({ code: 'CPY_ARTIFACT_NOT_FOUND', message: `no artifact ${missing}` });
    await mkdir(join(work, 'other'), { recursive: true });
    const other = await tgz(join(work, 'other', packed.fileName), [{ name: 'README', body: 'hello' }]);
    expect(await failure(indexEntryForFile(other, url(packed.fileName)))).toMatchObject({
      code: 'CPY_INDEX_NOT_AN_ARTIFACT',
      message: `${other} has no valid cpy metadata: the first entry is not cpy-artifact.json`,
    });
    // Its metadata alone, or a tree cut short: not the tree the metadata describes (it was listed, and every install failed).
    const { files, bytes } = packed.metadata.contents;
    const metadataText = `${JSON.stringify(packed.metadata, null, 2)}\n`;
    await mkdir(join(work, 'bare'), { recursive: true });
    const bare = await tgz(join(work, 'bare', packed.fileName), [{ name: 'cpy-artifact.json', body: metadataText }]);
    expect(await failure(indexEntryForFile(bare, url(packed.fileName)))).toMatchObject({
      code: 'CPY_INDEX_NOT_AN_ARTIFACT',
      message: `${bare} holds 0 files of 0 bytes, where its metadata says ${files} files of ${bytes} bytes under opt/python-3.13.5/: the tree is missing or incomplete, and no installer could install it`,
    });
    await mkdir(join(work, 'short'), { recursive: true });
    const short = await tgz(join(work, 'short', packed.fileName), [{ name: 'cpy-artifact.json', body: metadataText }, { name: 'opt/python-3.13.5/LICENSE.txt', body: 'PSF\n' }]);
    expect(await failure(indexEntryForFile(short, url(packed.fileName)))).toMatchObject({ code: 'CPY_INDEX_NOT_AN_ARTIFACT', message: expect.stringContaining(`${short} holds 1 file of 4 bytes, where its metadata says ${files} files`) });
  });

  it('an index whose entry has a file name that says another version or build is read as it is (installers go by the fields), and its entry is named', () => {
    const lying = parseIndexText(JSON.stringify({ ...emptyIndex(), artifacts: [entry('3.13.5', 1, '12', { file: 'cpython-3.14.0-debian12-build2.tgz' }), entry('3.13.5', 2, '12')] }), 'i.json');
    expect(misnamedEntries(lying)).toEqual([{ file: 'cpython-3.14.0-debian12-build2.tgz', said: 'cpython-3.14.0-debian12-build2.tgz says version 3.14.0 and build 2; its entry says 3.13.5 and 1' }]);
    expect(misnamedEntries(parseIndexText(JSON.stringify({ ...emptyIndex(), artifacts: [entry('3.13.5', 1, '12', { file: 'python.tgz' })] }), 'i.json'))).toEqual([
      { file: 'python.tgz', said: "'python.tgz' is not an artifact file name" },
    ]);
    // A name without an architecture says x86_64 (every build before multi-arch builds was one): an aarch64 entry so named is named.
    expect(misnamedEntries(parseIndexText(JSON.stringify({ ...emptyIndex(), artifacts: [entry('3.13.5', 1, '12', { arch: 'aarch64' })] }), 'i.json'))).toEqual([
      { file: 'cpython-3.13.5-debian12-build1.tgz', said: 'cpython-3.13.5-debian12-build1.tgz says arch x86_64; its entry says aarch64' },
    ]);
    const arm = entry('3.13.5', 1, '12', { arch: 'aarch64', file: 'cpython-3.13.5-debian12-aarch64-build1.tgz' });
    expect(misnamedEntries(parseIndexText(JSON.stringify({ ...emptyIndex(), artifacts: [arm, entry('3.13.5', 1, '12', { file: 'cpython-3.13.5-debian12-build1.tar.zst' })] }), 'i.json'))).toEqual([]);
  });
});

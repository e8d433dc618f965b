import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { isCpyError } from '@cpy/core';
import { addEntry, emptyIndex, parseIndexText, planRetention, readIndexFile, writeIndexFile, type IndexEntry } from '../index.js';

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
});

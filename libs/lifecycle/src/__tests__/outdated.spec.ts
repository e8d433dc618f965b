import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeIndexFile, type IndexEntry } from '@cpy/artifact';
import { indexEntry, indexOf } from '@cpy/harness';
import { createHttpClient } from '@cpy/transfer';
import { compareWithUpstream, endOfLife, findOutdated, mirrorUrl, newestReleases } from '../index.js';

const NOW = new Date('2026-12-01T12:00:00Z');

const entry = (version: string, build: number, publishedAt: string, extra: Partial<IndexEntry> = {}): IndexEntry => indexEntry(version, build, { publishedAt, ...extra });

describe('compareWithUpstream', () => {
  it('says what to build: a new upstream release, a build over 6 months old; and which lines are past their end of life', () => {
    const index = indexOf(
      entry('3.13.5', 1, '2026-11-20T00:00:00Z'),
      entry('3.12.11', 1, '2026-01-10T00:00:00Z'),
      entry('3.12.11', 2, '2026-04-10T00:00:00Z'),
      entry('3.11.9', 1, '2026-10-01T00:00:00Z'),
      entry('3.9.23', 1, '2026-01-01T00:00:00Z'),
    );
    const upstream = new Map([
      ['3.13', '3.13.6'],
      ['3.12', '3.12.11'],
      ['3.11', '3.11.9'],
    ]);
    const report = compareWithUpstream(index, upstream, NOW);
    expect(report.missing).toEqual([{ line: '3.13', version: '3.13.6', published: '3.13.5', nextBuild: 1 }]);
    expect(report.stale).toEqual([
      { version: '3.12.11', files: ['cpython-3.12.11-debian12-build2.tgz', 'cpython-3.12.11-debian12-build1.tgz'], publishedAt: '2026-04-10T00:00:00.000Z', ageDays: 235, nextBuild: 3 },
    ]);
    expect(report.endOfLife).toEqual([{ line: '3.9', ended: '2025-10-31', activeBuilds: ['cpython-3.9.23-debian12-build1.tgz'] }]);
    expect(report.dispatch).toEqual([
      { versions: ['3.13.6'], build: 1 },
      { versions: ['3.12.11'], build: 3 },
    ]);
    expect(report.upToDate).toBe(false);
  });

  it('is up to date when every line has its newest release built recently; deprecated builds do not count as built', () => {
    const fresh = indexOf(entry('3.13.6', 1, '2026-11-20T00:00:00Z'), entry('3.13.5', 3, '2026-01-01T00:00:00Z', { state: 'deprecated' }));
    expect(compareWithUpstream(fresh, new Map([['3.13', '3.13.6']]), NOW)).toMatchObject({ missing: [], stale: [], endOfLife: [], dispatch: [], upToDate: true });
    const deprecated = indexOf(entry('3.13.6', 1, '2026-11-20T00:00:00Z', { state: 'deprecated' }));
    expect(compareWithUpstream(deprecated, new Map([['3.13', '3.13.6']]), NOW).missing).toEqual([{ line: '3.13', version: '3.13.6', published: null, nextBuild: 2 }]);
  });

  it('a mirror behind the index (3.13.5 upstream, 3.13.6 built) asks for nothing older; a line the mirror has no release of is said to be unchecked, not up to date by silence', () => {
    const ahead = indexOf(entry('3.13.6', 1, '2026-11-20T00:00:00Z'), entry('3.12.9', 1, '2026-11-20T00:00:00Z'));
    expect(compareWithUpstream(ahead, new Map([['3.13', '3.13.5']]), NOW)).toMatchObject({ missing: [], stale: [], dispatch: [], unchecked: ['3.12'], upToDate: true });
    // The newest built version is the one held to the age limit, not the mirror's older one.
    const old = indexOf(entry('3.13.6', 1, '2026-01-01T00:00:00Z'), entry('3.13.5', 1, '2026-11-20T00:00:00Z'));
    expect(compareWithUpstream(old, new Map([['3.13', '3.13.5']]), NOW)).toMatchObject({ missing: [], stale: [expect.objectContaining({ version: '3.13.6', nextBuild: 2 })], unchecked: [] });
  });

  it('knows when each line ends', () => {
    expect(endOfLife('3.13')?.toISOString()).toBe('2029-10-31T23:59:59.999Z');
    expect(endOfLife('2.7')).toBeNull();
  });
});

describe('findOutdated, against a release tree laid out like python.org', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'cpy-outdated-'));
    // 3.13.6's directory exists with only its release candidate: 3.13.5 is the newest release.
    const files: Record<string, string[]> = {
      '3.13.5': ['Python-3.13.5.tar.xz', 'Python-3.13.5.tar.xz.asc'],
      '3.13.6': ['Python-3.13.6rc1.tar.xz'],
      '3.12.11': ['Python-3.12.11.tgz'],
      '3.12.9': ['Python-3.12.9.tar.xz'],
    };
    for (const [dir, names] of Object.entries(files)) {
      await mkdir(join(work, 'mirror', dir), { recursive: true });
      for (const n of names) await writeFile(join(work, 'mirror', dir, n), '');
    }
    // A release directory that is a link (a mirror made of links to where the tarballs are).
    await mkdir(join(work, 'elsewhere', '3.11.13'), { recursive: true });
    await writeFile(join(work, 'elsewhere', '3.11.13', 'Python-3.11.13.tar.xz'), '');
    await symlink(join(work, 'elsewhere', '3.11.13'), join(work, 'mirror', '3.11.13'));
    await writeIndexFile(join(work, 'index.json'), indexOf(entry('3.13.4', 1, '2026-11-01T00:00:00Z'), entry('3.12.11', 1, '2026-11-01T00:00:00Z')));
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('takes a line newest release as the newest whose final tarball exists', async () => {
    const client = await createHttpClient({ userAgent: 'test' });
    try {
      const got = await newestReleases(mirrorUrl(join(work, 'mirror')), ['3.13', '3.12', '3.11'], client);
      expect(Object.fromEntries(got)).toEqual({ '3.13': '3.13.5', '3.12': '3.12.11', '3.11': '3.11.13' });
    } finally {
      await client.close();
    }
  });

  it.each([
    ['a directory that is not there (a mistyped --mirror)', 'pyhton-mirror'],
    ['a directory with no release in it', 'mirror/3.13.5'],
    ['a file', 'index.json'],
  ])('%s is CPY_OUTDATED_UPSTREAM_UNAVAILABLE, not "up to date"', async (_what, where) => {
    const error = await findOutdated({ indexUrl: join(work, 'index.json'), mirror: join(work, where), now: NOW, env: {} }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'CpyError', code: 'CPY_OUTDATED_UPSTREAM_UNAVAILABLE', message: `${join(work, where)}/ lists no release directories (3.13.5/ and the like): it is missing, empty, or not a release tree` });
  });

  it('a mirror with none of the lines the index builds (only 3.11 there) is CPY_OUTDATED_UPSTREAM_UNAVAILABLE: it said every line unchecked and "up to date", exit 0', async () => {
    await mkdir(join(work, 'other-lines', '3.11.13'), { recursive: true });
    await writeFile(join(work, 'other-lines', '3.11.13', 'Python-3.11.13.tar.xz'), '');
    const error = await findOutdated({ indexUrl: join(work, 'index.json'), mirror: join(work, 'other-lines'), now: NOW, env: {} }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CPY_OUTDATED_UPSTREAM_UNAVAILABLE', message: `${join(work, 'other-lines')}/ has no release of 3.13, 3.12, the lines the index builds: nothing was compared` });
  });

  it('an index that lists no builds is CPY_OUTDATED_EMPTY_INDEX, not "up to date" (nothing was compared)', async () => {
    await mkdir(join(work, 'empty'));
    await writeIndexFile(join(work, 'empty', 'index.json'), indexOf());
    const error = await findOutdated({ indexUrl: join(work, 'empty', 'index.json'), mirror: join(work, 'mirror'), now: NOW, env: {} }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'CpyError', code: 'CPY_OUTDATED_EMPTY_INDEX', message: `the index ${join(work, 'empty', 'index.json')} lists no builds: there is nothing to compare with upstream` });
  });

  it('reports 3.13.5 missing from the index', async () => {
    const report = await findOutdated({ indexUrl: join(work, 'index.json'), mirror: join(work, 'mirror'), now: NOW, env: {} });
    expect(report.missing).toEqual([{ line: '3.13', version: '3.13.5', published: '3.13.4', nextBuild: 1 }]);
    expect(report.upstream).toBe(`${join(work, 'mirror')}/`);
    expect(report.endOfLifeData.checked).toBe('2026-12-01');
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeIndexFile, type IndexEntry } from '@cpy/artifact';
import { fixturesDir, indexEntry, indexOf, type PythonMirror, runCpy, startPythonMirror } from '@cpy/harness';

let work: string;
let mirror: PythonMirror;

const cpy = (args: string[]) => runCpy(args, { env: { NO_COLOR: '1' } });

const entry = (version: string, build: number, daysAgo: number): IndexEntry =>
  indexEntry(version, build, { publishedAt: new Date(Date.now() - daysAgo * 86_400_000).toISOString() });

async function indexFile(name: string, ...entries: IndexEntry[]): Promise<string> {
  const path = join(work, name, 'index.json');
  await writeIndexFile(path, indexOf(...entries));
  return path;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-cli-outdated-'));
  // The loopback python.org: the real 3.13.5 release; 3.13.6 with only a release candidate; 3.12.11.
  mirror = await startPythonMirror();
  mirror.serve('3.13.6/Python-3.13.6rc1.tar.xz', join(fixturesDir(), 'README.md'));
  mirror.serve('3.12.11/Python-3.12.11.tgz', join(fixturesDir(), 'README.md'));
});
afterAll(async () => {
  await mirror.close();
  await rm(work, { recursive: true, force: true });
});

describe('cpy outdated (the built bin, against a loopback copy of python.org)', () => {
  it('exit 1 with what to build: a release without a build, a build over 6 months old, and the release runs', async () => {
    const index = await indexFile('behind', entry('3.13.4', 1, 10), entry('3.12.11', 1, 200), entry('3.12.11', 2, 190));
    const r = await cpy(['outdated', '--index', index, '--mirror', mirror.url, '--json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout).outdated;
    expect(report.missing).toEqual([{ line: '3.13', version: '3.13.5', published: '3.13.4', nextBuild: 1 }]);
    expect(report.stale).toEqual([expect.objectContaining({ version: '3.12.11', ageDays: 190, nextBuild: 3 })]);
    expect(report.dispatch).toEqual([
      { versions: ['3.13.5'], build: 1 },
      { versions: ['3.12.11'], build: 3 },
    ]);
    // Only listings and the release directories were read: no tarball was downloaded.
    expect(mirror.requests.every((q) => q.path.endsWith('/'))).toBe(true);

    const text = await cpy(['outdated', '--index', index, '--mirror', mirror.url]);
    expect(text.stdout).toContain('missing   3.13: 3.13.5 is released and has no active build (newest built: 3.13.4); build 3.13.5 as build 1');
    expect(text.stdout).toMatch(/stale {5}3\.12\.11: built \d{4}-\d\d-\d\d, 190 days ago; rebuild as build 3/);
  });

  it('exit 0 when up to date; a line past its end of life is reported; no index is a clear error', async () => {
    const fresh = await indexFile('fresh', entry('3.13.5', 1, 3), entry('3.12.11', 4, 30));
    const ok = await cpy(['outdated', '--index', fresh, '--mirror', mirror.url]);
    expect([ok.code, ok.stdout]).toEqual([0, expect.stringContaining('up to date')]);
    const old = await indexFile('old', entry('3.13.5', 1, 3), entry('3.9.23', 1, 3));
    const ended = JSON.parse((await cpy(['outdated', '--index', old, '--mirror', mirror.url, '--json'])).stdout).outdated;
    expect(ended.endOfLife).toEqual([{ line: '3.9', ended: '2025-10-31', activeBuilds: ['cpython-3.9.23-debian12-build1.tgz'] }]);
    const none = await cpy(['outdated', '--mirror', mirror.url]);
    expect([none.code, none.stderr]).toEqual([2, expect.stringContaining('CPY_OUTDATED_NO_INDEX')]);
  });
});

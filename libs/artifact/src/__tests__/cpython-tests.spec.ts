import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { isCpyError } from '@cpy/core';
import { parseRegrtestSummary, testArtifact } from '../cpython-tests.js';
import { packArtifact } from '../index.js';
import { packMetadata } from './pack-metadata.js';
import { tgz } from './tgz.js';

// The end of `python -m test -j2 -w` on the 3.13.5 artifact in a relocated prefix (this
// machine, 2026-12-01), the skipped lists shortened.
const FULL_RUN = `0:08:23 load avg: 1.17 [381/480/1] test_socket failed (2 errors) (45.3 sec)
== Tests result: FAILURE ==

22 tests skipped:
    test.test_asyncio.test_windows_events test_winreg

2 tests failed:
    test_socket test_subprocess

445 tests OK.

0:09:31 load avg: 1.46 Re-running 2 failed tests in verbose mode in subprocesses
FAILED (errors=2, skipped=1)
test test_socket failed
2 tests failed again:
    test_socket test_subprocess

== Tests result: FAILURE then FAILURE ==

22 tests skipped:
    test.test_asyncio.test_windows_events
    test.test_asyncio.test_windows_utils test_winreg

11 tests skipped (resource denied):
    test_curses test_peg_generator

2 re-run tests:
    test_socket test_subprocess

2 tests failed:
    test_socket test_subprocess

445 tests OK.

Total duration: 9 min 42 sec
Total tests: run=44,429 failures=4 skipped=2,328
Total test files: run=471/480 failed=2 skipped=22 resource_denied=11 rerun=2
Result: FAILURE then FAILURE
`;

describe('parseRegrtestSummary', () => {
  it('reads the last summary of a full run: failed, skipped (resource denied too), passed and the rate', () => {
    expect(parseRegrtestSummary(FULL_RUN)).toEqual({
      files: { run: 452, passed: 445, failed: 2, skipped: 5 },
      passRate: 99.6,
      failed: ['test_socket', 'test_subprocess'],
      skipped: ['test.test_asyncio.test_windows_events', 'test.test_asyncio.test_windows_utils', 'test_curses', 'test_peg_generator', 'test_winreg'],
    });
  });

  it('counts a test that failed and then passed on the rerun as passed', () => {
    const rerunPassed = `== Tests result: FAILURE ==\n\n1 test failed:\n    test_flaky\n\n12 tests OK.\n\n== Tests result: FAILURE then SUCCESS ==\n\n1 re-run test:\n    test_flaky\n\n13 tests OK.\n`;
    expect(parseRegrtestSummary(rerunPassed)).toMatchObject({ files: { passed: 13, failed: 0 }, passRate: 100, failed: [] });
  });

  it('reads a critical run where everything passed', () => {
    expect(parseRegrtestSummary('== Tests result: SUCCESS ==\n\nAll 13 tests OK.\n\nTotal test files: run=13/13\nResult: SUCCESS\n')).toMatchObject({
      files: { run: 13, passed: 13, failed: 0, skipped: 0 },
      passRate: 100,
    });
  });

  it('finds nothing in output that has no summary (python did not start)', () => {
    expect(parseRegrtestSummary('Fatal Python error: Failed to import encodings module\n')).toMatchObject({ files: { run: 0, passed: 0, failed: 0 }, passRate: 0 });
  });
});

describe('testArtifact', () => {
  it('names the missing artifact, not its tests asset', async () => {
    const error = await testArtifact('/nonexistent/cpython-3.13.5-debian12-build1.tgz').catch((e: unknown) => e);
    expect(isCpyError(error, 'CPY_ARTIFACT_NOT_FOUND')).toBe(true);
    expect((error as Error).message).toBe('no artifact /nonexistent/cpython-3.13.5-debian12-build1.tgz');
  });

  it('a --work-dir a stopped run left half unpacked is emptied first (it read as a corrupt artifact: EEXIST)', async () => {
    const work = await mkdtemp(join(tmpdir(), 'cpy-test-workdir-'));
    try {
      const tree = join(work, 'tree');
      await mkdir(join(tree, 'lib', 'python3.13'), { recursive: true });
      await writeFile(join(tree, 'lib', 'python3.13', 'LICENSE.txt'), 'PSF\n');
      const packed = await packArtifact({ installDir: tree, metadata: packMetadata(), outDir: join(work, 'out'), strip: false, sourceDateEpoch: 1_700_000_000 });
      // A tests asset with no test packages: refused once both are unpacked, before any test runs.
      const tests = await tgz(join(work, 'tests.tgz'), [{ name: 'opt/python-3.13.5/README', body: 'none\n' }]);
      const workDir = join(work, 'wd');
      for (const left of ['.unpacked', '.unpacked-tests']) {
        await mkdir(join(workDir, 'relocated', left, 'opt', 'python-3.13.5', 'lib', 'python3.13'), { recursive: true });
        await writeFile(join(workDir, 'relocated', left, 'opt', 'python-3.13.5', left === '.unpacked' ? 'lib/python3.13/LICENSE.txt' : 'README'), 'half\n');
      }
      // A directory of the user's there is not cpy's to remove.
      await mkdir(join(workDir, 'unpacked'));
      const error = await testArtifact(packed.path, { tests, workDir }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'CPY_ARTIFACT_NO_TESTS', message: 'tests.tgz holds no test packages under opt/python-3.13.5/' });
      expect((await readdir(workDir)).sort()).toEqual(['relocated', 'unpacked']);
      expect(await readdir(join(workDir, 'relocated'))).toEqual(['python-3.13.5']);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

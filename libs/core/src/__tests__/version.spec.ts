import { execFileSync } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { compareDotted, compareVersions, CpyError, ERROR_CODES, isCpyError, KEEP_BUILDS, keepNewest, newestFirst, parseVersion, runtimeGlibc } from '../index.js';

describe('parseVersion', () => {
  it('reads final and pre-release versions the way python.org lays them out', () => {
    expect(parseVersion('3.13.5')).toMatchObject({ line: '3.13', directory: '3.13.5', pre: null });
    expect(parseVersion('3.14.0rc2')).toMatchObject({
      major: 3,
      minor: 14,
      micro: 0,
      line: '3.14',
      directory: '3.14.0',
      pre: { kind: 'rc', number: 2 },
    });
    expect(parseVersion('3.15.0a1')?.pre).toEqual({ kind: 'a', number: 1 });
  });

  it('rejects what is not a release version', () => {
    for (const bad of ['3.13', '3.13.5.1', 'v3.13.5', '3.13.05', '3.13.5-rc1', '3.13.5$(id)', '']) {
      expect(parseVersion(bad)).toBeNull();
    }
  });
});

describe('CpyError', () => {
  it('takes only codes of the closed catalog (ERROR_CODES): another does not compile', () => {
    // @ts-expect-error CPY_NOT_IN_THE_CATALOG is in no library's list in codes.ts
    const stray = new CpyError('CPY_NOT_IN_THE_CATALOG', 'x', { hint: 'y' });
    expect(stray.code).toBe('CPY_NOT_IN_THE_CATALOG');
    const all = Object.values(ERROR_CODES).flat();
    expect(all).toContain('CPY_INSTALL_CHECKSUM_MISMATCH');
    expect(new Set(all).size).toBe(all.length);
    expect(Object.keys(ERROR_CODES)).toEqual(expect.arrayContaining(['@cpy/install', '@cpy/artifact', 'cli', 'feature']));
  });

  it('carries a code, a hint and a cause, and serialises without the stack', () => {
    const cause = new Error('ECONNRESET');
    const err = new CpyError('CPY_INSTALL_CHECKSUM_MISMATCH', 'the thing failed', { hint: 'try again', cause, details: { n: 1 } });
    expect(isCpyError(err, 'CPY_INSTALL_CHECKSUM_MISMATCH')).toBe(true);
    expect(isCpyError(err, 'CPY_INSTALL_NOT_FOUND')).toBe(false);
    expect(isCpyError(new Error('x'))).toBe(false);
    expect(err.cause).toBe(cause);
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      code: 'CPY_INSTALL_CHECKSUM_MISMATCH',
      message: 'the thing failed',
      hint: 'try again',
      details: { n: 1 },
    });
  });
});

describe('compareVersions: the one order of versions', () => {
  it('puts pre-releases before their final release and compares numbers as numbers', () => {
    const shuffled = ['3.14.1', '3.14.0', '3.9.20', '3.14.0rc1', '3.14.0a1', '3.14.0b2', '3.14.0rc10', '3.14.0rc2', '3.13.5', '3.14.0a2'];
    expect([...shuffled].sort(compareVersions)).toEqual(['3.9.20', '3.13.5', '3.14.0a1', '3.14.0a2', '3.14.0b2', '3.14.0rc1', '3.14.0rc2', '3.14.0rc10', '3.14.0', '3.14.1']);
    // What localeCompare got wrong: it sorted 3.14.0 before 3.14.0a1.
    expect(compareVersions('3.14.0', '3.14.0a1')).toBe(1);
    expect(compareVersions('3.13.5', '3.13.5')).toBe(0);
  });

  it('compares dotted numbers (glibc) as numbers, returning -1, 0 or 1', () => {
    expect([compareDotted('2.31', '2.36'), compareDotted('2.100', '2.36'), compareDotted('2.36', '2.36.0')]).toEqual([-1, 1, 0]);
  });
});

describe('newestFirst and keepNewest: the one order of builds and the one retention policy', () => {
  const b = (version: string, build: number, line = version.slice(0, 4)) => ({ version, build, line });

  it('orders builds by version (pre-releases before their final release, numbers as numbers), then build number', () => {
    const sorted = [b('3.14.0a1', 1), b('3.13.10', 1), b('3.14.0', 1), b('3.13.9', 2), b('3.14.0rc2', 3), b('3.13.9', 4)].sort(newestFirst);
    expect(sorted.map((x) => `${x.version}-${x.build}`)).toEqual(['3.14.0-1', '3.14.0rc2-3', '3.14.0a1-1', '3.13.10-1', '3.13.9-4', '3.13.9-2']);
  });

  it('keeps the newest KEEP_BUILDS of each group and drops the rest, whatever order they came in', () => {
    const items = [b('3.13.1', 1), b('3.12.9', 1), b('3.13.3', 1), b('3.13.0rc1', 1), b('3.13.3', 2), b('3.13.2', 1)];
    const plan = keepNewest(items, (x) => x.line);
    expect(KEEP_BUILDS).toBe(3);
    expect(plan.keep.map((x) => `${x.version}-${x.build}`)).toEqual(['3.13.3-2', '3.13.3-1', '3.13.2-1', '3.12.9-1']);
    expect(plan.drop.map((x) => `${x.version}-${x.build}`)).toEqual(['3.13.1-1', '3.13.0rc1-1']);
    expect(keepNewest(items, (x) => x.line, 1).keep.map((x) => x.version)).toEqual(['3.13.3', '3.12.9']);
  });

  it('counts builds, not items: a build in two files (.tgz and .tar.zst) is one of the KEEP_BUILDS', () => {
    const both = (build: number) => [{ ...b('3.13.5', build), file: 'tgz' }, { ...b('3.13.5', build), file: 'zst' }];
    const plan = keepNewest([1, 2, 3, 4].flatMap(both), (x) => x.line);
    expect(plan.keep.map((x) => `${x.build}.${x.file}`)).toEqual(['4.tgz', '4.zst', '3.tgz', '3.zst', '2.tgz', '2.zst']);
    expect(plan.drop.map((x) => `${x.build}.${x.file}`)).toEqual(['1.tgz', '1.zst']);
  });
});

describe('runtimeGlibc', () => {
  it('is the glibc ldd reports on this machine, and leaves the report settings as they were', () => {
    const report = process.report as NodeJS.ProcessReport & { excludeNetwork?: boolean };
    const before = report.excludeNetwork;
    const ldd = execFileSync('ldd', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
    expect(runtimeGlibc()).toBe(/(\d+\.\d+)\s*$/.exec(ldd)?.[1]);
    expect(report.excludeNetwork).toBe(before);
  });
});

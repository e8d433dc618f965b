// comparePythons against a second real CPython: the harness's artifact (the host's python3 with
// part of its standard library left out), installed for real into a scratch CPY_HOME, compared
// with the host's /usr, with the shipped workload.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { errorOf, makeHostPythonArtifact, type TestArtifact } from '@cpy/harness';
import { installPython } from '@cpy/install';
import { compareMarkdown, comparePythons, type CompareReport } from '../src/index.js';

/** What makeHostPythonArtifact leaves out of the standard library (tools/harness/src/artifact.ts). */
const LEFT_OUT = ['idlelib', 'tkinter', 'turtledemo', 'ensurepip', 'lib2to3', 'pydoc_data', 'unittest', 'distutils'];

let work: string;
let artifact: TestArtifact;
let env: NodeJS.ProcessEnv;
let prefix: string;
let report: CompareReport;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-compare-it-'));
  artifact = await makeHostPythonArtifact(join(work, 'artifacts'));
  env = { ...process.env, CPY_HOME: join(work, 'home'), CPY_CACHE_DIR: join(work, 'cache') };
  const installed = await installPython({ artifactUrl: artifact.path, binDir: null }, { env });
  prefix = installed.prefix;
  report = await comparePythons({ a: '/usr', b: artifact.metadata.version, runs: 3, env });
}, 300_000);
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('comparePythons: /usr against an installed artifact', () => {
  it('finds the installed version in the CPY_HOME layout and runs the shipped workload on both', () => {
    expect(prefix).toBe(join(work, 'home', `python-${artifact.metadata.version}`));
    expect(report.a).toMatchObject({ kind: 'prefix', prefix: '/usr', python: '/usr/bin/python3', version: artifact.metadata.version });
    expect(report.b).toMatchObject({ kind: 'installed', given: artifact.metadata.version, prefix, python: join(prefix, 'bin', 'python3'), version: artifact.metadata.version });
    expect(report.b.executable.startsWith(prefix)).toBe(true);
    const benchmarks = ['nbody', 'fannkuch', 'spectral_norm', 'objects', 'json_roundtrip', 'regex'];
    expect(report.measures.map((m) => m.id)).toEqual(['startup.pass', 'startup.imports', 'rss.imports', ...benchmarks.map((b) => `workload.${b}`), 'workload.total']);
    for (const m of report.measures) {
      expect([m.a.values.length, m.b.values.length]).toEqual([3, 3]);
      expect(m.ratio).toBeCloseTo(m.b.median / m.a.median, 12);
      expect(m.regression).toBe(m.kind === 'time' && m.changePct > report.thresholdPct);
    }
    expect(report.thresholdPct).toBe(10);
    expect(report.regressed).toBe(report.regressions.length > 0);
  });

  it('reports the modules the artifact lacks: what it leaves out, and what imports those', () => {
    const { a, b, added, missing } = report.inventory;
    const expected = LEFT_OUT.filter((m) => a.imported.includes(m));
    expect(expected).toEqual(expect.arrayContaining(['unittest', 'pydoc_data']));
    expect(missing).toEqual(expect.arrayContaining(expected));
    // Anything else missing fails on B because it imports a module left out (doctest imports unittest).
    for (const m of missing.filter((n) => !LEFT_OUT.includes(n))) expect(b.failed[m]).toMatch(new RegExp(`No module named '(${LEFT_OUT.join('|')})`));
    expect(added).toEqual([]);
  });

  it('a python3 that does not answer as one does (it prints, and prints no answer) is said so, naming what it printed (it was JSON.parse\'s SyntaxError: "a bug in cpy")', async () => {
    const odd = join(work, 'odd');
    await mkdir(join(odd, 'bin'), { recursive: true });
    await writeFile(join(odd, 'bin', 'python3'), '#!/bin/sh\necho "hello from a wrapper"\n', { mode: 0o755 });
    const error = await errorOf(comparePythons({ a: '/usr', b: odd, runs: 3, env }));
    expect([error.code, error.message]).toEqual(['CPY_COMPARE_PYTHON_FAILED', `B (${odd}): ${join(odd, 'bin', 'python3')} did not answer as a python3 does: hello from a wrapper`]);
  });

  it('renders the comparison as Markdown', () => {
    const md = compareMarkdown(report);
    expect(md).toContain(`### CPython ${report.a.version} (A: /usr) vs CPython ${report.b.version} (B: ${report.b.version}, ${prefix})`);
    expect(md).toMatch(/\| workload: spectral_norm \| [\d.]+ ms \([\d.]+-[\d.]+\) \| [\d.]+ ms \([\d.]+-[\d.]+\) \| \d\.\d{3} \| /);
    expect(md).toContain('- only on B: none\n');
    expect(md).toMatch(/- only on A: .*`unittest`/);
  });
});

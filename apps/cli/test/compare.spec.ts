import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { makeHostPythonArtifact, runCpy, startCpy, type TestArtifact } from '@cpy/harness';

let work: string;
let artifact: TestArtifact;
let env: NodeJS.ProcessEnv;
let version: string;

const cpy = (args: string[]) => runCpy(args, { env });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-cli-compare-'));
  artifact = await makeHostPythonArtifact(join(work, 'artifacts'));
  version = artifact.metadata.version;
  env = { ...process.env, NO_COLOR: '1', CPY_HOME: join(work, 'home'), CPY_CACHE_DIR: join(work, 'cache') };
  const installed = await cpy(['install', '--from', artifact.path, '--no-link']);
  expect(installed.code).toBe(0);
}, 300_000);
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('cpy compare (the built bin): /usr against a version installed in CPY_HOME', () => {
  it('--json: one document with both interpreters, every measure and the module inventory; exit 1 only for a regression', async () => {
    const r = await cpy(['compare', '/usr', version, '--runs', '3', '--json']);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ outcome: 'success', command: 'compare' });
    const report = doc.compare;
    expect(r.code).toBe(report.regressed ? 1 : 0);
    expect(report.a).toMatchObject({ kind: 'prefix', prefix: '/usr', version });
    expect(report.b).toMatchObject({ kind: 'installed', prefix: join(work, 'home', `python-${version}`), version });
    expect(report.runs).toBe(3);
    expect(report.measures).toHaveLength(10);
    for (const m of report.measures) expect(m.ratio).toBeCloseTo(m.b.median / m.a.median, 12);
    // The artifact leaves out unittest and pydoc_data; --json keeps the private modules in every list.
    expect(report.inventory.missing).toEqual(expect.arrayContaining(['unittest', 'pydoc_data']));
    expect(report.inventory.a.imported).toEqual(expect.arrayContaining(['_ssl', '_sqlite3']));
    // Progress went to stderr, not into the JSON.
    expect(r.stderr).toMatch(/cpy A: CPython [\d.]+, \/usr\/bin\/python3\n/);
    expect(r.stderr).toContain(`cpy B: CPython ${version}, ${join(work, 'home', `python-${version}`, 'bin', 'python3')} (installed ${version})`);
    expect(r.stderr).toMatch(/cpy inventory: /);
  }, 300_000);

  it('--markdown: the table for release notes; --threshold decides the exit code', async () => {
    const md = await cpy(['compare', '/usr', version, '--runs', '1', '--markdown', '--threshold', '1000']);
    expect(md.code).toBe(0);
    expect(md.stdout).toMatch(new RegExp(`^### CPython ${version.replace(/\./g, '\\.')} \\(A: /usr\\) vs CPython`));
    expect(md.stdout).toContain('| measure | A | B | B/A | B against A |\n|---|--:|--:|--:|---|\n');
    expect(md.stdout).toMatch(/\| start-up: `python3 -c pass` \| [\d.]+ ms \([\d.]+-[\d.]+\) \| [\d.]+ ms \([\d.]+-[\d.]+\) \| \d+\.\d{3} \| (B is [\d.]+ % (faster|slower)|the same time)/);
    expect(md.stdout).toMatch(/- only on A: .*`unittest`/);
    expect(md.stdout).toContain('No timing of B is more than 1000 % slower than A.');

    const tripped = await cpy(['compare', '/usr', version, '--runs', '1', '--threshold=-100', '--json']);
    expect(tripped.code).toBe(1);
    const report = JSON.parse(tripped.stdout).compare;
    expect(report.regressed).toBe(true);
    expect(report.regressions).toEqual(report.measures.filter((m: { kind: string }) => m.kind === 'time').map((m: { id: string }) => m.id));

    const text = await cpy(['compare', '/usr', version, '--runs', '1', '--threshold=-100']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^A: CPython .*\nB: CPython /);
    expect(text.stdout).toMatch(/\nregression: start-up: python3 -c pass; /);
  }, 300_000);

  it('usage errors exit 2; an argument it cannot compare is a coded error, exit 1', async () => {
    // One install twice (its version and its line): refused before anything runs (it was measured against itself).
    const same = await cpy(['compare', version, version.split('.').slice(0, 2).join('.'), '--json']);
    expect([same.code, JSON.parse(same.stdout).error.code]).toEqual([1, 'CPY_COMPARE_SAME_PYTHON']);
    const one = await cpy(['compare', '/usr', '--json']);
    expect(one.code).toBe(2);
    expect(JSON.parse(one.stdout).error).toMatchObject({ code: 'CPY_CLI_USAGE', message: 'give two interpreters: installed versions (3.13.5) or prefixes (/usr)' });
    expect((await cpy(['compare', '/usr', '/usr', '--runs', '0'])).stderr).toMatch(/--runs: must be a whole number of runs/);
    expect((await cpy(['compare', '/usr', '/usr', '--threshold', 'ten'])).code).toBe(2);
    expect((await cpy(['compare', '/usr', '/usr', '--json', '--markdown'])).code).toBe(2);

    const missing = await cpy(['compare', '/usr', '3.99', '--json']);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout).error).toMatchObject({ code: 'CPY_COMPARE_NOT_INSTALLED', message: `B (3.99): no CPython 3.99 is installed by cpy (${join(work, 'home', 'state')} lists ${version})` });
    const file = await cpy(['compare', '/usr/bin/python3', '/usr']);
    expect(file.code).toBe(1);
    expect(file.stderr).toMatch(/\[CPY_COMPARE_NOT_A_PREFIX\]: A \(\/usr\/bin\/python3\): .*\n\s+hint: give the prefix the interpreter is installed under instead: \/usr/);

    const help = await cpy(['compare', '--help']);
    expect(help.stdout).toMatch(/Usage: cpy compare/);
    expect(help.stdout).toContain('--threshold');
    expect(help.stdout).toContain('--markdown');
  }, 120_000);

  it('Ctrl-C while it measures: the interpreter running is ended, its scratch directory removed, CPY_COMPARE_CANCELLED (exit 1)', async () => {
    // Its own TMPDIR, so that what the comparison leaves there is seen.
    const scratch = join(work, 'tmp-compare');
    await mkdir(scratch);
    const run = startCpy(['compare', '/usr', version, '--runs', '200', '--json'], { env: { ...env, TMPDIR: scratch } });
    await run.until(/cpy start-up: /);
    expect((await readdir(scratch)).filter((n) => n.startsWith('cpy-compare-'))).toHaveLength(1);
    run.child.kill('SIGINT');
    expect(await run.closed).toBe(1);
    expect(run.stderr()).toMatch(/stopping the comparison/);
    expect(JSON.parse(run.stdout()).error).toMatchObject({ code: 'CPY_COMPARE_CANCELLED', message: expect.stringContaining('was stopped') });
    expect(await readdir(scratch)).toEqual([]);
  }, 120_000);
});

import { existsSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { errorOf } from '@cpy/harness';
import {
  compareMarkdown,
  comparePythons,
  compareSeries,
  diffInventories,
  INVENTORY_SOURCE,
  inventorySummary,
  publicModules,
  summarize,
  WORKLOAD_SOURCE,
  type CompareEvent,
  type CompareReport,
  type ComparedPython,
  type ModuleInventory,
} from '../index.js';

const HOST_PYTHON = '/usr/bin/python3';
let work: string;
let cpyHome: string;
let tinyWorkload: string;

const inventory = (imported: string[], failed: Record<string, string> = {}): ModuleInventory => ({ source: 'sys.stdlib_module_names', tried: imported.length + Object.keys(failed).length, imported, failed, skipped: ['antigravity'] });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-compare-'));
  // A cpy layout with two "installed" versions: 3.11.2 runs the host's python3 from a script of
  // its own (a link would be the same python3 as /usr's, which compare refuses); 3.11.9 has no marker.
  cpyHome = join(work, 'home');
  const good = join(cpyHome, 'python-3.11.2');
  await mkdir(join(good, 'bin'), { recursive: true });
  await writeFile(join(good, 'bin', 'python3'), `#!/bin/sh\nexec ${HOST_PYTHON} "$@"\n`, { mode: 0o755 });
  // The landmark CPython finds its prefix by: without it, the install is damaged (treeDamage).
  await mkdir(join(good, 'lib', 'python3.11'), { recursive: true });
  await writeFile(join(good, 'lib', 'python3.11', 'os.py'), '');
  const marker = { schemaVersion: 1, version: '3.11.2', build: 1, sha256: 'a'.repeat(64), artifact: 'cpython-3.11.2-testhost1-build1.tgz', source: 'test', builtFor: '/opt/python-3.11.2', installedAt: new Date(0).toISOString() };
  await writeFile(join(good, '.cpy-install.json'), JSON.stringify(marker));
  await mkdir(join(cpyHome, 'python-3.11.9', 'bin'), { recursive: true });
  await mkdir(join(cpyHome, 'state'), { recursive: true });
  const installs = { '3.11.2': { prefix: good }, '3.11.9': { prefix: join(cpyHome, 'python-3.11.9') } };
  await writeFile(join(cpyHome, 'state', 'state.json'), JSON.stringify({ schemaVersion: 1, installs, previous: null }));
  // A workload that takes no time: the real one is run by the integration test.
  await mkdir(join(work, 'shadow'));
  await writeFile(join(work, 'shadow', 'json.py'), 'raise ImportError("the PYTHONPATH of the caller reached the child")\n');
  tinyWorkload = join(work, 'tiny.py');
  await writeFile(tinyWorkload, 'import json, time\nt = time.perf_counter()\nsum(range(20000))\nprint(json.dumps({"sum": time.perf_counter() - t, "fixed": 0.002}))\n');
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('compareSeries, summarize: the arithmetic, on crafted measurements', () => {
  it('takes the median (the middle two averaged for an even count), min and max', () => {
    expect(summarize([30, 10, 20])).toEqual({ median: 20, min: 10, max: 30, values: [30, 10, 20] });
    expect(summarize([4, 1, 3, 2])).toMatchObject({ median: 2.5, min: 1, max: 4 });
  });

  it('gives B/A of the medians and the change in percent, and flags a timing of B slower than the threshold', () => {
    const series = [
      { id: 'slow', label: 'slower B', kind: 'time' as const, unit: 'ms' as const, a: [10, 12, 11], b: [13, 14, 12.5] },
      { id: 'fast', label: 'faster B', kind: 'time' as const, unit: 'ms' as const, a: [20, 20, 21], b: [15, 16, 15] },
      { id: 'rss', label: 'memory', kind: 'memory' as const, unit: 'KiB' as const, a: [1000], b: [2000] },
    ];
    const [slow, fast, rss] = compareSeries(series, 10);
    expect(slow).toMatchObject({ ratio: 13 / 11, better: 'A', regression: true, summary: 'B is 18.2 % slower' });
    expect(slow!.changePct).toBeCloseTo((13 / 11 - 1) * 100, 10);
    expect(fast).toMatchObject({ ratio: 0.75, changePct: -25, better: 'B', regression: false, summary: 'B is 25.0 % faster' });
    // Memory is reported, never a regression, however much larger.
    expect(rss).toMatchObject({ ratio: 2, better: 'A', regression: false, summary: 'B uses 100.0 % more memory' });
    // The threshold decides: 18 % slower is within 20 %.
    expect(compareSeries(series, 20)[0]!.regression).toBe(false);
    // -100 %: every timing of B counts as a regression, even a faster one.
    expect(compareSeries(series, -100).map((m) => m.regression)).toEqual([true, true, false]);
    expect(compareSeries([{ ...series[0]!, b: series[0]!.a }], 10)[0]).toMatchObject({ ratio: 1, better: null, summary: 'the same time (within 0.1 %)' });
  });

  it('lists the modules that import on only one side, and leaves the private ones out of the summary', () => {
    const a = inventory(['json', 'lib2to3', 'ssl', 'telnetlib', '_ssl', '_tkinter'], { tomllib: "ModuleNotFoundError: No module named 'tomllib'" });
    const b = inventory(['json', 'ssl', 'tomllib', '_ssl', '_interpreters']);
    const diff = diffInventories(a, b);
    expect(diff.added).toEqual(['_interpreters', 'tomllib']);
    expect(diff.missing).toEqual(['_tkinter', 'lib2to3', 'telnetlib']);
    expect(publicModules(diff.missing)).toEqual(['lib2to3', 'telnetlib']);
    expect(inventorySummary(diff)).toEqual({ added: ['tomllib'], missing: ['lib2to3', 'telnetlib'], privateDiffer: 2 });
  });

  it('renders Markdown: one row per measure, the regression in bold, the module differences', () => {
    const side = (s: 'A' | 'B', version: string, prefix: string): ComparedPython => ({ side: s, given: prefix, kind: 'prefix', prefix, python: `${prefix}/bin/python3`, version, implementation: 'CPython', executable: `${prefix}/bin/python3.x` });
    const measures = compareSeries(
      [
        { id: 'startup.pass', label: 'start-up: `python3 -c pass`', kind: 'time', unit: 'ms', a: [10, 11, 12], b: [14, 15, 16] },
        { id: 'workload.total', label: 'workload: total', kind: 'time', unit: 'ms', a: [1500, 1400, 1600], b: [1000, 1100, 1200] },
      ],
      10,
    );
    const report: CompareReport = {
      a: side('A', '3.11.2', '/usr'),
      b: side('B', '3.13.5', '/opt/python-3.13.5'),
      runs: 3,
      warmup: 2,
      thresholdPct: 10,
      measures,
      inventory: diffInventories(inventory(['json', 'lib2to3', '_tkinter']), inventory(['json', 'tomllib'])),
      regressions: ['startup.pass'],
      regressed: true,
      startedAt: new Date(0).toISOString(),
      durationMs: 1,
    };
    const md = compareMarkdown(report);
    expect(md).toContain('### CPython 3.11.2 (A: /usr) vs CPython 3.13.5 (B: /opt/python-3.13.5)');
    expect(md).toContain('| measure | A | B | B/A | B against A |\n|---|--:|--:|--:|---|\n');
    expect(md).toContain('| start-up: `python3 -c pass` | 11.0 ms (10.0-12.0) | 15.0 ms (14.0-16.0) | 1.364 | **B is 36.4 % slower: regression (over 10 %)** |');
    expect(md).toContain('| workload: total | 1.50 s (1.40-1.60) | 1.10 s (1.00-1.20) | 0.733 | B is 26.7 % faster |');
    expect(md).toContain('- only on B: `tomllib`\n- only on A: `lib2to3`\n');
    expect(md).toContain('1 of them differ');
    expect(md).toContain('**Regression**: start-up: `python3 -c pass`.');
  });
});

describe('comparePythons: real interpreters', () => {
  it('ships its Python scripts beside the module (python/ in the package)', () => {
    expect(existsSync(fileURLToPath(WORKLOAD_SOURCE))).toBe(true);
    expect(existsSync(fileURLToPath(INVENTORY_SOURCE))).toBe(true);
  });

  it('compares an installed version with a prefix: every measure with its samples, B/A from the medians, the same modules on both', async () => {
    const events: CompareEvent[] = [];
    const report = await comparePythons({
      a: '3.11.2',
      b: '/usr',
      runs: 3,
      warmup: 1,
      workload: tinyWorkload,
      // A json.py on PYTHONPATH would break `import json`: children run without PYTHON* variables.
      env: { ...process.env, CPY_HOME: cpyHome, PYTHONPATH: join(work, 'shadow') },
      onEvent: (e) => events.push(e),
    });
    expect(report.a).toMatchObject({ side: 'A', given: '3.11.2', kind: 'installed', prefix: join(cpyHome, 'python-3.11.2'), implementation: 'CPython' });
    expect(report.b).toMatchObject({ side: 'B', given: '/usr', kind: 'prefix', prefix: '/usr', python: '/usr/bin/python3', version: report.a.version });
    expect(report.measures.map((m) => m.id)).toEqual(['startup.pass', 'startup.imports', 'rss.imports', 'workload.sum', 'workload.fixed', 'workload.total']);
    for (const m of report.measures) {
      expect(m.a.values).toHaveLength(3);
      expect(m.b.values).toHaveLength(3);
      expect(m.a.median).toBe(summarize(m.a.values).median);
      expect(m.ratio).toBeCloseTo(m.b.median / m.a.median, 12);
      expect(m.changePct).toBeCloseTo((m.b.median / m.a.median - 1) * 100, 9);
      expect(m.regression).toBe(m.kind === 'time' && m.changePct > 10);
      expect(m.a.min).toBeGreaterThan(0);
    }
    const byId = Object.fromEntries(report.measures.map((m) => [m.id, m]));
    expect(byId['workload.fixed']!.a.values).toEqual([2, 2, 2]);
    expect(byId['workload.total']!.a.values.map((v, i) => v - byId['workload.sum']!.a.values[i]!)).toEqual([2, 2, 2].map((x) => expect.closeTo(x, 9)));
    // Peak RSS in KiB: a few MiB, not bytes or pages.
    expect(byId['rss.imports']!.a.median).toBeGreaterThan(2_000);
    expect(byId['rss.imports']!.a.median).toBeLessThan(500_000);
    expect(report.regressed).toBe(report.regressions.length > 0);
    expect(report.regressions).toEqual(report.measures.filter((m) => m.regression).map((m) => m.id));
    // The same interpreter on both sides: the same modules import.
    expect(report.inventory.a.source).toBe('sys.stdlib_module_names');
    expect(report.inventory.a.imported).toEqual(report.inventory.b.imported);
    expect(report.inventory.a.imported).toEqual(expect.arrayContaining(['json', 'ssl', 'sqlite3', 'asyncio', '_ssl']));
    expect(report.inventory.a.skipped).toEqual(['antigravity']);
    expect(report.inventory.a.failed['winreg']).toMatch(/ModuleNotFoundError/);
    expect([report.inventory.added, report.inventory.missing]).toEqual([[], []]);
    expect(events.map((e) => (e.type === 'phase' ? e.phase : e.type === 'run' ? `${e.phase} ${e.run}/${e.of}` : `resolved ${e.python.side}`))).toEqual([
      'resolved A',
      'resolved B',
      'warm-up',
      'start-up',
      'start-up 1/3',
      'start-up 2/3',
      'start-up 3/3',
      'workload',
      'workload 1/3',
      'workload 2/3',
      'workload 3/3',
      'inventory',
    ]);
  }, 120_000);

  it('with a threshold of -100 %, every timing is a regression (memory never is); a line is its newest whole install', async () => {
    // 3.11: 3.11.9 is newer, but broken (as cpy use and cpy venv upgrade choose).
    const report = await comparePythons({ a: '3.11', b: '/usr', runs: 1, warmup: 0, thresholdPct: -100, workload: tinyWorkload, env: { ...process.env, CPY_HOME: cpyHome } });
    expect(report.a).toMatchObject({ kind: 'installed', prefix: join(cpyHome, 'python-3.11.2') });
    expect(report.regressed).toBe(true);
    expect(report.regressions).toEqual(report.measures.filter((m) => m.kind === 'time').map((m) => m.id));
    expect(report.measures.find((m) => m.kind === 'memory')!.regression).toBe(false);
  }, 120_000);
});

describe('comparePythons: arguments it cannot compare, each a coded error that names it', () => {
  const env = () => ({ ...process.env, CPY_HOME: cpyHome });

  it('a directory that does not exist, a file, a bin directory, a prefix without python3', async () => {
    const missing = await errorOf(comparePythons({ a: '/usr', b: join(work, 'nowhere'), env: env() }));
    expect(missing).toMatchObject({ code: 'CPY_COMPARE_NOT_FOUND', message: `B (${join(work, 'nowhere')}): ${join(work, 'nowhere')} does not exist` });
    expect(missing.hint).toMatch(/installed version \(see cpy list\) or a prefix directory holding bin\/python3/);
    expect(await errorOf(comparePythons({ a: HOST_PYTHON, b: '/usr', env: env() }))).toMatchObject({
      code: 'CPY_COMPARE_NOT_A_PREFIX',
      message: `A (${HOST_PYTHON}): ${HOST_PYTHON} is a file, not a prefix directory`,
      hint: 'give the prefix the interpreter is installed under instead: /usr',
    });
    expect(await errorOf(comparePythons({ a: '/usr/bin', b: '/usr', env: env() }))).toMatchObject({ code: 'CPY_COMPARE_NO_PYTHON', hint: 'give the prefix, not its bin directory: /usr' });
    expect(await errorOf(comparePythons({ a: '/usr', b: work, env: env() }))).toMatchObject({ code: 'CPY_COMPARE_NO_PYTHON', message: `B (${work}): ${work} has no bin/python3` });
  });

  it('a release line with only a pre-release of it installed: told to give the pre-release (it was told to install the line, which has no final release)', async () => {
    const stateDir = join(work, 'pre-state');
    await mkdir(stateDir, { recursive: true });
    await writeFile(join(stateDir, 'state.json'), JSON.stringify({ schemaVersion: 1, installs: { '3.14.0rc1': { prefix: join(work, 'python-3.14.0rc1') } }, previous: null }));
    const e = await errorOf(comparePythons({ a: '3.14', b: '/usr', stateDir, env: env() }));
    expect([e.code, e.hint]).toEqual(['CPY_COMPARE_NOT_INSTALLED', '3.14 names final releases only: give the pre-release itself (3.14.0rc1)']);
  });

  it('a version cpy has not installed (naming what is), an install without its marker', async () => {
    const e = await errorOf(comparePythons({ a: '3.13', b: '/usr', env: env() }));
    expect(e).toMatchObject({ code: 'CPY_COMPARE_NOT_INSTALLED', message: `A (3.13): no CPython 3.13 is installed by cpy (${join(cpyHome, 'state')} lists 3.11.2, 3.11.9)` });
    expect(e.hint).toMatch(/^install it first \(cpy install 3\.13;/);
    // Its marker is gone: cpy install would refuse the files there, so deleting them comes first.
    const prefix = join(cpyHome, 'python-3.11.9');
    expect(await errorOf(comparePythons({ a: '/usr', b: '3.11.9', env: env() }))).toMatchObject({
      code: 'CPY_COMPARE_BROKEN_INSTALL',
      hint: `its install marker is gone, so cpy does not replace the files in ${prefix}: if they are that install, delete ${prefix} yourself, then install it again (cpy install 3.11.9 --prefix ${prefix})`,
    });
    // A tree that cannot start is said as such, with what repairs it (it was run, and said as a prefix given by hand).
    const good = join(cpyHome, 'python-3.11.2');
    await rename(join(good, 'lib', 'python3.11', 'os.py'), join(good, 'lib', 'python3.11', 'os.py.aside'));
    try {
      expect(await errorOf(comparePythons({ a: '3.11.2', b: '/usr', env: env() }))).toMatchObject({
        code: 'CPY_COMPARE_BROKEN_INSTALL',
        message: `A (3.11.2): the install of CPython 3.11.2 in ${good} is damaged (lib/python3.11/os.py is missing)`,
        hint: `install it again (cpy install 3.11.2 --prefix ${good}): its tree is replaced`,
      });
    } finally {
      await rename(join(good, 'lib', 'python3.11', 'os.py.aside'), join(good, 'lib', 'python3.11', 'os.py'));
    }
  });

  it('a python3 that does not run; options out of range', async () => {
    const prefix = join(work, 'broken-prefix');
    await mkdir(join(prefix, 'bin'), { recursive: true });
    await writeFile(join(prefix, 'bin', 'python3'), '#!/bin/sh\necho "cannot start: no libpython" >&2\nexit 3\n', { mode: 0o755 });
    const e = await errorOf(comparePythons({ a: '/usr', b: prefix, env: env() }));
    expect(e.code).toBe('CPY_COMPARE_PYTHON_FAILED');
    expect(e.message).toMatch(new RegExp(`^B \\(${prefix}\\): ${prefix}/bin/python3 does not run: .*exited with 3: cannot start: no libpython$`));
    expect(await errorOf(comparePythons({ a: '/usr', b: '/usr', runs: 0 }))).toMatchObject({ code: 'CPY_COMPARE_BAD_OPTION' });
    expect(await errorOf(comparePythons({ a: '/usr', b: '/usr', thresholdPct: Number.NaN }))).toMatchObject({ code: 'CPY_COMPARE_BAD_OPTION' });
  });

  it('stopped (Ctrl-C) while a python3 starts: said as the stop (it was "does not run"), at once', async () => {
    const prefix = join(work, 'slow-prefix');
    await mkdir(join(prefix, 'bin'), { recursive: true });
    await writeFile(join(prefix, 'bin', 'python3'), '#!/bin/sh\nsleep 30\n', { mode: 0o755 });
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 300);
    const started = Date.now();
    const e = await errorOf(comparePythons({ a: prefix, b: '/usr', env: env(), signal: stop.signal }));
    expect(e.code).toBe('CPY_COMPARE_CANCELLED');
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it("the user's own site-packages is not on either side's path (-s): a .pth there does not run", async () => {
    const home = join(work, 'home-with-pth');
    const userSite = (await import('node:child_process')).execFileSync(HOST_PYTHON, ['-c', 'import site; print(site.getusersitepackages())'], { env: { ...env(), HOME: home, PYTHONUSERBASE: '' }, encoding: 'utf8' }).trim();
    await mkdir(userSite, { recursive: true });
    const marker = join(work, 'pth-ran');
    await writeFile(join(userSite, 'slow.pth'), `import os; open(${JSON.stringify(marker)}, 'a').write('ran\\n')\n`);
    await comparePythons({ a: '/usr', b: join(cpyHome, 'python-3.11.2'), runs: 1, warmup: 0, workload: tinyWorkload, env: { ...env(), HOME: home } });
    expect(existsSync(marker)).toBe(false);
  });

  it('one install reached twice (its version and its line, its prefix and its version) is refused before anything runs: it compared it with itself and flagged its noise', async () => {
    const good = join(cpyHome, 'python-3.11.2');
    for (const [a, b] of [
      ['3.11.2', '3.11.2'],
      [good, '3.11.2'],
      [`${good}/`, good],
      ['/usr', '/usr/../usr'],
    ]) {
      const e = await errorOf(comparePythons({ a: a!, b: b!, env: env() }));
      expect(e).toMatchObject({ code: 'CPY_COMPARE_SAME_PYTHON', message: `A (${a}) and B (${b}) are the same install: ${a!.startsWith('/usr') ? '/usr' : good}` });
    }
    // Two prefixes, one interpreter: a link to another prefix's python3 (as / and /usr are where /bin is a link to usr/bin).
    const other = join(cpyHome, 'elsewhere');
    await mkdir(join(other, 'bin'), { recursive: true });
    await symlink(join(good, 'bin', 'python3'), join(other, 'bin', 'python3'));
    const e = await errorOf(comparePythons({ a: other, b: '3.11.2', env: env() }));
    expect(e).toMatchObject({
      code: 'CPY_COMPARE_SAME_PYTHON',
      message: `A (${other}) and B (3.11.2) run the same python3: ${realpathSync(join(good, 'bin', 'python3'))} (${other}/bin/python3 and ${good}/bin/python3)`,
    });
  });
});

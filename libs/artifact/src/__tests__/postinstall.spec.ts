import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { isCpyError } from '@cpy/core';
import { checkPythonTree, hostRunner, POSTINSTALL_ENTRY, POSTINSTALL_SOURCE, PREFIX_SLOT_MARKER, PREFIX_SLOT_PADDING, relocateTree, RESOLVE_EXECUTABLE_PTH, type PythonRunner } from '../postinstall.js';

const run = promisify(execFile);
const OLD = '/opt/python-3.99.0';

let work: string;
let tree: string;

/** What cpy's build compiles getpath's PREFIX into: the prefix, NULs, the marker (a C literal's bytes, with its NUL). */
const slot = (prefix: string) => Buffer.concat([Buffer.from(prefix), Buffer.alloc(PREFIX_SLOT_PADDING), Buffer.from(`${PREFIX_SLOT_MARKER}\0`)]);
/** An ELF file as the interpreter and libpython hold the slot (PREFIX and EXEC_PREFIX), between other data. */
const elfWithSlots = (prefix: string) =>
  Buffer.concat([Buffer.from('\x7fELF\x02\x01\x01', 'latin1'), Buffer.from([1, 2, 3]), slot(prefix), Buffer.from(`${prefix}/lib/python3.99\0`), Buffer.from([7, 7]), slot(prefix), Buffer.from('end')]);

/** A tree laid out as `make install` leaves it, with the files that name the prefix. */
async function makeTree(root: string): Promise<void> {
  const lib = join(root, 'lib', 'python3.99');
  await mkdir(join(lib, '__pycache__'), { recursive: true });
  await mkdir(join(lib, 'config-3.99-x86_64-linux-gnu'), { recursive: true });
  await mkdir(join(root, 'lib', 'pkgconfig'), { recursive: true });
  await mkdir(join(root, 'bin'), { recursive: true });
  await mkdir(join(root, 'share', 'cpy'), { recursive: true });
  await copyFile(POSTINSTALL_SOURCE, join(root, POSTINSTALL_ENTRY));
  await writeFile(
    join(lib, '_sysconfigdata__linux_x86_64-linux-gnu.py'),
    `build_time_vars = {'prefix': '${OLD}', 'INCLUDEPY': '${OLD}/include/python3.99', 'LIBDIR': "${OLD}/lib", 'OTHER': '${OLD}0/lib', 'CONFIG_ARGS': "'--prefix=${OLD}'"}\n`,
  );
  await writeFile(join(lib, 'config-3.99-x86_64-linux-gnu', 'Makefile'), `prefix=\t\t${OLD}\nLIBPL=\t\t${OLD}/lib/python3.99/config\n`);
  await writeFile(join(root, 'lib', 'pkgconfig', 'python-3.99.pc'), `prefix=${OLD}\nincludedir=\${prefix}/include\n`);
  await symlink('python-3.99.pc', join(root, 'lib', 'pkgconfig', 'python3.pc'));
  await writeFile(join(root, 'bin', 'pip3'), `#!${OLD}/bin/python3.99\n# -*- coding: utf-8 -*-\nprint("${OLD} stays in the body")\n`, { mode: 0o755 });
  await writeFile(join(root, 'bin', 'python3.99-config'), `#!/bin/sh\nprefix_build="${OLD}"\n`, { mode: 0o755 });
  await writeFile(join(root, 'bin', 'tool'), `#!${OLD}0/bin/python3.99\n`, { mode: 0o755 });
  await writeFile(join(root, 'bin', 'python3.99'), elfWithSlots(OLD), { mode: 0o755 });
  await writeFile(join(root, 'lib', 'libpython3.99.so.1.0'), elfWithSlots(OLD), { mode: 0o755 });
  await symlink('libpython3.99.so.1.0', join(root, 'lib', 'libpython3.99.so'));
}

/** Runs the script with this host's python3, as the artifact's python3 would run it. */
const hostPython: PythonRunner = async (_file, args) => {
  try {
    const r = await run('python3', [...args]);
    return { exitCode: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { exitCode: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
};

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-postinstall-'));
  tree = join(work, 'tree');
  await makeTree(tree);
  // Bytecode of the sysconfig data, as `make install` compiles it.
  await run('python3', ['-m', 'py_compile', join(tree, 'lib', 'python3.99', '_sysconfigdata__linux_x86_64-linux-gnu.py')]);
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('relocateTree (share/cpy/postinstall.py relocate)', () => {
  it('rewrites the prefix as a whole path in the sysconfig data, Makefile, .pc files, -config script and #! lines, and nothing else', async () => {
    const to = '/srv/tools/python';
    const r = await relocateTree(tree, OLD, to, hostPython);
    expect(r.tooLong).toEqual([]);
    expect(r.rewritten.sort()).toEqual(
      [
        'bin/pip3',
        'bin/python3.99',
        'bin/python3.99-config',
        'lib/libpython3.99.so.1.0',
        'lib/pkgconfig/python-3.99.pc',
        'lib/python3.99/_sysconfigdata__linux_x86_64-linux-gnu.py',
        'lib/python3.99/config-3.99-x86_64-linux-gnu/Makefile',
      ].sort(),
    );
    const data = await readFile(join(tree, 'lib', 'python3.99', '_sysconfigdata__linux_x86_64-linux-gnu.py'), 'utf8');
    expect(data).toContain(`'prefix': '${to}'`);
    expect(data).toContain(`'INCLUDEPY': '${to}/include/python3.99'`);
    expect(data).toContain(`"${to}/lib"`);
    expect(data).toContain(`--prefix=${to}'`);
    // Another directory that only starts with the same characters is left alone.
    expect(data).toContain(`'${OLD}0/lib'`);
    expect(await readFile(join(tree, 'bin', 'tool'), 'utf8')).toBe(`#!${OLD}0/bin/python3.99\n`);
    // Only the #! line of a script: its body is the script's business.
    expect(await readFile(join(tree, 'bin', 'pip3'), 'utf8')).toBe(`#!${to}/bin/python3.99\n# -*- coding: utf-8 -*-\nprint("${OLD} stays in the body")\n`);
    expect((await stat(join(tree, 'bin', 'pip3'))).mode & 0o777).toBe(0o755);
    expect(await readFile(join(tree, 'lib', 'pkgconfig', 'python3.pc'), 'utf8')).toContain(`prefix=${to}\n`);
    expect(await readFile(join(tree, 'lib', 'python3.99', 'config-3.99-x86_64-linux-gnu', 'Makefile'), 'utf8')).toBe(`prefix=\t\t${to}\nLIBPL=\t\t${to}/lib/python3.99/config\n`);
    // The bytecode was compiled again from the rewritten source.
    const { stdout } = await run('python3', ['-c', `import importlib.util, marshal; d = open(importlib.util.cache_from_source(${JSON.stringify(join(tree, 'lib', 'python3.99', '_sysconfigdata__linux_x86_64-linux-gnu.py'))}), 'rb').read()[16:]; print(marshal.loads(d).co_consts)`]);
    expect(stdout).toContain(to);
    expect(stdout).not.toContain(`'${OLD}'`);
    // ...with the header Python's loader checks before it uses the bytecode (PEP 552: magic, a
    // timestamp .pyc, the source's mtime and size), as py_compile writes it.
    const header = await run('python3', [
      '-c',
      `import importlib.util, os, sys; p = sys.argv[1]; d = open(importlib.util.cache_from_source(p), 'rb').read(16); s = os.stat(p); print(d[:4] == importlib.util.MAGIC_NUMBER, d[4:8] == bytes(4), int.from_bytes(d[8:12], 'little') == int(s.st_mtime) & 0xFFFFFFFF, int.from_bytes(d[12:16], 'little') == s.st_size)`,
      join(tree, 'lib', 'python3.99', '_sysconfigdata__linux_x86_64-linux-gnu.py'),
    ]);
    expect(header.stdout.trim()).toBe('True True True True');
    // The prefix compiled into the interpreter and libpython: written over, the same size, the
    // marker kept (a relocation again finds it); a longer path that only starts with it is not.
    const before = elfWithSlots(OLD);
    for (const file of [join(tree, 'bin', 'python3.99'), join(tree, 'lib', 'libpython3.99.so.1.0')]) {
      const after = await readFile(file);
      expect(after.length).toBe(before.length);
      const moved = Buffer.concat([Buffer.from(to), Buffer.alloc(OLD.length + PREFIX_SLOT_PADDING - to.length), Buffer.from(`${PREFIX_SLOT_MARKER}\0`)]);
      expect(after.toString('latin1')).toBe(before.toString('latin1').replaceAll(slot(OLD).toString('latin1'), moved.toString('latin1')));
      expect(after.toString('latin1')).toContain(`${OLD}/lib/python3.99\0`);
      expect((await stat(file)).mode & 0o777).toBe(0o755);
    }
  });

  it('a prefix longer than the room cpy\'s build left after the compiled-in one: the binaries are left as they are, the rest relocated', async () => {
    const other = join(work, 'long-prefix');
    await makeTree(other);
    const to = `/srv/${'p'.repeat(OLD.length + PREFIX_SLOT_PADDING)}`;
    const r = await relocateTree(other, OLD, to, async (_file, args) => hostPython(_file, args.map((a) => (a.startsWith(tree) ? a.replace(tree, other) : a))));
    expect(r.rewritten).not.toContain('bin/python3.99');
    expect(r.rewritten).toContain('lib/pkgconfig/python-3.99.pc');
    expect(await readFile(join(other, 'bin', 'python3.99'))).toEqual(elfWithSlots(OLD));
  });

  it('prints what it rewrote as JSON, a name of any characters escaped', async () => {
    const other = join(work, 'names');
    await makeTree(other);
    const odd = 'tool "quoted" \\ tab\there é';
    await writeFile(join(other, 'bin', odd), `#!${OLD}/bin/python3.99\n`, { mode: 0o755 });
    const r = await relocateTree(other, OLD, '/srv/odd', hostPython);
    expect(r.rewritten).toContain(`bin/${odd}`);
    expect(await readFile(join(other, 'bin', odd), 'utf8')).toBe('#!/srv/odd/bin/python3.99\n');
  });

  it('a prefix with a space, or a #! line longer than a kernel reads: a Python script starts from /bin/sh, as pip writes its own, and runs', async () => {
    for (const [name, to] of [
      ['space', join(work, 'with space', 'python')],
      ['long', join(work, 'long', 'x'.repeat(130), 'python')],
    ] as const) {
      await makeTree(to);
      // The tree's interpreter: this host's python3.
      await rm(join(to, 'bin', 'python3.99'));
      await symlink((await run('python3', ['-c', 'import sys; print(sys.executable)'])).stdout.trim(), join(to, 'bin', 'python3.99'));
      await writeFile(join(to, 'bin', 'other'), `#!${OLD}/bin/other-tool\n`, { mode: 0o755 });
      const r = await relocateTree(to, OLD, to, hostPython);
      expect([name, r.rewritten]).toEqual([name, expect.arrayContaining(['bin/pip3', 'bin/other'])]);
      const pip3 = await readFile(join(to, 'bin', 'pip3'), 'utf8');
      expect(pip3.split('\n').slice(0, 3)).toEqual(['#!/bin/sh', `'''exec' '${to}/bin/python3.99' "$0" "$@"`, "' '''"]);
      expect((await run(join(to, 'bin', 'pip3'), [])).stdout).toBe(`${OLD} stays in the body\n`);
      expect([name, r.tooLong]).toEqual([name, []]);
    }
  });

  it('flags a #! line longer than Linux reads, when it cannot start from /bin/sh', async () => {
    const other = join(work, 'long-other');
    await makeTree(other);
    await writeFile(join(other, 'bin', 'other'), `#!${OLD}/bin/other-tool\n`, { mode: 0o755 });
    const long = `/opt/${'x'.repeat(260)}`;
    const r = await relocateTree(other, OLD, long, hostPython);
    expect(r.tooLong).toEqual(['other']);
    expect((await readFile(join(other, 'bin', 'pip3'), 'utf8')).startsWith(`#!/bin/sh\n'''exec' '${long}/bin/python3.99'`)).toBe(true);
  });

  it('says what is wrong when the artifact has no post-install script', async () => {
    const bare = join(work, 'bare');
    await mkdir(join(bare, 'bin'), { recursive: true });
    const error = await relocateTree(bare, OLD, '/x', hostPython).catch((e: unknown) => e);
    expect(isCpyError(error, 'CPY_ARTIFACT_NO_POSTINSTALL')).toBe(true);
    expect((error as Error).message).toMatch(/packed by an older cpy/);
  });
});

describe('checkPythonTree: whose checks run', () => {
  it("this cpy's postinstall.py check, not the artifact's copy (an older cpy's, or one that says every check passed); the artifact must still carry one", async () => {
    const liar = join(work, 'liar');
    await makeTree(liar);
    await writeFile(join(liar, POSTINSTALL_ENTRY), 'print(\'{"version": "3.99.0", "failed": {}, "checks": [{"id": "critical-modules", "ok": true, "detail": ""}]}\')\n');
    const ran: string[][] = [];
    const runner: PythonRunner = async (_python, args) => {
      ran.push([...args]);
      const script = await readFile(args[1]!, 'utf8');
      const honest = script === (await readFile(POSTINSTALL_SOURCE, 'utf8'));
      return { exitCode: honest ? 1 : 0, stdout: JSON.stringify({ version: '3.99.0', failed: {}, checks: [{ id: 'critical-modules', ok: !honest, detail: honest ? 'ssl: No module named _ssl' : '' }] }) + '\n', stderr: '' };
    };
    const checks = await checkPythonTree(liar, '3.99.0', { workDir: join(work, 'liar-checks'), runner });
    expect(checks).toEqual([{ id: 'critical-modules', ok: false, detail: 'ssl: No module named _ssl' }]);
    expect(ran).toHaveLength(1);
    expect(ran[0]![1]).toBe(join(work, 'liar-checks', 'cpy-checks.py'));
    expect(ran[0]!.slice(2, 4)).toEqual(['check', '--version']);
    // No script of its own: said, nothing run (the installers could not relocate it).
    const bare = join(work, 'bare-checks');
    await mkdir(join(bare, 'bin'), { recursive: true });
    expect(await checkPythonTree(bare, '3.99.0', { workDir: join(work, 'bare-checks-work'), runner })).toEqual([{ id: 'postinstall', ok: false, detail: expect.stringContaining('packed by an older cpy') }]);
    expect(ran).toHaveLength(1);
  });
});

describe('check_sysconfig (share/cpy/postinstall.py check), in a staged tree', () => {
  /**
   * check_sysconfig's report for a tree staged at `here` that will be at `installed`, with a
   * sysconfig that answers `prefix` and `exec_prefix` with `prefixIs` (sysconfig of the release
   * that reads them from sys.prefix: the staging path; of another: the relocated data's value).
   */
  async function staged(prefixIs: 'sys.prefix' | 'data' | 'elsewhere'): Promise<{ id: string; ok: boolean; detail: string }> {
    const here = join(work, `staged-${prefixIs}`, 'opt', 'python-3.99.0');
    const installed = '/opt/python-3.99.0';
    for (const dir of ['lib/python3.99/site-packages', 'include/python3.99', 'bin', 'lib/python3.99/config-3.99']) await mkdir(join(here, dir), { recursive: true });
    await writeFile(join(here, 'include', 'python3.99', 'Python.h'), '');
    const driver = `
import importlib.util, json, sys, types
spec = importlib.util.spec_from_file_location("postinstall", ${JSON.stringify(POSTINSTALL_SOURCE)})
post = importlib.util.module_from_spec(spec); spec.loader.exec_module(post)
here, installed = ${JSON.stringify(here)}, ${JSON.stringify(installed)}
paths = {"stdlib": "/lib/python3.99", "platstdlib": "/lib/python3.99", "purelib": "/lib/python3.99/site-packages", "platlib": "/lib/python3.99/site-packages", "include": "/include/python3.99", "scripts": "/bin", "data": ""}
data = {"BINDIR": "/bin", "LIBDIR": "/lib", "LIBPL": "/lib/python3.99/config-3.99", "INCLUDEPY": "/include/python3.99", "CONFINCLUDEPY": "/include/python3.99", "LIBDEST": "/lib/python3.99"}
fake = types.ModuleType("sysconfig")
fake.get_path = lambda key: here + paths[key]
fake.get_config_var = lambda var: (${{ 'sys.prefix': 'here', data: 'installed', elsewhere: '"/usr/local"' }[prefixIs]}) if var in ("prefix", "exec_prefix") else installed + data[var]
sys.modules["sysconfig"] = fake
report = post.Report()
post.check_sysconfig(report, installed, here)
print(json.dumps(report.checks[0]))
`;
    return JSON.parse((await run('python3', ['-I', '-c', driver])).stdout) as { id: string; ok: boolean; detail: string };
  }

  it('takes a prefix that names the staging tree (sysconfig reading sys.prefix) as the install prefix it will be', async () => {
    expect(await staged('sys.prefix')).toMatchObject({ id: 'sysconfig', ok: true });
  });

  it('takes the relocated data too, and refuses what names neither', async () => {
    expect(await staged('data')).toMatchObject({ id: 'sysconfig', ok: true });
    expect(await staged('elsewhere')).toMatchObject({ id: 'sysconfig', ok: false, detail: expect.stringContaining('prefix=/usr/local') });
  });
});

describe('check_build_leaks (share/cpy/postinstall.py check): nothing of the build machine in what extensions are built with', () => {
  /** The check's report for a sysconfig with these variables. */
  async function leaks(vars: Record<string, string>): Promise<{ id: string; ok: boolean; detail: string }> {
    const driver = `
import importlib.util, json, sys, types
spec = importlib.util.spec_from_file_location("postinstall", ${JSON.stringify(POSTINSTALL_SOURCE)})
post = importlib.util.module_from_spec(spec); spec.loader.exec_module(post)
fake = types.ModuleType("sysconfig")
fake.get_config_var = ${JSON.stringify(vars)}.get
sys.modules["sysconfig"] = fake
report = post.Report()
post.check_build_leaks(report)
print(json.dumps(report.checks[0]))
`;
    return JSON.parse((await run('python3', ['-I', '-c', driver])).stdout) as { id: string; ok: boolean; detail: string };
  }

  it("a build's own compiler and flags pass", async () => {
    expect(await leaks({ CC: 'gcc', LDSHARED: 'gcc -shared', CFLAGS: '-O2 -Wall', abs_builddir: '/w/src' })).toMatchObject({ id: 'build-leaks', ok: true });
  });

  it('a compiler launcher (CC="ccache gcc": pip fails where ccache is not), -march=native, the build directory and an rpath are named', async () => {
    const report = await leaks({ CC: '/usr/bin/ccache gcc', LDSHARED: 'ccache gcc -shared', CXX: '/usr/lib/ccache/g++', CFLAGS: '-O2 -march=native -I/w/src/Include', LDFLAGS: '-Wl,-rpath,/w/lib', abs_builddir: '/w/src' });
    expect(report.ok).toBe(false);
    expect(report.detail.split('; ')).toEqual(
      expect.arrayContaining([
        'CC starts with /usr/bin/ccache, a compiler launcher of the build machine',
        'LDSHARED starts with ccache, a compiler launcher of the build machine',
        'CXX starts with /usr/lib/ccache/g++, a compiler launcher of the build machine',
        'CFLAGS has -march=native',
        'CFLAGS names the build directory /w/src',
        'LDFLAGS has an rpath (-Wl,-rpath,/w/lib)',
      ]),
    );
  });
});

describe('the .pth line every artifact carries', () => {
  it('is one line that site.py runs (it starts with import)', () => {
    expect(RESOLVE_EXECUTABLE_PTH.text.trimEnd().split('\n')).toHaveLength(1);
    expect(RESOLVE_EXECUTABLE_PTH.text.startsWith('import ')).toBe(true);
  });

  it('resolves a link outside the prefix to the real interpreter, and leaves venvs alone', async () => {
    // The host's own python3, with the .pth in a site directory of a throwaway prefix copy is
    // a build; here the line itself runs under a link, as site.py runs it.
    const bin = join(work, 'linkbin');
    await mkdir(bin, { recursive: true });
    const real = (await run('python3', ['-c', 'import os, sys; print(os.path.realpath(sys.executable))'])).stdout.trim();
    await symlink(real, join(bin, 'python3'));
    const code = `import sys, os\nsys.base_prefix = os.path.dirname(os.path.dirname(${JSON.stringify(real)}))\nsys.prefix = sys.base_prefix\n${RESOLVE_EXECUTABLE_PTH.text}print(sys.executable, sys._base_executable)`;
    const { stdout } = await run(join(bin, 'python3'), ['-S', '-c', code]);
    expect(stdout.trim()).toBe(`${real} ${real}`);
    const inVenv = `import sys\nsys.prefix = '/some/venv'\n${RESOLVE_EXECUTABLE_PTH.text}print(sys.executable)`;
    expect((await run(join(bin, 'python3'), ['-S', '-c', inVenv])).stdout.trim()).toBe(join(bin, 'python3'));
  });
});

describe('hostRunner: a program of the tree run on this host', () => {
  it('with PATH and LC_ALL alone for its environment, its exit code, 127 for one that did not start and 128 + n for one a signal ended', async () => {
    const runner = hostRunner();
    const env = await runner('/usr/bin/env', []);
    expect([env.exitCode, env.stdout.trim().split('\n').sort()]).toEqual([0, ['LC_ALL=C.UTF-8', 'PATH=/usr/local/bin:/usr/bin:/bin']]);
    expect(await runner('/bin/sh', ['-c', 'echo out; echo err >&2; exit 3'])).toEqual({ exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
    const missing = await runner(join(work, 'no-python3'), []);
    expect([missing.exitCode, missing.stderr]).toEqual([127, expect.stringContaining('ENOENT')]);
    expect(await runner('/bin/sh', ['-c', 'kill -TERM $$'])).toEqual({ exitCode: 143, stdout: '', stderr: 'killed by SIGTERM' });
  });

  it("without a signal, runs in this process's group (a terminal's Ctrl-C reaches it, as it reaches the caller); with one, in a group of its own", async () => {
    const groupOf = (stat: string) => stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2];
    const ours = groupOf(await readFile('/proc/self/stat', 'utf8'));
    const inGroup = async (runner: ReturnType<typeof hostRunner>) => groupOf((await runner('/bin/cat', ['/proc/self/stat'])).stdout);
    expect(await inGroup(hostRunner())).toBe(ours);
    expect(await inGroup(hostRunner(new AbortController().signal))).not.toBe(ours);
  });

  it('a stop ends it and what it started, then rejects: the caller may remove its directory at once (validation waited for every check)', async () => {
    const pidFile = join(work, 'grandchild.pid');
    const controller = new AbortController();
    // python3 as the checks run it: a program of its own (a venv's python3, the compiler) underneath.
    const running = hostRunner(controller.signal)('/bin/sh', ['-c', `sleep 300 & echo $! > ${pidFile}; wait`]);
    const started = Date.now();
    while (!(await readFile(pidFile, 'utf8').catch(() => '')).trim()) {
      if (Date.now() - started > 10_000) throw new Error('the program never started');
      await new Promise((r) => setTimeout(r, 20));
    }
    const grandchild = Number((await readFile(pidFile, 'utf8')).trim());
    controller.abort();
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
    expect(() => process.kill(grandchild, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    // Already stopped: nothing starts.
    await expect(hostRunner(controller.signal)('/bin/sh', ['-c', `echo started > ${join(work, 'never')}`])).rejects.toMatchObject({ name: 'AbortError' });
    await expect(stat(join(work, 'never'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

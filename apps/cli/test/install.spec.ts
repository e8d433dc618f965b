import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { makeHostPythonArtifact, repoRoot, startPythonMirror, type PythonMirror, type TestArtifact } from '@cpy/harness';

const run = promisify(execFile);

let work: string;
let mirror: PythonMirror;
let artifact: TestArtifact;

async function cpy(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(repoRoot(), 'apps/cli/bin/cpy.js'), ...args], {
      env: { ...process.env, CPY_HOME: join(work, 'home'), CPY_CACHE_DIR: join(work, 'cache'), NO_COLOR: '1' },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-cli-install-'));
  artifact = await makeHostPythonArtifact(join(work, 'artifacts'));
  mirror = await startPythonMirror();
  mirror.serve(`releases/${artifact.fileName}`, artifact.path);
  mirror.serve(`releases/${artifact.fileName}.sha256`, artifact.checksumPath);
}, 180_000);
afterAll(async () => {
  await mirror.close();
  await rm(work, { recursive: true, force: true });
});

describe('cpy install / list / use / uninstall (the built bin)', () => {
  it('installs from a URL with progress on stderr and one JSON document on stdout; again: already installed', async () => {
    const url = mirror.fileUrl('releases', artifact.fileName);
    const r = await cpy(['install', '--from', url, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      outcome: 'success',
      command: 'install',
      install: { status: 'installed', version: artifact.metadata.version, sha256: artifact.sha256, prefix: join(work, 'home', `python-${artifact.metadata.version}`) },
    });
    expect(r.stderr).toMatch(/downloading cpython-.*\(5\.\d MiB|\d+\.\d MiB\)/);
    expect(r.stderr).toMatch(/relocate: \/opt\/python-[\d.]+ -> /);
    expect(r.stderr).toMatch(/validate: python3, critical modules, sysconfig, venv through a link/);
    const python = await run(join(work, 'home', 'bin', 'python3'), ['-c', 'import ssl, sqlite3; print("ok")']);
    expect(python.stdout).toBe('ok\n');

    const requests = mirror.requests.length;
    const again = await cpy(['install', '--from', url]);
    expect([again.code, again.stdout]).toEqual([0, expect.stringMatching(/^already installed: CPython .* \(\d+ ms\)/)]);
    expect(mirror.requests.length).toBe(requests);

    const list = JSON.parse((await cpy(['list', '--json'])).stdout);
    expect(list.installed).toEqual([expect.objectContaining({ version: artifact.metadata.version, current: true })]);
  });

  it('exits 1 with the error code and a hint when it cannot do what was asked, 2 on bad usage', async () => {
    const current = await cpy(['uninstall', artifact.metadata.version]);
    expect([current.code, current.stderr]).toEqual([1, expect.stringMatching(/error \[CPY_INSTALL_IN_USE\]: .*\n\s+hint: .*--force/)]);
    const unknown = await cpy(['use', '3.1.4', '--json']);
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stdout).error.code).toBe('CPY_INSTALL_NOT_INSTALLED');
    const bad = await cpy(['install', '--from', join(work, 'nope.tgz'), '--sha256', 'xyz']);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/sha256: must be 64 hex digits/)]);
    expect((await cpy(['install'])).code).toBe(2);
    const forced = await cpy(['uninstall', artifact.metadata.version, '--force']);
    expect(forced.code).toBe(0);
    expect(JSON.parse((await cpy(['list', '--json'])).stdout).installed).toEqual([]);
  });
});

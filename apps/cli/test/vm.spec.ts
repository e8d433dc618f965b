// The Vagrant builder, as far as it runs on these machines (no hardware
// virtualisation, no VirtualBox or libvirt): the Vagrantfile validates with the real
// vagrant; its provisioning (the build dependencies script every builder uses, and
// provision-node.sh) leaves a fresh Debian 11 container (glibc 2.31, like the VM's
// Ubuntu 20.04) on which `cpy doctor` finds nothing missing; and the CLI fails
// helpfully where vagrant is absent. The commands the builder runs are unit-tested with
// an injected exec (libs/build/src/__tests__/vagrant.spec.ts).
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { repoRoot, requireBaseImage, requireContainerEngine, startContainer, startPythonMirror, type PythonMirror } from '@cpy/harness';

const run = promisify(execFile);
const CLI = join(repoRoot(), 'apps', 'cli', 'bin', 'cpy.cjs');
const VAGRANT_DIR = join(repoRoot(), 'vagrant');

let work: string;

const cpy = (args: string[], env: NodeJS.ProcessEnv) =>
  run(process.execPath, [CLI, ...args], { env, maxBuffer: 64 * 1024 * 1024 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
  );

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-vm-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('vagrant/Vagrantfile', () => {
  const validate = (env: Record<string, string>) =>
    run('vagrant', ['validate', '--ignore-provider'], { cwd: VAGRANT_DIR, env: { ...process.env, VAGRANT_HOME: join(work, 'vagrant-home'), ...env } }).then(
      (r) => ({ ok: true, out: r.stdout + r.stderr }),
      (e: { stdout?: string; stderr?: string }) => ({ ok: false, out: (e.stdout ?? '') + (e.stderr ?? '') }),
    );

  it('validates with the real vagrant, with the defaults and with every setting given', async () => {
    expect(await validate({})).toMatchObject({ ok: true });
    const all = await validate({ CPY_VM_BOX: 'generic/debian11', CPY_VM_CPUS: '4', CPY_VM_MEMORY: '8192', CPY_VM_DISK: '60', CPY_VM_NODE: '22.11.0', CPY_VM_SYNC: `${work}:/var/tmp` });
    expect(all.out).toContain('Vagrantfile validated successfully');
  }, 120_000);

  it('refuses settings that cannot work, saying which', async () => {
    expect((await validate({ CPY_VM_MEMORY: '1024' })).out).toContain('CPY_VM_MEMORY must be at least 2048 MiB (got 1024)');
    expect((await validate({ CPY_VM_CPUS: 'two' })).out).toContain('CPY_VM_CPUS must be a positive whole number (got "two")');
    expect((await validate({ CPY_VM_SYNC: 'relative/dir' })).out).toContain('CPY_VM_SYNC: relative/dir is not an absolute path');
  }, 120_000);
});

describe('the VM provisioning, in a fresh Debian 11 container', () => {
  let mirror: PythonMirror;
  let nodeVersion: string;

  beforeAll(async () => {
    // This machine's Node, laid out as nodejs.org/dist publishes it (tarball and SHASUMS256.txt), on loopback.
    mirror = await startPythonMirror();
    nodeVersion = process.versions.node;
    const name = `node-v${nodeVersion}-linux-x64`;
    const tree = join(work, 'node', name);
    for (const d of ['bin', 'lib', 'include', 'share']) await mkdir(join(tree, d), { recursive: true });
    await symlink(process.execPath, join(tree, 'bin', 'node'));
    const tarball = join(work, 'node', `${name}.tar.xz`);
    await run('tar', ['-chJf', tarball, '-C', join(work, 'node'), name], { env: { ...process.env, XZ_OPT: '-0 -T0' } });
    const { stdout } = await run('sha256sum', [tarball]);
    const sums = join(work, 'node', 'SHASUMS256.txt');
    await writeFile(sums, `${stdout.split(' ')[0]}  ${name}.tar.xz\n`);
    mirror.serve(`node/v${nodeVersion}/${name}.tar.xz`, tarball);
    mirror.serve(`node/v${nodeVersion}/SHASUMS256.txt`, sums);
  }, 120_000);
  afterAll(async () => {
    await mirror?.close();
  });

  it('leaves a machine where `cpy doctor` finds nothing missing', async () => {
    const engine = await requireContainerEngine();
    const box = await startContainer(engine, await requireBaseImage(engine, 'bullseye'), {
      network: 'host',
      mounts: [{ host: repoRoot(), container: '/cpy', readOnly: true }],
    });
    try {
      const deps = await box.exec(['sh', '/cpy/libs/build/provision/provision-builder.sh']);
      expect(deps.exitCode).toBe(0);
      const node = await box.exec(['env', `CPY_NODE_MIRROR=${mirror.url}/node`, 'sh', '/cpy/vagrant/provision-node.sh', nodeVersion]);
      expect(node.stderr).toContain(`installed v${nodeVersion} in /usr/local`);
      expect(node.exitCode).toBe(0);
      const doctor = await box.exec(['/usr/local/bin/node', '/cpy/apps/cli/bin/cpy.cjs', 'doctor', '--json']);
      const report = JSON.parse(doctor.stdout) as { outcome: string; report: { os: { id: string }; checks: { id: string; ok: boolean }[] } };
      expect(report.report.os.id).toBe('debian');
      expect(report.report.checks.filter((c) => !c.ok).map((c) => c.id)).toEqual([]);
      expect(report.outcome).toBe('success');
      expect(doctor.exitCode).toBe(0);
      // Idempotent: a second provisioning changes nothing.
      const again = await box.exec(['env', `CPY_NODE_MIRROR=${mirror.url}/node`, 'sh', '/cpy/vagrant/provision-node.sh', nodeVersion]);
      expect(again.stderr).toContain(`Node.js ${nodeVersion} is installed`);
    } finally {
      await box.remove();
    }
  }, 900_000);

  it('refuses a Node tarball that does not match SHASUMS256.txt', async () => {
    const engine = await requireContainerEngine();
    const wrong = join(work, 'wrong-sums');
    await writeFile(wrong, `${'0'.repeat(64)}  node-v${nodeVersion}-linux-x64.tar.xz\n`);
    mirror.serve(`bad/v${nodeVersion}/SHASUMS256.txt`, wrong);
    mirror.serve(`bad/v${nodeVersion}/node-v${nodeVersion}-linux-x64.tar.xz`, join(work, 'node', `node-v${nodeVersion}-linux-x64.tar.xz`));
    const box = await startContainer(engine, await requireBaseImage(engine, 'bookworm'), { network: 'host', mounts: [{ host: repoRoot(), container: '/cpy', readOnly: true }] });
    try {
      const r = await box.exec(['env', `CPY_NODE_MIRROR=${mirror.url}/bad`, 'sh', '/cpy/vagrant/provision-node.sh', nodeVersion]);
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toContain(`node-v${nodeVersion}-linux-x64.tar.xz does not match its sha256 in SHASUMS256.txt`);
      expect((await box.exec(['test', '-e', '/usr/local/bin/node'])).exitCode).not.toBe(0);
    } finally {
      await box.remove();
    }
  }, 300_000);
});

describe('cpy build --builder vagrant, cpy vm, where vagrant is absent', () => {
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    // A PATH with node and nothing else: no vagrant.
    const bin = join(work, 'bin-without-vagrant');
    await mkdir(bin);
    await symlink(process.execPath, join(bin, 'node'));
    env = { ...process.env, PATH: bin, NO_COLOR: '1', CPY_CACHE_DIR: join(work, 'cache') };
  });

  it('cpy build fails at once, before any download, saying what to install', async () => {
    const r = await cpy(['build', '3.13.5', '--builder', 'vagrant', '--json'], env);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { outcome: string; error: { code: string; hint: string } };
    expect(out).toMatchObject({ outcome: 'error', error: { code: 'CPY_BUILD_NO_VAGRANT' } });
    expect(out.error.hint).toMatch(/install Vagrant .* and a provider: VirtualBox, or libvirt/);
    expect(r.stderr).not.toMatch(/download/i);
  });

  it('cpy vm status says the same; a folder without a Vagrantfile is named', async () => {
    const status = await cpy(['vm', 'status'], env);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain('CPY_BUILD_NO_VAGRANT');
    const nowhere = await cpy(['vm', 'up', '--vagrant-dir', work, '--json'], env);
    expect(nowhere.code).toBe(1);
    expect(JSON.parse(nowhere.stdout)).toMatchObject({ error: { code: 'CPY_BUILD_NO_VAGRANTFILE', message: `no Vagrantfile in ${work}` } });
  });
});

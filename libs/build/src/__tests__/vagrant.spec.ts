import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { isCpyError } from '@cpy/core';
import type { Exec, ExecResult } from '../exec.js';
import type { Runner } from '../compile/runner.js';
import { parseVagrantState, remoteCommand, vagrantBuilder, vmAction, vmStatus, VM_NAME } from '../compile/vagrant.js';

const sh = promisify(execFile);

/** Records every command; answers from a script of (argv pattern -> result). */
function fakeHost(answers: Array<[RegExp, Partial<ExecResult>]>) {
  const calls: string[][] = [];
  const answer = (argv: string[]): ExecResult => {
    calls.push(argv);
    const line = argv.join(' ');
    const hit = answers.find(([re]) => re.test(line));
    return { exitCode: 0, stdout: '', stderr: '', ...(hit?.[1] ?? {}) };
  };
  const exec: Exec = async (file, args) => answer([file, ...args]);
  // Writes what the command prints to its log, as the host runner does.
  const run: Runner = async (argv, o) => {
    const r = answer([...argv]);
    await writeFile(o.logFile, r.stdout + r.stderr);
    return { exitCode: r.exitCode };
  };
  return { exec, run, calls };
}

const STATUS = (state: string) => `1700000000,${VM_NAME},metadata,provider,virtualbox\n1700000000,${VM_NAME},provider-name,virtualbox\n1700000000,${VM_NAME},state,${state}\n1700000000,${VM_NAME},state-human-short,${state}\n`;

describe('remoteCommand: what `vagrant ssh -c` hands the VM shell', () => {
  it('quotes every word so that a real shell gets the same argv back', async () => {
    const argv = ['printf', '%s\\n', './configure', 'LDFLAGS=-Wl,-rpath,\\$$ORIGIN/../lib', "it's", 'a b', '$(touch /tmp/x)', ''];
    const command = remoteCommand(argv, { cwd: '/tmp', env: { CC: 'gcc -O2', EMPTY: '' } });
    expect(command.startsWith("cd /tmp && env 'CC=gcc -O2' EMPTY= printf")).toBe(true);
    const { stdout } = await sh('sh', ['-c', command]);
    expect(stdout.split('\n').slice(0, -1)).toEqual(argv.slice(2));
  });
});

describe('vagrantBuilder, with vagrant injected', () => {
  const options = (host: ReturnType<typeof fakeHost>) => ({ vagrantDir: '/repo/vagrant', exec: host.exec, run: host.run });

  it('brings a VM that is not created up, sharing the work directory (every build under it, without a reload), then checks the VM sees the build directory', async () => {
    const host = fakeHost([[/ status /, { stdout: STATUS('not_created') }]]);
    await vagrantBuilder(options(host)).start('/home/u/.cache/cpy/builds/cpython-3.13.5-build1', '/tmp/provision.log');
    expect(host.calls).toEqual([
      ['vagrant', 'status', VM_NAME, '--machine-readable'],
      ['env', 'VAGRANT_CWD=/repo/vagrant', 'CPY_VM_SYNC=/home/u/.cache/cpy/builds', 'vagrant', 'up', VM_NAME],
      ['env', 'VAGRANT_CWD=/repo/vagrant', 'CPY_VM_SYNC=/home/u/.cache/cpy/builds', 'vagrant', 'ssh', VM_NAME, '-c', 'test -d /home/u/.cache/cpy/builds/cpython-3.13.5-build1'],
    ]);
  });

  it('leaves a running VM that sees the build directory as it is; reloads one that does not', async () => {
    const seen = fakeHost([[/ status /, { stdout: STATUS('running') }]]);
    await vagrantBuilder(options(seen)).start('/w/b', '/tmp/log');
    expect(seen.calls.map((c) => c.slice(3).join(' '))).toEqual(['--machine-readable', 'vagrant ssh iact-cpython-builder -c test -d /w/b']);

    let tests = 0;
    const unseen = fakeHost([
      [/ status /, { stdout: STATUS('running') }],
      [/test -d/, { get exitCode() { return tests++ === 0 ? 1 : 0; } }],
    ]);
    await vagrantBuilder(options(unseen)).start('/w/b', '/tmp/log');
    expect(unseen.calls.map((c) => c.slice(3, 5).join(' '))).toEqual(['--machine-readable', 'vagrant ssh', 'vagrant reload', 'vagrant ssh']);
  });

  it('runs build commands through vagrant ssh -c, in the working directory, with the environment', async () => {
    const host = fakeHost([]);
    const b = vagrantBuilder(options(host));
    await b.run(['make', '-j2'], { cwd: '/w/b/src', env: { CFLAGS: '-O2 -g' }, logFile: '/tmp/make.log' });
    await b.exec('dpkg', ['-S', '*/libssl.so.3']);
    expect(host.calls).toEqual([
      ['env', 'VAGRANT_CWD=/repo/vagrant', 'vagrant', 'ssh', VM_NAME, '-c', "cd /w/b/src && env 'CFLAGS=-O2 -g' make -j2"],
      ['env', 'VAGRANT_CWD=/repo/vagrant', 'vagrant', 'ssh', VM_NAME, '-c', "dpkg -S '*/libssl.so.3'"],
    ]);
  });

  it('says what to install when vagrant is missing', async () => {
    const host = fakeHost([[/ status /, { exitCode: 127, stderr: 'vagrant: command not found' }]]);
    const error = await vmStatus(options(host)).catch((e: unknown) => e);
    expect(isCpyError(error) && error.code).toBe('CPY_BUILD_NO_VAGRANT');
    expect(isCpyError(error) && error.hint).toMatch(/install Vagrant .* VirtualBox, or libvirt/);
  });

  it('a failed `vagrant up` names its log and the usual causes', async () => {
    const host = fakeHost([
      [/ status /, { stdout: STATUS('not_created') }],
      [/ up /, { exitCode: 1 }],
    ]);
    const error = await vagrantBuilder(options(host)).start('/w/b', '/tmp/provision.log').catch((e: unknown) => e);
    expect(isCpyError(error) && error.code).toBe('CPY_BUILD_VAGRANT_FAILED');
    expect(isCpyError(error) && error.message).toContain('/tmp/provision.log');
  });
});

describe('vmAction, when vagrant fails', () => {
  it("says vagrant's error from the log (the first line after its progress lines), and what to do about no provider", async () => {
    const log = join(tmpdir(), `cpy-vm-halt-${process.pid}.log`);
    const said = ['No usable default provider could be found for your system.', '', 'Vagrant relies on interactions with 3rd party systems, known as', '"providers", to provide Vagrant with resources.', ''].join('\n');
    const host = fakeHost([[/ halt /, { exitCode: 1, stdout: `==> ${VM_NAME}: Attempting graceful shutdown of VM...\n    ${VM_NAME}: Guest communication could not be established!\n${said}` }]]);
    try {
      const error = await vmAction('halt', { vagrantDir: '/repo/vagrant', run: host.run, logFile: log }).catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'CPY_BUILD_VAGRANT_FAILED',
        message: `vagrant halt failed (exit 1: No usable default provider could be found for your system.; log: ${log})`,
        hint: 'install a provider Vagrant can use (VirtualBox, or libvirt with the vagrant-libvirt plugin), or build with --builder container or --builder host',
      });
    } finally {
      await rm(log, { force: true });
    }
  });
});

describe('parseVagrantState', () => {
  it('reads the state line of `vagrant status --machine-readable`', () => {
    expect(parseVagrantState(STATUS('poweroff'))).toBe('poweroff');
    expect(parseVagrantState('garbage')).toBeNull();
  });
});

describe('vmStatus, when vagrant fails', () => {
  it("says vagrant's own error, not its machine-readable lines", async () => {
    // What vagrant 2.x prints with --machine-readable when the provider cannot run: the error on
    // stdout, its commas and new lines escaped, and nothing on stderr.
    const stdout = [
      "1700000000,,ui,error,The provider 'virtualbox' that was requested to back the machine\\n'iact-cpython-builder' is reporting that it isn't usable on this system. The\\nreason is shown below:\\n\\nVirtualBox is complaining that the kernel module is not loaded. Please\\nrun `VBoxManage --version` or open the VirtualBox GUI to see the error",
      "1700000000,,error-exit,Vagrant::Errors::ProviderNotUsable,The provider 'virtualbox' that was requested to back the machine\\n'iact-cpython-builder' is reporting that it isn't usable on this system. The\\nreason is shown below:\\n\\nVirtualBox is complaining that the kernel module is not loaded%!(VAGRANT_COMMA) so it cannot start.",
      '',
    ].join('\n');
    const host = fakeHost([[/ status /, { exitCode: 1, stdout }]]);
    const error = await vmStatus({ vagrantDir: '/repo/vagrant', exec: host.exec }).catch((e: unknown) => e);
    expect(isCpyError(error) && error.code).toBe('CPY_BUILD_VAGRANT_FAILED');
    const message = isCpyError(error) ? error.message : '';
    expect(message).toBe(
      "vagrant status failed: The provider 'virtualbox' that was requested to back the machine 'iact-cpython-builder' is reporting that it isn't usable on this system. The reason is shown below: VirtualBox is complaining that the kernel module is not loaded, so it cannot start.",
    );
    expect(message).not.toMatch(/1700000000|error-exit|VAGRANT_COMMA|\\n/);
  });

  it('without machine-readable lines, says the last lines vagrant wrote', async () => {
    const host = fakeHost([[/ status /, { exitCode: 1, stderr: 'Vagrant failed to initialize at a very early stage:\n\nThe plugins failed to load.\n' }]]);
    const error = await vmStatus({ vagrantDir: '/repo/vagrant', exec: host.exec }).catch((e: unknown) => e);
    expect(isCpyError(error) && error.message).toBe('vagrant status failed: Vagrant failed to initialize at a very early stage: The plugins failed to load.');
  });
});

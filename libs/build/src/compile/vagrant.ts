import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CpyError } from '@cpy/core';
import { hostExec, type Exec } from '../exec.js';
import type { Builder } from './builders.js';
import { hostRunner, type Runner } from './runner.js';

/** The VM's name in vagrant/Vagrantfile (the seeds' name for the builder). */
export const VM_NAME = 'iact-cpython-builder';

/** What `vagrant status` says of the VM (its machine-readable `state`). */
export type VmState = 'running' | 'poweroff' | 'saved' | 'aborted' | 'not_created' | 'shutoff' | 'paused' | string;

export interface VagrantOptions {
  /** The folder holding the Vagrantfile (vagrant/ in this repository). */
  readonly vagrantDir: string;
  /** Runs vagrant on this host; injected in tests. */
  readonly exec?: Exec;
  /** Runs long vagrant commands with a log; injected in tests. */
  readonly run?: Runner;
}

/** One shell word, single-quoted for the VM's shell (`vagrant ssh -c` hands it a string). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The command line `vagrant ssh -c` runs: `cd DIR && env K=V... ARGV`. */
export function remoteCommand(argv: readonly string[], options: { cwd?: string; env?: Readonly<Record<string, string | undefined>> } = {}): string {
  const env = Object.entries(options.env ?? {}).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  const command = [...(env.length ? ['env', ...env] : []), ...argv].map(shellQuote).join(' ');
  return options.cwd ? `cd ${shellQuote(options.cwd)} && ${command}` : command;
}

/** The environment every vagrant command gets: where the Vagrantfile is, and the folder to share at the same path. */
function vagrantEnv(options: VagrantOptions, sync?: string): Record<string, string> {
  return { VAGRANT_CWD: options.vagrantDir, ...(sync ? { CPY_VM_SYNC: sync } : {}) };
}

function noVagrant(stderr: string): CpyError {
  return new CpyError('CPY_BUILD_NO_VAGRANT', `vagrant is not installed here (${stderr.trim() || 'vagrant: command not found'})`, {
    hint: 'install Vagrant (https://developer.hashicorp.com/vagrant/install, or apt-get install vagrant) and a provider: VirtualBox, or libvirt with the vagrant-libvirt plugin; or use --builder container',
  });
}

/** Parses `vagrant status --machine-readable`: the `state` line of the VM. */
export function parseVagrantState(stdout: string): VmState | null {
  for (const line of stdout.split('\n')) {
    const [, target, type, data] = line.split(',');
    if (type === 'state' && (target === VM_NAME || target === '' || target === 'default') && data) return data;
  }
  return null;
}

/**
 * What a failed vagrant command said, for a person: with --machine-readable, vagrant writes its
 * error as a line of stdout (`time,target,error-exit,Class,message`, commas in the message as
 * `%!(VAGRANT_COMMA)` and new lines as a backslash and `n`), and often nothing on stderr: that
 * message, in one paragraph. Otherwise the last lines of its output.
 */
export function vagrantError(stdout: string, stderr: string): string {
  const exits: string[] = [];
  const errors: string[] = [];
  for (const line of stdout.split('\n')) {
    const [, , type, kind, ...rest] = line.split(',');
    const text = () => rest.join(',').replaceAll('%!(VAGRANT_COMMA)', ',').replaceAll('\\n', '\n').replaceAll('\\r', '');
    if (type === 'error-exit') exits.push(text());
    else if (type === 'ui' && kind === 'error') errors.push(text());
  }
  const said = exits.length ? exits : errors;
  const lines = (said.length ? said.join('\n') : stderr || stdout).split('\n').map((l) => l.trim()).filter(Boolean);
  return (said.length ? lines : lines.slice(-3)).join(' ');
}

/** What to do about what Vagrant said: no usable provider is said as such (it is not the Vagrantfile's fault); anything else, `otherwise`. */
function vagrantHint(said: string, otherwise: string): string {
  return /provider/i.test(said) ? 'install a provider Vagrant can use (VirtualBox, or libvirt with the vagrant-libvirt plugin), or build with --builder container or --builder host' : otherwise;
}

/** `vagrant status`: the VM's state, or CPY_BUILD_NO_VAGRANT / CPY_BUILD_VAGRANT_FAILED. */
export async function vmStatus(options: VagrantOptions): Promise<VmState> {
  const exec = options.exec ?? hostExec;
  const r = await exec('vagrant', ['status', VM_NAME, '--machine-readable'], { env: vagrantEnv(options) });
  if (r.exitCode === 127) throw noVagrant(r.stderr);
  const state = parseVagrantState(r.stdout);
  if (r.exitCode !== 0 || !state) {
    const said = vagrantError(r.stdout, r.stderr);
    throw new CpyError('CPY_BUILD_VAGRANT_FAILED', `vagrant status failed: ${said || `exit ${r.exitCode}`}`, { hint: vagrantHint(said, `check ${options.vagrantDir}/Vagrantfile with \`vagrant validate\``) });
  }
  return state;
}

/**
 * `vagrant up|halt|destroy` with the output in `logFile`. `up` creates and
 * provisions the VM the first time (build dependencies and Node, by the same
 * scripts the container builder uses), and shares `sync` at the same path.
 */
export async function vmAction(
  action: 'up' | 'halt' | 'destroy' | 'reload',
  options: VagrantOptions & { logFile: string; sync?: string; signal?: AbortSignal; onLine?: (line: string) => void },
): Promise<void> {
  const run = options.run ?? hostRunner();
  const args = action === 'destroy' ? ['destroy', '--force', VM_NAME] : [action, VM_NAME];
  const env = vagrantEnv(options, options.sync);
  const r = await run(['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'vagrant', ...args], {
    logFile: options.logFile,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onLine ? { onLine: options.onLine } : {}),
  });
  if (r.exitCode === 127) throw noVagrant('');
  if (r.exitCode !== 0) {
    // Vagrant's error, from the log (the error line said only the exit code): the first line after
    // its progress lines (`==> name: ...`), where its message begins.
    const lines = (await readFile(options.logFile, 'utf8').catch(() => '')).split('\n');
    const progress = lines.findLastIndex((l) => /^==> |^ {4}\S+: /.test(l));
    const said = lines.slice(progress + 1).map((l) => l.trim()).find(Boolean) ?? '';
    throw new CpyError('CPY_BUILD_VAGRANT_FAILED', `vagrant ${action} failed (exit ${r.exitCode}${said ? `: ${said}` : ''}; log: ${options.logFile})`, {
      hint: vagrantHint(
        said,
        action === 'up' ? 'read the log: a missing provider (install VirtualBox, or libvirt and vagrant-libvirt), no hardware virtualisation, or a box that cannot be downloaded' : 'read the log, then `cpy vm status`',
      ),
      details: { logFile: options.logFile },
    });
  }
}

/**
 * The builder VM (vagrant/Vagrantfile): `start` brings it up when needed and
 * makes sure the build directory is seen at the same path: its work directory is shared
 * (reloading the VM with it when it was started without); commands run through `vagrant ssh -c`. The VM is left
 * running for the next build (`cpy vm halt` stops it).
 */
export function vagrantBuilder(options: VagrantOptions): Builder {
  const exec = options.exec ?? hostExec;
  const run = options.run ?? hostRunner();
  let sync: string | undefined;
  const ssh = (command: string) => ['env', ...Object.entries(vagrantEnv(options, sync)).map(([k, v]) => `${k}=${v}`), 'vagrant', 'ssh', VM_NAME, '-c', command];

  return {
    kind: 'vagrant',
    description: `Vagrant VM ${VM_NAME}`,
    exec: async (file, args, o = {}) => {
      const [cmd, rest] = splitFirst(ssh(remoteCommand([file, ...args], { ...(o.cwd ? { cwd: o.cwd } : {}), ...(o.env ? { env: o.env } : {}) })));
      return exec(cmd, rest, o.input !== undefined ? { input: o.input } : {});
    },
    run: (argv, o) =>
      run(ssh(remoteCommand(argv, { ...(o.cwd ? { cwd: o.cwd } : {}), ...(o.env ? { env: o.env } : {}) })), {
        logFile: o.logFile,
        ...(o.onLine ? { onLine: o.onLine } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      }),
    async start(buildDir, logFile, signal) {
      // The work directory, not the build directory: every build under it is then seen without a
      // reload (a reboot, which also stopped another build running in the VM).
      sync = dirname(buildDir);
      const state = await vmStatus({ ...options, exec });
      if (state !== 'running') await vmAction('up', { ...options, run, logFile, sync, ...(signal ? { signal } : {}) });
      const seen = await exec(...splitFirst(ssh(remoteCommand(['test', '-d', buildDir]))));
      if (seen.exitCode !== 0) {
        // Running, but started without this folder: a reload shares it.
        await vmAction('reload', { ...options, run, logFile, sync, ...(signal ? { signal } : {}) });
        const again = await exec(...splitFirst(ssh(remoteCommand(['test', '-d', buildDir]))));
        if (again.exitCode !== 0) {
          throw new CpyError('CPY_BUILD_VAGRANT_FAILED', `${buildDir} is not shared with the VM`, {
            hint: `the Vagrantfile shares CPY_VM_SYNC at the same path; check the synced folders in ${logFile}`,
          });
        }
      }
    },
    check: async () => `VM ${VM_NAME}: ${await vmStatus({ ...options, exec })}`,
    async identity() {
      const r = await exec(...splitFirst(ssh(remoteCommand(['sh', '-c', '. /etc/os-release; echo "$ID $VERSION_ID $(uname -m)"']))));
      return r.exitCode === 0 ? `vagrant ${VM_NAME} ${r.stdout.trim()}` : `vagrant ${VM_NAME}`;
    },
    stop: async () => undefined,
  };
}

function splitFirst(argv: readonly string[]): [string, readonly string[]] {
  return [argv[0]!, argv.slice(1)];
}

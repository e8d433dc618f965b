import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpyError } from '@cpy/core';
import { defaultCacheDir, vmAction, vmStatus, VM_NAME, type VmState } from '@cpy/build';
import * as z from 'zod';
import { EXIT, defineCommand, type CommandContext } from '../command.js';
import { summaryOf } from './table.js';
import type { CliIO } from '../io.js';

/** `--vagrant-dir`, shared by `cpy build --builder vagrant` and `cpy vm`. */
export const VAGRANT_OPTION = {
  'vagrant-dir': { type: 'string', valueName: '<dir>', description: 'the folder of the Vagrantfile (default: CPY_VAGRANT_DIR, or vagrant/ of this checkout)' },
} as const;
export const vagrantValues = { 'vagrant-dir': z.string().min(1).optional() };

/** The Vagrantfile's folder: --vagrant-dir, CPY_VAGRANT_DIR, or vagrant/ beside this CLI in the repository. */
export function vagrantDir(io: CliIO, given: string | undefined): string {
  const dir = given ? resolve(io.cwd, given) : io.env['CPY_VAGRANT_DIR'] ? resolve(io.cwd, io.env['CPY_VAGRANT_DIR']) : fileURLToPath(new URL('../../../../vagrant', import.meta.url));
  if (!existsSync(join(dir, 'Vagrantfile'))) {
    throw new CpyError('CPY_BUILD_NO_VAGRANTFILE', `no Vagrantfile in ${dir}`, {
      hint: 'pass --vagrant-dir <folder of the Vagrantfile> (vagrant/ in the cpy repository), or set CPY_VAGRANT_DIR',
    });
  }
  return dir;
}

const schema = z
  .object({ values: z.object(vagrantValues), positionals: z.tuple([]) })
  .transform(({ values }) => values);

const VM_HELP =
  `The builder VM (${VM_NAME}) is defined by vagrant/Vagrantfile: box, CPUs, memory and disk from CPY_VM_BOX, CPY_VM_CPUS, ` +
  'CPY_VM_MEMORY, CPY_VM_DISK; providers virtualbox and libvirt; provisioned by the build dependencies script every builder uses, plus Node.';

function vmCommand(action: 'up' | 'halt' | 'destroy', summary: string, done: string) {
  return defineCommand({
    name: `vm ${action}`,
    summary,
    description: `${summary}. ${VM_HELP} Output goes to a log under the cache directory and, line by line, to stderr.`,
    options: VAGRANT_OPTION,
    positionals: [],
    schema,
    examples: [`cpy vm ${action}`, `cpy vm ${action} --vagrant-dir ./vagrant --json`],
    async run(ctx: CommandContext<z.output<typeof schema>>) {
      const dir = vagrantDir(ctx.io, ctx.input['vagrant-dir']);
      const logFile = join(defaultCacheDir(ctx.io.env), `vm-${action}.log`);
      await mkdir(defaultCacheDir(ctx.io.env), { recursive: true });
      ctx.log(`vagrant ${action} ${VM_NAME} (${dir}; log: ${logFile})`);
      await vmAction(action, { vagrantDir: dir, logFile, onLine: (line) => ctx.log(line) });
      const state = await vmStatus({ vagrantDir: dir });
      if (!ctx.json) ctx.io.stdout.write(`${VM_NAME}: ${done} (state: ${state})\n`);
      return { exitCode: EXIT.ok, outcome: 'success', data: { vm: VM_NAME, action, state, vagrantDir: dir, logFile } };
    },
  });
}

export const vmUp = vmCommand('up', summaryOf('vm up'), 'running');
export const vmHalt = vmCommand('halt', summaryOf('vm halt'), 'stopped');
export const vmDestroy = vmCommand('destroy', summaryOf('vm destroy'), 'deleted');

export const vmStatusCommand = defineCommand({
  name: 'vm status',
  summary: summaryOf('vm status'),
  description: `Prints the VM's state (running, poweroff, not_created...). ${VM_HELP}`,
  options: VAGRANT_OPTION,
  positionals: [],
  schema,
  examples: ['cpy vm status', 'cpy vm status --json'],
  async run(ctx) {
    const dir = vagrantDir(ctx.io, ctx.input['vagrant-dir']);
    const state: VmState = await vmStatus({ vagrantDir: dir });
    if (!ctx.json) ctx.io.stdout.write(`${VM_NAME}: ${state}\n`);
    return { exitCode: EXIT.ok, outcome: 'success', data: { vm: VM_NAME, state, vagrantDir: dir } };
  },
});

// The command table: every command's name and one-line summary, and how to load it. The
// top-level help and the dispatch need only this, so `cpy --version` and `cpy --help` load no
// command module, and a command loads only its own module (and through it the libraries it
// needs: openpgp, sigstore, undici, execa are loaded by the commands that use them).
import type { CommandSpec } from '../command.js';

export interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  readonly load: () => Promise<CommandSpec<unknown>>;
}

const entry = (name: string, summary: string, load: () => Promise<unknown>): CommandEntry => ({ name, summary, load: load as () => Promise<CommandSpec<unknown>> });

export const COMMAND_TABLE: readonly CommandEntry[] = [
  entry('doctor', 'Check this host for what building CPython needs', async () => (await import('./doctor.js')).doctor),
  entry('build', 'Build CPython from a verified source release', async () => (await import('./build.js')).build),
  entry('source fetch', 'Download and verify a CPython source release', async () => (await import('./source.js')).sourceFetch),
  entry('source verify', 'Verify a CPython source tarball (OpenPGP, Sigstore)', async () => (await import('./source.js')).sourceVerify),
  entry('artifact pack', 'Pack a finished build directory into a cpy artifact', async () => (await import('./artifact.js')).artifactPack),
  entry('artifact validate', 'Validate a cpy artifact', async () => (await import('./artifact.js')).artifactValidate),
  entry('artifact test', "Run CPython's own test suite on an artifact, in a relocated prefix", async () => (await import('./artifact.js')).artifactTest),
  entry('artifact sign', 'Sign files with an OpenPGP key (<file>.asc beside each)', async () => (await import('./signing.js')).artifactSign),
  entry('artifact verify', "Check a file's signature against pinned signers, as cpy install does", async () => (await import('./signing.js')).artifactVerify),
  entry('install', 'Install CPython: a version from the index, or an artifact (verified, atomic, idempotent)', async () => (await import('./install.js')).install),
  entry('list', 'List installed CPython versions, or with --available those the index publishes', async () => (await import('./install.js')).list),
  entry('use', 'Switch the python3 links to an installed version', async () => (await import('./install.js')).use),
  entry('rollback', 'Switch back to the previously used version', async () => (await import('./install.js')).rollbackCommand),
  entry('uninstall', 'Remove an installed version', async () => (await import('./install.js')).uninstallCommand),
  entry('vm up', 'Start the Vagrant builder VM (creating and provisioning it the first time)', async () => (await import('./vm.js')).vmUp),
  entry('vm halt', 'Stop the Vagrant builder VM', async () => (await import('./vm.js')).vmHalt),
  entry('vm destroy', 'Delete the Vagrant builder VM', async () => (await import('./vm.js')).vmDestroy),
  entry('vm status', 'Show the Vagrant builder VM state', async () => (await import('./vm.js')).vmStatusCommand),
  entry('outdated', 'Say which release lines need a build: new upstream releases, builds over 6 months old, lines past end of life', async () => (await import('./outdated.js')).outdated),
  entry('venv upgrade', 'Move a venv to another CPython version: rebuilt beside it, checked, then swapped in one step', async () => (await import('./venv.js')).venvUpgrade),
  entry('venv rollback', 'Swap a venv back with the one its last upgrade kept', async () => (await import('./venv.js')).venvRollback),
  entry('venv list', 'Find venvs and show which Python each uses (and which lost their base)', async () => (await import('./venv.js')).venvList),
  entry('compare', 'Compare two CPython installs: start-up time, memory, a pure-Python workload, and which stdlib modules import', async () => (await import('./compare.js')).compare),
  entry('index add', 'Add an artifact to an index file (for mirrors and air-gapped sites)', async () => (await import('./index-commands.js')).indexAdd),
  entry('index show', 'Read and check an index, and list its builds', async () => (await import('./index-commands.js')).indexShow),
  entry('keys generate', 'Make an Ed25519 OpenPGP key to sign artifacts and the index', async () => (await import('./signing.js')).keysGenerate),
  entry('keys export', 'Print the public key and fingerprint of a signing key', async () => (await import('./signing.js')).keysExport),
  entry('keys extend', 'Give a signing key a later expiry, keeping its fingerprint', async () => (await import('./signing.js')).keysExtend),
  entry('publish', 'Publish an artifact as a GitHub Release (draft, upload, verify, then publish)', async () => (await import('./publish.js')).publish),
  entry('releases list', 'List the cpy releases of a repository', async () => (await import('./publish.js')).releasesList),
  entry('releases prune', 'Delete old releases beyond the retention policy (dry run unless --yes)', async () => (await import('./publish.js')).releasesPrune),
];

/** A command's summary, from the table: each spec takes its own from here, so --help and the spec agree. */
export function summaryOf(name: string): string {
  const found = COMMAND_TABLE.find((c) => c.name === name);
  if (!found) throw new Error(`no command '${name}' in the command table`);
  return found.summary;
}

import type { ChildProcessWithoutNullStreams, ExecFileOptions, SpawnOptionsWithoutStdio } from 'node:child_process';
import type { HttpClient } from '@cpy/transfer';
import type { Environment } from './layout.js';

// What most installs need but an already-installed `cpy install` does not is loaded on first
// use, not with the module (issue 20):
// - @cpy/artifact's main entry (tar-stream and its streams, packing, validation), when an install
//   first has bytes to hash or unpack: loading it took 15-20 ms. What an install reads before
//   that (the index, the signer option) comes from the light `@cpy/artifact/index-format`;
// - node:child_process, when a program runs (ldconfig, apt-get): about 3 ms.
export const artifactLibrary = () => import('@cpy/artifact');
// - @cpy/transfer (undici's client, node:stream, node:crypto), when something is first fetched.
export const transferLibrary = () => import('@cpy/transfer');

/** The installer's HTTP client (proxy settings from `env`, the extra CA file if one is given), with @cpy/transfer loaded for it. */
export async function installerClient(env: Environment, caFile: string | undefined): Promise<HttpClient> {
  const { createHttpClient } = await transferLibrary();
  return createHttpClient({ env, userAgent: 'cpy (installer)', ...(caFile ? { caFile } : {}) });
}

const childProcess = () => import('node:child_process');

/** Runs a program with its arguments (no shell); its output as text. Rejects as execFile does. */
export async function runProgram(file: string, args: readonly string[], options: ExecFileOptions = {}): Promise<{ stdout: string; stderr: string }> {
  const { execFile } = await childProcess();
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...options, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(Object.assign(error, { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });
}

/** Starts a program with its arguments (no shell), its stdin, stdout and stderr piped to this process. */
export async function startProgram(file: string, args: readonly string[], options: SpawnOptionsWithoutStdio = {}): Promise<ChildProcessWithoutNullStreams> {
  const { spawn } = await childProcess();
  return spawn(file, args, { ...options, stdio: 'pipe' });
}

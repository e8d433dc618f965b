import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { main, type CliIO } from '../index.js';

let stateDir: string;
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'cpy-cli-state-'));
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: { write: (t: string) => (stdout += t), isTTY: false },
    stderr: { write: (t: string) => (stderr += t), isTTY: false },
    env: {},
    cwd: process.cwd(),
  };
  return { code: await main(argv, io), stdout, stderr };
}

describe('cpy list with a damaged state.json', () => {
  it('reports CPY_INSTALL_BROKEN with what to do (exit 1), not an internal error', async () => {
    const path = join(stateDir, 'state.json');
    await writeFile(path, '{"schemaVersion": 1, "installs": ');

    const json = await run(['list', '--state-dir', stateDir, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      outcome: 'error',
      error: {
        code: 'CPY_INSTALL_BROKEN',
        message: expect.stringContaining(`${path} is not a cpy state file`),
        hint: expect.stringContaining('move it aside'),
        // What the error carries for programs comes with it.
        details: { path, problem: expect.stringMatching(/^not JSON: /) },
      },
    });

    const text = await run(['list', '--state-dir', stateDir]);
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(/\[CPY_INSTALL_BROKEN\]: .* is not a cpy state file/);
    expect(text.stderr).not.toMatch(/CPY_CLI_INTERNAL|a bug in cpy/);
  });
});

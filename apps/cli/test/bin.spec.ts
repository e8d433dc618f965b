import { describe, expect, it } from '@jest/globals';
import { runCpy } from '@cpy/harness';


/** Runs the installed `cpy` bin the way a user does (`npx cpy ...` from the repository). */
const cpy = (args: string[], env: NodeJS.ProcessEnv = {}) => runCpy(args, { npx: true, env: { NO_COLOR: '', FORCE_COLOR: '', ...env } });

describe('the cpy bin (npx cpy), built', () => {
  it('answers --version and --help with exit 0', async () => {
    const version = await cpy(['--version']);
    expect(version).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\n$/) });
    const help = await cpy(['doctor', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: cpy doctor \[options\]/);
  });

  it('doctor --json writes one JSON document to a real pipe, and its exit code matches the outcome', async () => {
    const r = await cpy(['doctor', '--json', '--min-free-gb', '0']);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ command: 'doctor', outcome: expect.stringMatching(/^(success|error)$/) });
    expect(r.code).toBe(doc.outcome === 'success' ? 0 : 1);
  });

  it('exits 2 for a usage error, with the error on stderr and nothing on stdout', async () => {
    expect((await cpy(['doctor', '--nope'])).code).toBe(2);
    const publish = await cpy(['publish']);
    expect(publish.code).toBe(2);
    expect(publish.stderr).toMatch(/CPY_CLI_USAGE/);
    expect(publish.stdout).toBe('');
  });

  it('pipes get no colour; FORCE_COLOR brings it back, NO_COLOR wins', async () => {
    expect((await cpy(['doctor', '--min-free-gb', '0'])).stdout).not.toContain('\u001b[');
    expect((await cpy(['doctor', '--min-free-gb', '0'], { FORCE_COLOR: '1' })).stdout).toContain('\u001b[');
    expect((await cpy(['doctor', '--min-free-gb', '0'], { FORCE_COLOR: '1', NO_COLOR: '1' })).stdout).not.toContain('\u001b[');
  });
});

import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
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

  it('runs the install commands with V8 code caches beside their chunks; a damaged cache is compiled anew and replaced', async () => {
    const home = await mkdtemp(join(tmpdir(), 'cpy-bin-cache-'));
    try {
      const cache = fileURLToPath(new URL('../dist/cpy/install-command/install.cjs.v8cache', import.meta.url));
      const list = () => cpy(['list', '--json'], { CPY_HOME: home });
      await rm(cache, { force: true });
      const first = await list();
      expect(first).toMatchObject({ code: 0, stdout: '{"outcome":"success","command":"list","installed":[]}\n' });
      const written = await readFile(cache);
      expect(written.subarray(0, 15).toString()).toBe('cpy-v8-cache 1 ');

      // The cache's own first line, then bytes V8 refuses.
      await writeFile(cache, Buffer.concat([written.subarray(0, written.indexOf(10) + 1), Buffer.alloc(4096, 0x5a)]));
      expect(await list()).toMatchObject({ code: 0, stdout: first.stdout, stderr: '' });
      expect((await readFile(cache)).includes(Buffer.alloc(64, 0x5a))).toBe(false);

      // Strict, as the ES modules they are built from: the directive is the files' first statement.
      const dist = fileURLToPath(new URL('../dist/cpy/', import.meta.url));
      const files = [join(dist, 'main.cjs'), ...(await readdir(join(dist, 'install-command'))).filter((f) => f.endsWith('.cjs')).map((f) => join(dist, 'install-command', f))];
      expect(files.length).toBeGreaterThan(5);
      for (const file of files) expect(`${file}: ${(await readFile(file, 'latin1')).slice(0, 13)}`).toBe(`${file}: "use strict";`);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe("the README's main command, bash scripts/run.sh", () => {
  it('runs cpy where it was started: a relative path is the caller\'s, not the checkout\'s', async () => {
    const here = await mkdtemp(join(tmpdir(), 'cpy-run-sh-'));
    try {
      const script = resolve(process.cwd(), '..', '..', 'scripts', 'run.sh');
      const r = await promisify(execFile)('bash', [script, 'install', '--from', './cpython-3.13.5-debian12-build1.tgz', '--json'], { cwd: here, env: { ...process.env, CPY_HOME: join(here, 'home') } }).catch(
        (e: { stdout: string; code: number }) => e,
      );
      const doc = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { error: { code: string; message: string } };
      expect(doc.error.code).toBe('CPY_INSTALL_NOT_FOUND');
      expect(doc.error.message).toBe(`the artifact ${here}/cpython-3.13.5-debian12-build1.tgz does not exist`);
    } finally {
      await rm(here, { recursive: true, force: true });
    }
  }, 120_000);
});

import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { errorOf, runsNow, until } from '@cpy/harness';
import { hostRunner } from '../compile/runner.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-runner-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('hostRunner', () => {
  it("logs the command's output, hands it on line by line, and gives its exit code; a missing program is 127", async () => {
    const run = hostRunner();
    const logFile = join(work, 'a.log');
    const lines: string[] = [];
    const r = await run(['sh', '-c', 'echo one; echo two >&2; sleep 0.2; printf three; exit 3'], { logFile, cwd: work, env: { CPY_RUNNER_TEST: 'x' }, onLine: (l) => lines.push(l) });
    expect(r).toEqual({ exitCode: 3 });
    expect(lines.sort()).toEqual(['one', 'three', 'two']);
    expect((await readFile(logFile, 'utf8')).split('\n').sort()).toEqual(['one', 'three', 'two']);
    expect(await run([join(work, 'no-such-program')], { logFile })).toEqual({ exitCode: 127 });
    expect(await readFile(logFile, 'utf8')).toContain(`${join(work, 'no-such-program')}: command not found`);
  });

  it("a log that cannot be written (a full disk: /dev/full) is CPY_BUILD_DISK_FULL once the command ends, not a crash", async () => {
    const run = hostRunner();
    const lines: string[] = [];
    const error = await errorOf(run(['sh', '-c', 'echo one; echo two'], { logFile: '/dev/full', onLine: (l) => lines.push(l) }));
    expect(error).toMatchObject({ code: 'CPY_BUILD_DISK_FULL', message: expect.stringContaining('/dev/full could not be written (ENOSPC'), hint: expect.stringContaining('free space') });
    expect(lines).toEqual(['one', 'two']);
  });

  it('aborted, it stops the command and what it started (as make its compilers), then rejects with CPY_BUILD_CANCELLED', async () => {
    const pids = join(work, 'pids');
    const stop = new AbortController();
    const pending = hostRunner(500)(['sh', '-c', `trap '' TERM; (exec sleep 60) </dev/null >/dev/null 2>&1 & echo "$$ $!" > ${pids}; wait`], { logFile: join(work, 'b.log'), signal: stop.signal });
    await until(() => existsSync(pids));
    const [sh, sleep] = (await readFile(pids, 'utf8')).trim().split(' ').map(Number) as [number, number];
    stop.abort();
    expect((await errorOf(pending)).code).toBe('CPY_BUILD_CANCELLED');
    // Settled only once both are gone: the SIGTERM was ignored, the SIGKILL after 500 ms was not.
    expect(runsNow(sh)).toBe(false);
    expect(runsNow(sleep)).toBe(false);
  }, 20_000);
});

import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runsNow, until } from '@cpy/harness';
import { runStoppable } from '../stoppable.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-stoppable-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('runStoppable', () => {
  it('gives what the program printed, or its exit code and stderr', async () => {
    await expect(runStoppable('sh', ['-c', 'echo out; echo err >&2'], { maxBuffer: 1024 })).resolves.toEqual({ stdout: 'out\n', stderr: 'err\n' });
    await expect(runStoppable('sh', ['-c', 'echo why >&2; exit 3'], { maxBuffer: 1024 })).rejects.toMatchObject({ code: 3, stderr: 'why\n' });
    await expect(runStoppable(join(work, 'none'), [], { maxBuffer: 1024 })).rejects.toMatchObject({ message: expect.stringContaining('ENOENT') });
    // Text as execFile gives it: a UTF-8 sequence split between chunks is whole, one cut at the end is U+FFFD.
    await expect(runStoppable('sh', ['-c', String.raw`printf '\303'; sleep 0.1; printf '\251\303'`], { maxBuffer: 1024 })).resolves.toEqual({ stdout: '\u00e9\uFFFD', stderr: '' });
  });

  it('stopped before it starts, the program does not run', async () => {
    const before = new AbortController();
    before.abort();
    const marker = join(work, 'ran');
    await expect(runStoppable('touch', [marker], { maxBuffer: 1024, signal: before.signal })).rejects.toMatchObject({ signal: 'SIGTERM' });
    expect(existsSync(marker)).toBe(false);
  });

  it('stopped, it rejects with the signal that ended it, once its group is gone', async () => {
    const pids = join(work, 'pids');
    const stop = new AbortController();
    const running = runStoppable('sh', ['-c', `sleep 60 & echo "$$ $!" > ${pids}; wait`], { maxBuffer: 1024, signal: stop.signal });
    await until(() => existsSync(pids));
    const [sh, sleep] = (await readFile(pids, 'utf8')).trim().split(' ').map(Number) as [number, number];
    stop.abort();
    await expect(running).rejects.toMatchObject({ signal: 'SIGTERM' });
    expect(runsNow(sh)).toBe(false);
    // What it started too (its process group), not only the program itself.
    expect(runsNow(sleep)).toBe(false);
  });

  it('output past maxBuffer stops the program, and is not kept', async () => {
    const error = await runStoppable('sh', ['-c', 'yes'], { maxBuffer: 1024 * 1024 }).catch((e: unknown) => e as { message: string; stdout: string });
    expect(error).toMatchObject({ message: expect.stringContaining('maxBuffer') });
    expect(error.stdout.length).toBeLessThan(2 * 1024 * 1024);
  });
});

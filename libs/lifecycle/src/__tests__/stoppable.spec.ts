import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runStoppable } from '../stoppable.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-stoppable-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const until = async (done: () => boolean) => {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 25));
};

describe('runStoppable', () => {
  it('gives what the program printed, or its exit code and stderr', async () => {
    await expect(runStoppable('sh', ['-c', 'echo out; echo err >&2'], { maxBuffer: 1024 })).resolves.toEqual({ stdout: 'out\n', stderr: 'err\n' });
    await expect(runStoppable('sh', ['-c', 'echo why >&2; exit 3'], { maxBuffer: 1024 })).rejects.toMatchObject({ code: 3, stderr: 'why\n' });
    await expect(runStoppable(join(work, 'none'), [], { maxBuffer: 1024 })).rejects.toMatchObject({ message: expect.stringContaining('ENOENT') });
  });

  it('stopped, it ends the program and what the program started (a SIGTERM to the group), and settles once they have ended', async () => {
    // sh starts a sleep of its own (as pip starts a build backend) and waits for it.
    const pids = join(work, 'pids');
    const stop = new AbortController();
    const running = runStoppable('sh', ['-c', `sleep 60 & echo "$$ $!" > ${pids}; wait`], { maxBuffer: 1024, signal: stop.signal });
    await until(() => existsSync(pids));
    const [sh, sleep] = (await readFile(pids, 'utf8')).trim().split(' ').map(Number) as [number, number];
    expect(alive(sleep)).toBe(true);
    stop.abort();
    await expect(running).rejects.toMatchObject({ signal: 'SIGTERM' });
    expect(alive(sh)).toBe(false);
    // Killed by the same signal, reaped by init (not by this process): gone within moments.
    await until(() => !alive(sleep));
    expect(alive(sleep)).toBe(false);
  });

  it('stopped before it starts, the program does not run; one that ignores SIGTERM is killed after the grace period', async () => {
    const before = new AbortController();
    before.abort();
    const marker = join(work, 'ran');
    await expect(runStoppable('sh', ['-c', `touch ${marker}`], { maxBuffer: 1024, signal: before.signal })).rejects.toMatchObject({ signal: 'SIGTERM' });
    expect(existsSync(marker)).toBe(false);

    const stop = new AbortController();
    const ready = join(work, 'ready');
    const deaf = runStoppable('sh', ['-c', `trap '' TERM; touch ${ready}; sleep 60`], { maxBuffer: 1024, signal: stop.signal });
    await until(() => existsSync(ready));
    stop.abort();
    await expect(deaf).rejects.toMatchObject({ signal: 'SIGKILL' });
  }, 20_000);
});

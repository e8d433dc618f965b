import { existsSync, readFileSync } from 'node:fs';
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

/** Whether the process runs (a zombie, ended but not yet reaped, does not). */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
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

  it('stopped before it starts, the program does not run', async () => {
    const before = new AbortController();
    before.abort();
    const marker = join(work, 'ran');
    await expect(runStoppable('touch', [marker], { maxBuffer: 1024, signal: before.signal })).rejects.toMatchObject({ signal: 'SIGTERM' });
    expect(existsSync(marker)).toBe(false);
  });

  it('what ignores SIGTERM (the program, and one it started that holds no pipe of ours) is killed after the grace period, and waited for', async () => {
    const stop = new AbortController();
    const pids = join(work, 'deaf-pids');
    const deaf = runStoppable('sh', ['-c', `trap '' TERM; (exec sleep 60) </dev/null >/dev/null 2>&1 & echo "$$ $!" > ${pids}; wait`], { maxBuffer: 1024, signal: stop.signal });
    await until(() => existsSync(pids));
    const [sh, sleep] = (await readFile(pids, 'utf8')).trim().split(' ').map(Number) as [number, number];
    stop.abort();
    await expect(deaf).rejects.toMatchObject({ signal: 'SIGKILL' });
    expect(alive(sh)).toBe(false);
    expect(alive(sleep)).toBe(false);
  }, 20_000);

  it('stopped, it does not wait for a program that left the group (setsid) but holds its output', async () => {
    const stop = new AbortController();
    const pid = join(work, 'daemon-pid');
    const started = runStoppable('sh', ['-c', `setsid sleep 30 & echo $! > ${pid}; wait`], { maxBuffer: 1024, signal: stop.signal });
    await until(() => existsSync(pid));
    const daemon = Number((await readFile(pid, 'utf8')).trim());
    try {
      const at = Date.now();
      stop.abort();
      await expect(started).rejects.toMatchObject({ signal: 'SIGTERM' });
      expect(Date.now() - at).toBeLessThan(3000);
    } finally {
      // (Gone already when the stop came before it had left the group.)
      if (alive(daemon)) process.kill(daemon, 'SIGKILL');
    }
  });

  it('output past maxBuffer stops the program, and is not kept', async () => {
    const error = await runStoppable('sh', ['-c', 'yes'], { maxBuffer: 1024 * 1024 }).catch((e: unknown) => e as { message: string; stdout: string });
    expect(error).toMatchObject({ message: expect.stringContaining('maxBuffer') });
    expect(error.stdout.length).toBeLessThan(2 * 1024 * 1024);
  });
});

import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runInGroup } from '../process-group.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-group-'));
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

const pidsOf = async (file: string) => (await readFile(file, 'utf8')).trim().split(' ').map(Number) as [number, number];

describe('runInGroup', () => {
  it('runs in its own process group, in the directory and with the variables given, and passes its output on', async () => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const run = runInGroup('sh', ['-c', 'echo "$(pwd) $X $(ps -o pgid= -p $$ | tr -d " ") $$"; echo e >&2; exit 4'], {
      cwd: work,
      env: { X: 'given' },
      onStdout: (c) => out.push(c),
      onStderr: (c) => err.push(c),
    });
    expect(await run.done).toEqual({ code: 4, signal: null, stopped: false, error: null });
    const [dir, x, pgid, pid] = Buffer.concat(out).toString().trim().split(' ');
    expect([dir, x]).toEqual([work, 'given']);
    expect(pgid).toBe(pid);
    expect(Buffer.concat(err).toString()).toBe('e\n');
  });

  it('a program that is not there: the error, no group', async () => {
    const result = await runInGroup(join(work, 'none'), []).done;
    expect(result).toMatchObject({ code: null, stopped: false, error: expect.objectContaining({ code: 'ENOENT' }) });
  });

  it('stopped, it ends the program and what the program started (a SIGTERM to the group), and settles once they have ended', async () => {
    // sh starts a sleep of its own (as make starts compilers, pip a build backend) and waits for it.
    const pids = join(work, 'pids');
    const stop = new AbortController();
    const run = runInGroup('sh', ['-c', `sleep 60 & echo "$$ $!" > ${pids}; wait`], { signal: stop.signal });
    await until(() => existsSync(pids));
    const [sh, sleep] = await pidsOf(pids);
    expect(alive(sleep)).toBe(true);
    stop.abort();
    expect(await run.done).toMatchObject({ signal: 'SIGTERM', stopped: true });
    expect(alive(sh)).toBe(false);
    // Killed by the same signal, reaped by init (not by this process): gone within moments.
    await until(() => !alive(sleep));
    expect(alive(sleep)).toBe(false);
  });

  it('stopped before it starts, the program does not run', async () => {
    const before = new AbortController();
    before.abort();
    const marker = join(work, 'ran');
    expect(await runInGroup('touch', [marker], { signal: before.signal }).done).toEqual({ code: null, signal: null, stopped: true, error: null });
    expect(existsSync(marker)).toBe(false);
  });

  it('what ignores SIGTERM (the program, and one it started that holds no pipe of ours) is killed after the grace period, and waited for', async () => {
    const pids = join(work, 'deaf-pids');
    const run = runInGroup('sh', ['-c', `trap '' TERM; (exec sleep 60) </dev/null >/dev/null 2>&1 & echo "$$ $!" > ${pids}; wait`], { graceMs: 500 });
    await until(() => existsSync(pids));
    const [sh, sleep] = await pidsOf(pids);
    const at = Date.now();
    run.stop();
    expect(await run.done).toMatchObject({ signal: 'SIGKILL', stopped: true });
    expect(Date.now() - at).toBeGreaterThanOrEqual(500);
    expect(alive(sh)).toBe(false);
    expect(alive(sleep)).toBe(false);
  }, 20_000);

  it('stopped, it does not wait for a program that left the group (setsid) but holds its output', async () => {
    const pid = join(work, 'daemon-pid');
    const run = runInGroup('sh', ['-c', `setsid sleep 30 & echo $! > ${pid}; wait`]);
    await until(() => existsSync(pid));
    const daemon = Number((await readFile(pid, 'utf8')).trim());
    try {
      const at = Date.now();
      run.stop();
      expect(await run.done).toMatchObject({ signal: 'SIGTERM', stopped: true });
      expect(Date.now() - at).toBeLessThan(3000);
    } finally {
      // (Gone already when the stop came before it had left the group.)
      if (alive(daemon)) process.kill(daemon, 'SIGKILL');
    }
  });
});

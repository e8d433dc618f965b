import { randomUUID } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CpyError } from '@cpy/core';

export interface LockOptions {
  readonly timeoutMs: number;
  /** Called once when the lock is held by someone else and we start waiting. */
  readonly onWait?: (holder: string) => void;
}

/** Whether a process with this pid exists (on this host, in this pid namespace). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `work` holding an exclusive lock file: `<pid> <host> <token>`, created
 * with O_EXCL. A lock whose process is gone (same host) is stale: it is
 * renamed away (only one waiter can win that rename) and taken. Locks from
 * another host (a container sharing the volume) are waited for, never stolen.
 */
export async function withLock<T>(path: string, options: LockOptions, work: () => Promise<T>): Promise<T> {
  await mkdir(dirname(path), { recursive: true });
  const me = `${process.pid} ${hostname()} ${randomUUID()}`;
  const deadline = Date.now() + options.timeoutMs;
  let waiting = false;
  for (;;) {
    try {
      await writeFile(path, me, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = await readFile(path, 'utf8').catch(() => null);
    if (holder === null) continue;
    const [pid, host] = holder.split(' ');
    if (host === hostname() && Number(pid) > 0 && !processAlive(Number(pid))) {
      const grave = `${path}.stale-${randomUUID()}`;
      if (await rename(path, grave).then(() => true, () => false)) {
        const taken = await readFile(grave, 'utf8').catch(() => null);
        // Someone took the lock between our read and our rename: give it back.
        if (taken !== holder) await link(grave, path).catch(() => undefined);
        await rm(grave, { force: true });
      }
      continue;
    }
    if (!waiting) {
      waiting = true;
      options.onWait?.(`process ${pid} on ${host}`);
    }
    if (Date.now() > deadline) {
      throw new CpyError('CPY_INSTALL_LOCKED', `another install holds ${path} (process ${pid} on ${host})`, {
        hint: `wait for it to finish; if no cpy is running there, remove ${path}`,
        details: { lock: path },
      });
    }
    await sleep(50 + Math.random() * 100);
  }
  try {
    return await work();
  } finally {
    const still = await readFile(path, 'utf8').catch(() => null);
    if (still === me) await rm(path, { force: true });
  }
}

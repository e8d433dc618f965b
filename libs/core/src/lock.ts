import { link, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CpyErrorCode } from './codes.js';
import { CpyError } from './errors.js';
import { makeDirectory } from './files.js';
import { pidNamespace, processAlive, randomId } from './ids.js';

export interface LockOptions {
  readonly timeoutMs: number;
  /** Called once when the lock is held by someone else and we start waiting. */
  readonly onWait?: (holder: string) => void;
  /** Stops the wait (Ctrl-C): refused as held, saying it was stopped, before the work has begun. */
  readonly signal?: AbortSignal;
}

/** Whose lock it is: the code of its refusals, what holds it, and what to do when it is held. */
export interface LockOwner {
  readonly code: CpyErrorCode;
  /** What a holder is doing, in `another <holds> holds <lock>`: `install`, `build`. */
  readonly holds: string;
  /** What to do when it is held past the timeout (the lock's path in `path`). */
  readonly whenHeld: (path: string) => string;
  /** The code of a wait stopped by its signal (Ctrl-C), when the command has one for a stop (`*_CANCELLED`); default `code`. */
  readonly stopped?: CpyErrorCode;
}

/**
 * An empty lock file older than a minute was left by a process killed as it created it (a cpy
 * before 2026-12-02 created the file, then wrote it); install.sh judges it the same way.
 */
const ABANDONED_EMPTY_MS = 60_000;


/**
 * When a process started, as `<clock ticks since boot>@<boot id>` (/proc/<pid>/stat's 22nd field,
 * /proc/sys/kernel/random/boot_id); null where /proc does not say. With the pid it names one
 * process for good: a pid handed to another process after a restart (a container started again
 * on the same volume) has another start. install.sh's process_start gives the same text.
 */
async function processStart(pid: number): Promise<string | null> {
  try {
    const [stat, boot] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8'), readFile('/proc/sys/kernel/random/boot_id', 'utf8')]);
    // After the name in parentheses (which may hold spaces): field 3 onwards.
    const ticks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return ticks && /^\d+$/.test(ticks) ? `${ticks}@${boot.trim()}` : null;
  } catch {
    return null;
  }
}

/**
 * Makes the lock file appear with its holder already in it: written to a private file first,
 * then hard-linked to the lock's name, which fails when the name exists (as install.sh's
 * lock_take). A kill can leave the private file, never a lock that names no one. Where the file
 * system has no hard links, the lock is created with O_EXCL and written. false: it is held.
 */
async function take(owner: LockOwner, path: string, me: string): Promise<boolean> {
  const mine = `${path}.take-${randomId()}`;
  try {
    await writeFile(mine, me, { flag: 'wx' });
    await link(mine, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw cannotCreate(owner, path, error);
  } finally {
    await rm(mine, { force: true });
  }
  try {
    await writeFile(path, me, { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw cannotCreate(owner, path, error);
  }
}

function cannotCreate(owner: LockOwner, path: string, cause: unknown): CpyError {
  return new CpyError(owner.code, `cannot create the lock ${path}: ${(cause as Error).message}`, {
    hint: `check that ${dirname(path)} is writable`,
    cause,
  });
}

/**
 * Runs `work` holding an exclusive lock file: `<pid> <host>/<pid namespace> <token> <start>`
 * (pidNamespace and processStart; each left out where /proc does not say), which appears whole
 * (take). A lock whose process is gone (same host and pid namespace), or whose pid now belongs to a
 * process with another start, is stale, and so is an empty one older than a minute: it is renamed
 * away (only one waiter can win that rename) and taken. Locks from another host, or another pid
 * namespace on this one (a container sharing the volume), are waited for, never stolen. A lock
 * without a namespace (written by a cpy before 2026-12-03) is judged by its host alone.
 * `owner` says whose lock it is: the code and words of its refusals.
 */
export async function withLock<T>(owner: LockOwner, path: string, options: LockOptions, work: () => Promise<T>): Promise<T> {
  await makeDirectory(dirname(path)).catch((error: unknown) => {
    throw cannotCreate(owner, path, error);
  });
  const start = await processStart(process.pid);
  const namespace = pidNamespace();
  const me = `${process.pid} ${hostname()}${namespace ? `/${namespace}` : ''} ${randomId()}${start ? ` ${start}` : ''}`;
  const deadline = Date.now() + options.timeoutMs;
  let waiting = false;
  for (;;) {
    if (await take(owner, path, me)) break;
    const holder = await readFile(path, 'utf8').catch(() => null);
    // Ours after all: a link() that succeeded but reported EEXIST (NFS can answer a retried call so).
    if (holder === me) break;
    if (holder === null) {
      const st = await stat(path).catch(() => null);
      // Gone meanwhile (released): try again at once.
      if (!st) continue;
      if (st.isDirectory()) {
        throw new CpyError(owner.code, `cannot take the lock ${path}: it is a directory`, { hint: `remove ${path} (no cpy makes it), then run again`, details: { lock: path } });
      }
    }
    const [pid, where, , started] = (holder ?? '').split(' ');
    const [host, theirs] = (where ?? '').split('/');
    // Our pids are its pids: the same host, and the same pid namespace (or one of the two unknown).
    const ourPids = host === hostname() && (theirs === undefined || namespace === null || theirs === namespace);
    // Gone, or its pid now another process's (a holder that wrote when it started, since 2026-12-02).
    const dead = ourPids && Number(pid) > 0 && (!processAlive(Number(pid)) || (started !== undefined && ((await processStart(Number(pid))) ?? started) !== started));
    const abandoned = holder === '' && (await stat(path).then((s) => Date.now() - s.mtimeMs > ABANDONED_EMPTY_MS, () => false));
    if (dead || abandoned) {
      const grave = `${path}.stale-${randomId()}`;
      if (await rename(path, grave).then(() => true, () => false)) {
        const taken = await readFile(grave, 'utf8').catch(() => null);
        // Someone took the lock between our read and our rename: give it back.
        if (taken !== holder) await link(grave, path).catch(() => undefined);
        await rm(grave, { force: true });
      }
      continue;
    }
    const who = holder ? `process ${pid} on ${host}` : 'a process that has not written its name yet';
    if (!waiting) {
      waiting = true;
      options.onWait?.(who);
    }
    if (options.signal?.aborted) {
      throw new CpyError(owner.stopped ?? owner.code, `stopped while waiting for ${path}, which another ${owner.holds} holds (${who}): nothing was changed`, {
        hint: 'run it again once the other is done',
        details: { lock: path },
      });
    }
    if (Date.now() > deadline) {
      throw new CpyError(owner.code, `another ${owner.holds} holds ${path} (${who})`, {
        hint: owner.whenHeld(path),
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

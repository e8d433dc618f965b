import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
// node:crypto takes 5-8 ms to load, and an already-installed `cpy install` needs neither a hash nor
// a random name (issue 20): it is loaded when one is first asked for. process.getBuiltinModule
// (Node 20.16) rather than createRequire: node:module would load Node's ES module loader (about
// 1 ms) into the CLI's CommonJS install command, which is built to start without it.
let nodeCrypto: typeof import('node:crypto') | null = null;
const crypto = (): typeof import('node:crypto') => (nodeCrypto ??= process.getBuiltinModule('node:crypto'));

/** A random UUID, for names that must not collide (temporary files, lock holders). */
export function randomId(): string {
  return crypto().randomUUID();
}

/** The sha256 of `data`, as 64 lower-case hex digits. */
export function sha256Hex(data: string | Uint8Array): string {
  return crypto().createHash('sha256').update(data).digest('hex');
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

let namespace: string | null | undefined;
/**
 * This process's pid namespace, as the number in /proc/self/ns/pid (`pid:[4026531836]`); null where
 * /proc does not say. Two containers can share a host name (host networking) and a volume, but not
 * their pids: a pid from another namespace says nothing about a process here. install.sh's
 * lock_take reads the same.
 */
export function pidNamespace(): string | null {
  if (namespace !== undefined) return namespace;
  let link = '';
  try {
    link = readlinkSync('/proc/self/ns/pid');
  } catch {
    // no /proc
  }
  return (namespace = /^pid:\[(\d+)\]$/.exec(link)?.[1] ?? null);
}

/**
 * Who this process's pids belong to: `<host>.<pid namespace>` (the host name made of
 * [A-Za-z0-9._], and `0` for the namespace where /proc does not say). A file named with it and a
 * pid is judged dead or alive only by a process with the same owner: a container sharing the
 * directory (the same host name under host networking, its own pids) is never judged.
 */
export function processOwner(): string {
  return `${hostname().replace(/[^A-Za-z0-9.]/g, '_')}.${pidNamespace() ?? '0'}`;
}

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

import { readFileSync } from 'node:fs';

/** Whether the process runs: a zombie (ended, not yet reaped) does not. */
export function runsNow(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Waits until `done()` holds, checking every 25 ms, for at most `ms` (default 5 s). */
export async function until(done: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !done() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 25));
}

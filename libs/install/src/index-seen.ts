import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CpyError, sha256Hex, writeFileAtomic } from '@cpy/core';
import { withLock } from './lock.js';

/**
 * Rollback protection for signed indexes. A signature says who made an index, not that it is the
 * newest: a mirror, a cache or an attacker can serve an older index, validly signed, that lacks
 * a fixed build. So the newest `updatedAt` this machine read from a signed index at a location
 * is kept, and an older one read there later is refused.
 *
 * The record is `<stateDir>/indexes/<sha256 of the location, 16 hex>.seen`: the updatedAt, then
 * the location, one per line. It changes only under the lock `<record>.lock`, read again there,
 * so that two installs reading the index at once cannot move it back (the one that read the
 * older index, writing last, would have). install.sh reads and writes the same file under the
 * same lock (check_index_age). Only the form cpy writes (`toISOString()`: milliseconds, UTC) is
 * compared, as text.
 */
const WRITTEN_BY_CPY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** How long a record's lock is waited for: it is held for one read and one write. */
const RECORD_LOCK_MS = 30_000;

export function seenIndexPath(stateDir: string, location: string): string {
  return join(stateDir, 'indexes', `${sha256Hex(location).slice(0, 16)}.seen`);
}

/**
 * Refuses a signed index (read from `location`, at `source`) older than the one read there before
 * (CPY_INSTALL_INDEX_ROLLED_BACK); otherwise records its updatedAt when it is newer. A state
 * directory this user cannot write (or a record's lock held past 30 s) keeps the check, not the
 * record. `onWait` is told once, with the holder and the record, when another install holds its lock.
 */
export async function checkIndexAge(
  stateDir: string,
  location: string,
  source: string,
  updatedAt: string,
  onWait?: (holder: string, record: string) => void,
): Promise<void> {
  if (!WRITTEN_BY_CPY.test(updatedAt)) return;
  const path = seenIndexPath(stateDir, location);
  // true: the record is newer than updatedAt (or the same); refused when older.
  const judge = async (): Promise<boolean> => {
    const seen = (await readFile(path, 'utf8').catch(() => '')).split('\n')[0] ?? '';
    if (!WRITTEN_BY_CPY.test(seen)) return false;
    if (updatedAt < seen) {
      throw new CpyError('CPY_INSTALL_INDEX_ROLLED_BACK', `the index ${source} was updated at ${updatedAt}, before the signed index this machine read there last (updated at ${seen}): an older index is served in its place`, {
        hint: `a mirror or a cache may serve a stale copy, or someone replays an old signed index: check where the index comes from; to go back to that index on purpose, delete ${path}`,
        details: { updatedAt, seen, record: path },
      });
    }
    return updatedAt === seen;
  };
  if (await judge()) return;
  let locked = false;
  await withLock(`${path}.lock`, { timeoutMs: RECORD_LOCK_MS, ...(onWait ? { onWait: (holder: string) => onWait(holder, path) } : {}) }, async () => {
    locked = true;
    if (!(await judge())) await writeFileAtomic(path, `${updatedAt}\n${location}\n`).catch(() => undefined);
  }).catch((error: unknown) => {
    // The lock could not be had (an unwritable state directory; a holder past the wait): no record.
    if (locked) throw error;
  });
}

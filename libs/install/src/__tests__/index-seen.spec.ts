import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { isCpyError } from '@cpy/core';
import { checkIndexAge, seenIndexPath } from '../index-seen.js';

const URL_A = 'https://example.org/releases/download/cpy-index/index.json';
let stateDir: string;
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'cpy-seen-'));
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});
const record = () => readFile(seenIndexPath(stateDir, URL_A), 'utf8').catch(() => null);
const check = (updatedAt: string, location = URL_A) => checkIndexAge(stateDir, location, `${location} (read)`, updatedAt);

describe('checkIndexAge: a signed index never goes back in time on this machine', () => {
  it('records the newest updatedAt read at an address, and refuses an older one there, naming both and the record', async () => {
    await check('2026-12-01T10:00:00.000Z');
    expect(await record()).toBe(`2026-12-01T10:00:00.000Z\n${URL_A}\n`);
    await check('2026-12-01T10:00:00.000Z');
    await check('2026-12-02T10:00:00.000Z');
    expect(await record()).toBe(`2026-12-02T10:00:00.000Z\n${URL_A}\n`);
    const error = await check('2026-12-01T10:00:00.000Z').catch((e: unknown) => e);
    expect(isCpyError(error, 'CPY_INSTALL_INDEX_ROLLED_BACK')).toBe(true);
    expect((error as Error).message).toBe(
      `the index ${URL_A} (read) was updated at 2026-12-01T10:00:00.000Z, before the signed index this machine read there last (updated at 2026-12-02T10:00:00.000Z): an older index is served in its place`,
    );
    expect((error as { hint?: string }).hint).toContain(`delete ${seenIndexPath(stateDir, URL_A)}`);
    expect(await record()).toBe(`2026-12-02T10:00:00.000Z\n${URL_A}\n`);
    // Another address has its own record.
    await check('2026-01-01T00:00:00.000Z', `${URL_A}?mirror`);
  });

  it('compares only the form cpy writes (milliseconds, UTC): another form is neither refused nor recorded', async () => {
    await check('2026-12-02T10:00:00.000Z');
    await check('2026-12-01T10:00:00+02:00');
    await check('2026-12-01T10:00:00Z');
    expect(await record()).toBe(`2026-12-02T10:00:00.000Z\n${URL_A}\n`);
  });

  it('two checks at once never move the record back (the older index, when it is read second under the lock, is refused)', async () => {
    await check('2026-12-01T00:00:00.000Z');
    // The older index's check reads the record (the round before's), then waits for the lock,
    // held by another install (this very process, under another token), which records the newer
    // index's date meanwhile and lets go. The older check, reading the record again under the
    // lock, is refused. Without that second reading it wrote its older date over the newer one.
    const path = seenIndexPath(stateDir, URL_A);
    for (let round = 0; round < 3; round++) {
      const newer = `2026-12-${String(10 + 2 * round).padStart(2, '0')}T00:00:00.000Z`;
      const older = `2026-12-${String(9 + 2 * round).padStart(2, '0')}T00:00:00.000Z`;
      await writeFile(`${path}.lock`, `${process.pid} ${hostname()} another-install`);
      let waiting = false;
      const first = checkIndexAge(stateDir, URL_A, URL_A, older, () => (waiting = true));
      while (!waiting) await new Promise((done) => setTimeout(done, 5));
      await writeFile(path, `${newer}\n${URL_A}\n`);
      await rm(`${path}.lock`);
      const refused = await first.catch((e: unknown) => e);
      expect(isCpyError(refused, 'CPY_INSTALL_INDEX_ROLLED_BACK')).toBe(true);
      expect(await record()).toBe(`${newer}\n${URL_A}\n`);
    }
    // And two at once, as they come: the newer one recorded, whichever takes the lock first.
    const [a, b] = await Promise.allSettled([check('2026-12-30T00:00:00.000Z'), check('2026-12-29T00:00:00.000Z')]);
    expect(a.status).toBe('fulfilled');
    if (b.status === 'rejected') expect(isCpyError(b.reason, 'CPY_INSTALL_INDEX_ROLLED_BACK')).toBe(true);
    expect(await record()).toBe(`2026-12-30T00:00:00.000Z\n${URL_A}\n`);
    // No lock is left behind.
    expect(await readFile(`${seenIndexPath(stateDir, URL_A)}.lock`, 'utf8').catch(() => null)).toBeNull();
  });

  it('says whom it waits for, and on which record, when another install holds the record\'s lock', async () => {
    const path = seenIndexPath(stateDir, URL_A);
    await mkdir(join(stateDir, 'indexes'), { recursive: true });
    // A live holder (this very process, under another token) that lets go after 300 ms.
    await writeFile(`${path}.lock`, `${process.pid} ${hostname()} another-install`);
    const released = new Promise((done) => setTimeout(done, 300)).then(() => rm(`${path}.lock`));
    const waits: [string, string][] = [];
    await checkIndexAge(stateDir, URL_A, URL_A, '2026-12-02T10:00:00.000Z', (holder, on) => waits.push([holder, on]));
    await released;
    expect(waits).toEqual([[`process ${process.pid} on ${hostname()}`, path]]);
    expect(await record()).toBe(`2026-12-02T10:00:00.000Z\n${URL_A}\n`);
  });

  it('a state directory that cannot be written keeps the check, not the record', async () => {
    const file = join(stateDir, 'a-file');
    await writeFile(file, '');
    await expect(checkIndexAge(file, URL_A, URL_A, '2026-12-02T10:00:00.000Z')).resolves.toBeUndefined();
  });
});

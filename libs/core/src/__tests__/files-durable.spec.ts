// writeFileAtomic and copyFileAtomic flush the new content before the rename that makes it the
// file's (after a power cut, a rename kept before the data left an empty file, the old one gone).
// The order of the calls is what a test can see here: node:fs/promises, recorded.
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import * as real from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

const calls: string[] = [];
jest.unstable_mockModule('node:fs/promises', () => ({
  ...real,
  open: async (path: string, flags?: string) => {
    const handle = await real.open(path, flags);
    return new Proxy(handle, {
      get(target, key) {
        if (key === 'sync') return async () => (calls.push(`sync ${basename(path)}`), target.sync());
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  },
  rename: async (from: string, to: string) => (calls.push(`rename ${basename(from)} ${basename(to)}`), real.rename(from, to)),
}));
const { copyFileAtomic, writeFileAtomic } = await import('../files.js');

let dir: string;
beforeAll(async () => void (dir = await real.mkdtemp(join(tmpdir(), 'cpy-durable-'))));
afterAll(() => real.rm(dir, { recursive: true, force: true }));

it('the temporary file is flushed to the disk before it is renamed over the target', async () => {
  await writeFileAtomic(join(dir, 'index.json'), '{}\n');
  await copyFileAtomic(join(dir, 'index.json'), join(dir, 'copy.json'));
  expect(calls).toHaveLength(4);
  const [synced, renamed, copySynced, copyRenamed] = calls;
  expect(synced).toMatch(/^sync index\.json\.tmp-/);
  expect(renamed).toBe(`rename ${synced!.slice('sync '.length)} index.json`);
  expect(copySynced).toMatch(/^sync copy\.json\.tmp-/);
  expect(copyRenamed).toBe(`rename ${copySynced!.slice('sync '.length)} copy.json`);
  expect(await real.readFile(join(dir, 'copy.json'), 'utf8')).toBe('{}\n');
});

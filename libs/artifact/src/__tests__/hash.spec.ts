import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sha256File, sha256FileFollowed } from '../hash.js';

let work: string;
let file: string;
let bytes: Buffer;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-hash-'));
  file = join(work, 'data.bin');
  // Several read chunks' worth, not a multiple of one.
  bytes = Buffer.alloc(5 * 1024 * 1024 + 12345);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
  await writeFile(file, bytes);
});
afterAll(() => rm(work, { recursive: true, force: true }));

const expected = () => createHash('sha256').update(bytes).digest('hex');

describe('sha256FileFollowed: one read for the hash and for a reader', () => {
  it('hands the reader every byte, in order, and hashes the whole file', async () => {
    const seen: Buffer[] = [];
    const sum = await sha256FileFollowed(file, async (stream) => {
      for await (const chunk of stream) seen.push(Buffer.from(chunk));
    });
    expect(sum).toBe(expected());
    expect(sum).toBe(await sha256File(file));
    expect(Buffer.concat(seen).equals(bytes)).toBe(true);
  });

  it('hashes the whole file when its reader stops after the first chunk, and waits for that reader', async () => {
    let readerDone = false;
    const sum = await sha256FileFollowed(file, async (stream) => {
      for await (const chunk of stream) {
        expect(chunk.length).toBeGreaterThan(0);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      readerDone = true;
    });
    expect(readerDone).toBe(true);
    expect(sum).toBe(expected());
  });

  it('hashes the whole file when its reader never reads', async () => {
    const sum = await sha256FileFollowed(file, () => new Promise((resolve) => setTimeout(resolve, 20)));
    expect(sum).toBe(expected());
  });

  it('rejects with the error of a file that cannot be read, after its reader, which sees it too (also a reader that starts late)', async () => {
    for (const late of [0, 30]) {
      let readerError: unknown = null;
      const reading = sha256FileFollowed(join(work, 'missing.bin'), async (stream) => {
        await new Promise((resolve) => setTimeout(resolve, late));
        try {
          for await (const chunk of stream) void chunk;
        } catch (error) {
          readerError = error;
        }
      });
      await expect(reading).rejects.toMatchObject({ code: 'ENOENT' });
      expect((readerError as NodeJS.ErrnoException | null)?.code).toBe('ENOENT');
    }
  });
});

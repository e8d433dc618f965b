import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** The sha256 of a file, read as a stream (hex). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

const CHUNK = 1024 * 1024;

/**
 * sha256File, reading the file once for two: its bytes are also handed to `follow` (which unpacks
 * them, say) as they are read. A reader that stops early is left, and the rest is only hashed:
 * the hash then says what its stop meant (a damaged file, or a refusal of a good one). `follow`
 * resolves once its reader is done; this resolves after it, with the sha256. A file that cannot be
 * read to its end rejects with that error (the reader sees it too), once the reader is done.
 */
export async function sha256FileFollowed(file: string, follow: (bytes: AsyncIterable<Uint8Array>) => Promise<unknown>): Promise<string> {
  const hash = createHash('sha256');
  const out = new PassThrough({ highWaterMark: CHUNK });
  out.on('error', () => undefined);
  let reading = true;
  const done = follow(out).finally(() => {
    reading = false;
  });
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: CHUNK })) {
      hash.update(chunk as Buffer);
      if (reading && !out.write(chunk)) await Promise.race([once(out, 'drain').catch(() => undefined), done]);
    }
    out.end();
    return hash.digest('hex');
  } catch (error) {
    out.destroy(error as Error);
    throw error;
  } finally {
    await done;
  }
}

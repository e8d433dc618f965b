import { open } from 'node:fs/promises';

/** gzip or zstd, from the file's first bytes (not its name). */
export async function compressionOf(archive: string): Promise<'gzip' | 'zstd' | null> {
  const fh = await open(archive, 'r');
  try {
    const head = Buffer.alloc(4);
    await fh.read(head, 0, 4, 0);
    if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    if (head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return null;
  } finally {
    await fh.close();
  }
}

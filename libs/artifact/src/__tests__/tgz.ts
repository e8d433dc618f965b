// A .tgz with exactly the given entries (any tar type, hostile ones included), for the tests that
// read or extract archives.
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack, type Header } from 'tar-stream';

export type Entry = Partial<Header> & { name: string; body?: string };

export async function tgz(path: string, entries: Entry[]): Promise<string> {
  const p = pack();
  const done = pipeline(p, createGzip(), createWriteStream(path));
  for (const { body, ...header } of entries) {
    const isFile = header.type === 'file' || !header.type;
    if (isFile) p.entry({ mode: 0o644, ...header }, body ?? '');
    else p.entry({ mode: 0o644, ...header });
  }
  p.finalize();
  await done;
  return path;
}

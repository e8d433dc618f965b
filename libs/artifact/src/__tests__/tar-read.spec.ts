import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { extract as tarExtract, type Header } from 'tar-stream';
import { TarReader, WAIT, type TarHeader } from '../tar-read.js';
import { tgz } from './tgz.js';

// TarReader replaced tar-stream's extract in extract.ts: each archive here is read by both, and
// must give the same entries (header fields and bytes), the same errors, whatever the chunking.
// Archives from tar-stream's pack (as cpy packs), and from GNU tar in its three formats.

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-tar-read-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

interface Seen {
  name: string;
  type: string | null;
  size: number;
  mode: number;
  mtime: number;
  linkname: string | null;
  sha256: string;
}

const sha = (chunks: Buffer[]) => createHash('sha256').update(Buffer.concat(chunks)).digest('hex');

/** The tar bytes in pieces of `size` bytes (the last one shorter), as a gunzip hands them on. */
function* pieces(tar: Buffer, size: number): Generator<Buffer> {
  for (let at = 0; at < tar.length; at += size) yield tar.subarray(at, at + size);
}

/** Every entry TarReader reads of `tar` pushed in pieces of `size`, with its bytes. */
async function withReader(tar: Buffer, size = 64 * 1024): Promise<Seen[]> {
  const seen: Seen[] = [];
  const reader = new TarReader((header) => {
    const chunks: Buffer[] = [];
    return {
      write: (piece) => void chunks.push(Buffer.from(piece)),
      end: () => void seen.push({ name: header.name, type: header.type, size: header.size, mode: header.mode, mtime: header.mtime.getTime(), linkname: header.linkname, sha256: sha(chunks) }),
    };
  });
  for (const piece of pieces(tar, size)) reader.push(piece);
  reader.end();
  return seen;
}

function withTarStream(tar: Buffer): Promise<Seen[]> {
  return new Promise((resolve, reject) => {
    const seen: Seen[] = [];
    const extract = tarExtract();
    extract.on('entry', (header: Header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('error', reject);
      stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
      stream.on('end', () => {
        seen.push({
          name: header.name,
          type: header.type ?? null,
          size: header.size ?? 0,
          mode: header.mode ?? 0,
          mtime: header.mtime?.getTime() ?? 0,
          linkname: header.linkname ?? null,
          sha256: sha(chunks),
        });
        next();
      });
    });
    extract.on('finish', () => resolve(seen));
    extract.on('error', reject);
    extract.end(tar);
  });
}

/** A tree with what an artifact holds and what makes tar formats differ: long names, links, odd sizes. */
let trees = 0;
async function tree(): Promise<string> {
  const root = join(work, `tree-${++trees}`);
  const deep = join(root, 'opt', 'python-3.13.5', 'lib', 'python3.13', 'site-packages', 'a'.repeat(60), 'b'.repeat(60), 'c'.repeat(60));
  await mkdir(deep, { recursive: true });
  await writeFile(join(deep, `${'long-name-'.repeat(12)}.py`), 'print("deep")\n');
  // Longer than a name field, short enough for ustar's prefix and name.
  await mkdir(join(root, 'opt', 'python-3.13.5', 'm'.repeat(90)));
  await writeFile(join(root, 'opt', 'python-3.13.5', 'm'.repeat(90), 'file-'.repeat(10)), 'ustar\n');
  await writeFile(join(root, 'opt', 'python-3.13.5', 'empty'), '');
  await writeFile(join(root, 'opt', 'python-3.13.5', 'block'), Buffer.alloc(512, 1));
  await writeFile(join(root, 'opt', 'python-3.13.5', 'odd'), Buffer.alloc(100_003, 7));
  await writeFile(join(root, 'opt', 'python-3.13.5', 'utf8-ñamé.txt'), 'é\n');
  await symlink('python3.13', join(root, 'opt', 'python-3.13.5', 'python3'));
  await symlink(`${'x'.repeat(150)}/target`, join(root, 'opt', 'python-3.13.5', 'long-link'));
  await utimes(join(root, 'opt', 'python-3.13.5', 'odd'), 1_700_000_000, 1_700_000_000);
  return root;
}

describe('TarReader: the entries tar-stream reads', () => {
  it.each(['gnu', 'ustar', 'posix'])('of a GNU tar archive in its %s format, in any chunking', async (format) => {
    const root = await tree();
    // ustar holds a name of up to 255 bytes, a link target of 100: what is longer is left out.
    const leftOut = format === 'ustar' ? ['--exclude=long-link', '--exclude=site-packages'] : [];
    const tar = execFileSync('tar', ['-c', `--format=${format}`, ...leftOut, '-C', root, 'opt'], { maxBuffer: 64 * 1024 * 1024 });
    const expected = await withTarStream(tar);
    expect(expected.length).toBeGreaterThan(10);
    expect(expected.some((e) => e.name.length > 150 && e.type === 'file')).toBe(true);
    for (const size of [1, 7, 511, 512, 513, 4096, 1 << 20]) expect({ size, entries: await withReader(tar, size) }).toEqual({ size, entries: expected });
    await rm(root, { recursive: true, force: true });
  });

  it('of an archive tar-stream packs (as cpy packs artifacts), hostile entries included', async () => {
    const archive = await tgz(join(work, 'packed.tgz'), [
      { name: '.cpy-metadata.json', body: '{}' },
      { name: 'opt/python-3.13.5/', type: 'directory', mode: 0o755 },
      { name: `opt/python-3.13.5/${'n'.repeat(120)}/${'m'.repeat(120)}`, body: 'long' },
      { name: 'opt/python-3.13.5/h', type: 'link', linkname: '/etc/shadow' },
      { name: 'opt/python-3.13.5/d', type: 'character-device' },
      { name: 'opt/python-3.13.5/f', type: 'fifo' },
      { name: 'opt/python-3.13.5/s', type: 'symlink', linkname: '../../etc' },
      { name: '../escape', body: 'x' },
      { name: 'opt/python-3.13.5/big', body: 'z'.repeat(300_000), mtime: new Date(1_600_000_000_000) },
    ]);
    const tar = gunzipSync(await readFile(archive));
    const expected = await withTarStream(tar);
    expect(expected.map((e) => e.type)).toEqual(['file', 'directory', 'file', 'link', 'character-device', 'fifo', 'symlink', 'file', 'file']);
    for (const size of [1, 100, 512, 65536]) expect(await withReader(tar, size)).toEqual(expected);
  });
});

/** A copy of `tar` with the first header's field at `offset` replaced, and its checksum made right. */
function withField(tar: Buffer, offset: number, field: Buffer): Buffer {
  const out = Buffer.from(tar);
  field.copy(out, offset);
  out.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of out.subarray(0, 512)) sum += byte;
  Buffer.from(`${sum.toString(8).padStart(6, '0')}\0 `, 'latin1').copy(out, 148);
  return out;
}

describe('TarReader: the numbers of a header, as other tars write them', () => {
  it("reads octal with spaces and NULs around it, base-256, and gives tar-stream's answer for a field that is neither", async () => {
    const tar = gunzipSync(await readFile(await tgz(join(work, 'numbers.tgz'), [{ name: 'a', body: 'x'.repeat(700), mode: 0o640 }])));
    const base256 = Buffer.alloc(12);
    base256[0] = 0x80;
    base256.writeUInt32BE(700, 8);
    const cases: [string, Buffer][] = [
      ['mode, spaces first', withField(tar, 100, Buffer.from('  000750 ', 'latin1'))],
      ['mode, NULs first', withField(tar, 100, Buffer.from('\u0000\u00000000750', 'latin1'))],
      ['mode, a space inside', withField(tar, 100, Buffer.from('0007 50\0', 'latin1'))],
      ['mode, no digits', withField(tar, 100, Buffer.from('abcdefg\0', 'latin1'))],
      ['mode, blank', withField(tar, 100, Buffer.from('        ', 'latin1'))],
      ['size in base-256', withField(tar, 124, base256)],
      ['mtime in base-256, negative', withField(tar, 136, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]))],
      ['mtime, high byte neither 0x80 nor 0xff', withField(tar, 136, Buffer.from([0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]))],
    ];
    for (const [what, archive] of cases) expect({ what, entries: await withReader(archive, 100) }).toEqual({ what, entries: await withTarStream(archive) });
    expect((await withReader(cases[0]![1]))[0]).toMatchObject({ mode: 0o750, size: 700 });
    expect((await withReader(cases[5]![1]))[0]).toMatchObject({ size: 700 });
  });
});

describe('TarReader: what a damaged archive does', () => {
  const plain = async () => gunzipSync(await readFile(await tgz(join(work, 'plain.tgz'), [{ name: 'a', body: 'a'.repeat(10_000) }, { name: 'b', body: 'b' }])));
  const failure = async (read: () => Promise<unknown>) => {
    try {
      await read();
    } catch (error) {
      return (error as Error).message;
    }
    return 'no error';
  };

  it('a stream that ends inside an entry, or inside a header: the message tar-stream gives', async () => {
    const tar = await plain();
    for (const cut of [600, 10_500, 10_752 + 100]) {
      const message = await failure(() => withReader(tar.subarray(0, cut), 333));
      expect({ cut, message }).toEqual({ cut, message: await failure(() => withTarStream(tar.subarray(0, cut))) });
      expect(message).toBe('Unexpected end of data');
    }
  });

  it('a header whose checksum is wrong, or of no tar format: the message tar-stream gives', async () => {
    const tar = await plain();
    const bad = Buffer.from(tar);
    bad[20] = 0x41;
    expect(await failure(() => withReader(bad))).toBe(await failure(() => withTarStream(bad)));
    expect(await failure(() => withReader(bad))).toMatch(/^Invalid tar header/);
    const root = await tree();
    const v7 = execFileSync('tar', ['-c', '--format=v7', '-C', root, 'opt/python-3.13.5/odd']);
    expect(await failure(() => withReader(v7))).toBe(await failure(() => withTarStream(v7)));
    expect(await failure(() => withReader(v7))).toBe('Invalid tar header: unknown format.');
    await rm(root, { recursive: true, force: true });
  });

  it('a GNU long name or link target that is empty is not used (as tar-stream reads it)', async () => {
    const tar = await plain();
    // An 'L' header (GNU's long name) of no bytes, before the archive's first entry.
    const long = Buffer.alloc(512);
    long.write('././@LongLink', 0, 'latin1');
    long.write('0000644\0', 100, 'latin1');
    long.write('00000000000\0', 124, 'latin1');
    long.write('L', 156, 'latin1');
    long.write('ustar  \0', 257, 'latin1');
    long.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of long) sum += byte;
    long.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    const withEmptyLong = Buffer.concat([long, tar]);
    expect(await withReader(withEmptyLong, 100)).toEqual(await withTarStream(withEmptyLong));
    expect((await withReader(withEmptyLong))[0]!.name).toBe('a');
  });

  it('skips the bytes of an entry given no body, and waits where it is told to, then decides that header again', async () => {
    const tar = await plain();
    const names: string[] = [];
    const bodies: string[] = [];
    let waited = false;
    const reader = new TarReader((header: TarHeader) => {
      names.push(header.name);
      if (header.name === 'a') return null;
      if (!waited) {
        waited = true;
        return WAIT;
      }
      const chunks: Buffer[] = [];
      return { write: (piece) => void chunks.push(Buffer.from(piece)), end: () => void bodies.push(Buffer.concat(chunks).toString()) };
    });
    reader.push(tar);
    expect(reader.paused).toBe(true);
    expect(names).toEqual(['a', 'b']);
    expect(bodies).toEqual([]);
    reader.resume();
    reader.end();
    expect(names).toEqual(['a', 'b', 'b']);
    expect(bodies).toEqual(['b']);
  });
});

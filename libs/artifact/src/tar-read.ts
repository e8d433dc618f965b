// A tar stream read synchronously, chunk by chunk, as its bytes come (a gunzip's output): for
// extract.ts, which writes each entry as its bytes pass. tar-stream gave every entry a stream of its
// own, with queues, callbacks and promises between the bytes and the disk. On 3.13.5's artifact
// (2,759 entries, 58 MB) that cost about 300 ms of the main thread, more than the inflate on
// libuv's pool, so the pass waited on it. Here a chunk's entries are written before the next chunk
// is asked for, while the pool inflates it.
//
// It reads what tar-stream 3 reads: ustar (with its prefix) and GNU headers (long names and link
// targets, base-256 numbers), pax headers (path, linkpath and size; a global one's records count
// where a later one has none); an empty header (a checksum of zeros) is skipped; a directory has no
// bytes, whatever its size field says. A header of another format or with a wrong checksum is an
// error with tar-stream's message, and so is a stream that ends inside an entry or a header.
// tar-read.spec.ts holds it to tar-stream on the same archives.

/** The fields of an entry's header that an extraction reads, as tar-stream names them. */
export interface TarHeader {
  readonly name: string;
  /** tar-stream's names; null for a type flag no tar defines. */
  readonly type: TarType | null;
  readonly size: number;
  readonly mode: number;
  readonly mtime: Date;
  readonly linkname: string | null;
}

export type TarType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo' | 'contiguous-file';

/** Where an entry's bytes go, in order, as they pass; `end` once they all have (also for none). */
export interface TarBody {
  write(piece: Buffer): void;
  end(): void;
}

/**
 * Decides each entry as its header is read: a body for its bytes, null to skip them, or WAIT to
 * be asked again, with the same header, after `resume` (the reader stops where it is until then).
 */
export type TarVisitor = (header: TarHeader) => TarBody | null | typeof WAIT;
export const WAIT: unique symbol = Symbol('wait');

const BLOCK = 512;
const TYPES: Record<string, TarType> = {
  '\0': 'file',
  '0': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'character-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
  '7': 'contiguous-file',
};
/** Larger than this, a pax header or GNU long name is refused (a real one holds a path). */
const MAX_META_ENTRY = 1024 * 1024;
const EMPTY_CHECKSUM = 8 * 0x20;

/** A NUL-terminated field (names are UTF-8, as tar-stream reads them). */
function text(block: Buffer, start: number, length: number): string {
  let end = block.indexOf(0, start);
  if (end === -1 || end > start + length) end = start + length;
  return block.toString('utf8', start, end);
}

/**
 * A numeric field as tar-stream reads it: octal digits after spaces or NULs, up to a space (NaN
 * when there are none, 0 when the field is blank), or base-256 when the high bit is set.
 */
function number(block: Buffer, start: number, length: number): number {
  const end = start + length;
  const lead = block[start]!;
  if (lead & 0x80) {
    if (lead !== 0x80 && lead !== 0xff) return 0;
    let sum = 0;
    for (let i = start + 1; i < end; i++) sum = sum * 256 + (lead === 0x80 ? block[i]! : 0xff - block[i]!);
    return lead === 0x80 ? sum : -sum;
  }
  let at = start;
  while (at < end && block[at] === 0x20) at++;
  let stop = block.indexOf(0x20, at);
  if (stop === -1 || stop > end) stop = end;
  while (at < stop && block[at] === 0) at++;
  if (at === stop) return 0;
  let value = 0;
  let digits = 0;
  for (; at < stop && block[at]! >= 0x30 && block[at]! <= 0x37; at++, digits++) value = value * 8 + (block[at]! - 0x30);
  return digits === 0 ? NaN : value;
}

/** A header's checksum: the sum of its bytes, those of the checksum field counted as spaces. */
function checksum(block: Buffer): number {
  let sum = EMPTY_CHECKSUM;
  for (let i = 0; i < 148; i++) sum += block[i]!;
  for (let i = 156; i < BLOCK; i++) sum += block[i]!;
  return sum;
}

/** The pax keys an extraction reads: the others are not kept (a global header's are copied into each entry's). */
const PAX_KEYS = new Set(['path', 'linkpath', 'size']);

/** pax records, `<length> <key>=<value>\n` each, read as tar-stream reads them: up to one it cannot. */
function paxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  for (let rest = data; rest.length > 0; ) {
    let space = rest.indexOf(0x20);
    if (space === -1) space = rest.length;
    const length = Number.parseInt(rest.toString('utf8', 0, space), 10);
    if (!length) break;
    const record = rest.subarray(space + 1, length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals === -1) break;
    const key = record.slice(0, equals);
    if (PAX_KEYS.has(key)) records.set(key, record.slice(equals + 1));
    rest = rest.subarray(length);
  }
  return records;
}

export class TarReader {
  /** True from a WAIT until `resume`. */
  paused = false;
  private chunk: Buffer = Buffer.alloc(0);
  private at = 0;
  /** A header or a pax/GNU entry that spans chunks, gathered. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  private state: 'header' | 'meta' | 'body' | 'pad' = 'header';
  /** The header a WAIT left to be decided again. */
  private waiting: TarHeader | null = null;
  private body: TarBody | null = null;
  private left = 0;
  private pad = 0;
  private meta = { flag: '', size: 0 };
  private pax: Map<string, string> | null = null;
  private paxGlobal: Map<string, string> | null = null;
  private longName: string | null = null;
  private longLink: string | null = null;

  constructor(private readonly visit: TarVisitor) {}

  /** Reads a chunk: its entries are decided and their bytes handed on before this returns (or a WAIT). */
  push(chunk: Buffer): void {
    if (this.at < this.chunk.length) throw new Error('tar-read: a chunk was pushed before the last one was read');
    this.chunk = chunk;
    this.at = 0;
    this.run();
  }

  /** Goes on after a WAIT: the header is decided again, then the rest of the chunk read. */
  resume(): void {
    this.paused = false;
    const header = this.waiting;
    this.waiting = null;
    if (header) this.decide(header);
    this.run();
  }

  /** The stream's end: an error if it ends inside an entry or a header. */
  end(): void {
    if (this.paused || this.state !== 'header' || this.heldBytes > 0) throw new Error('Unexpected end of data');
  }

  private run(): void {
    while (!this.paused && this.at < this.chunk.length) {
      if (this.state === 'body') {
        const piece = this.chunk.subarray(this.at, this.at + Math.min(this.left, this.chunk.length - this.at));
        this.at += piece.length;
        this.left -= piece.length;
        this.body?.write(piece);
        if (this.left === 0) this.ended();
      } else if (this.state === 'pad') {
        const n = Math.min(this.pad, this.chunk.length - this.at);
        this.at += n;
        this.pad -= n;
        if (this.pad === 0) this.state = 'header';
      } else if (this.state === 'header') {
        const block = this.gather(BLOCK);
        if (block) this.header(block);
      } else {
        const data = this.gather(Math.ceil(this.meta.size / BLOCK) * BLOCK);
        if (data) {
          this.describe(this.meta.flag, data.subarray(0, this.meta.size));
          this.state = 'header';
        }
      }
    }
  }

  /** `n` bytes from where the reader is, once that many have come (copied only when they span chunks). */
  private gather(n: number): Buffer | null {
    const rest = this.chunk.length - this.at;
    if (this.heldBytes === 0 && rest >= n) {
      this.at += n;
      return this.chunk.subarray(this.at - n, this.at);
    }
    const take = Math.min(n - this.heldBytes, rest);
    this.held.push(Buffer.from(this.chunk.subarray(this.at, this.at + take)));
    this.heldBytes += take;
    this.at += take;
    if (this.heldBytes < n) return null;
    const whole = Buffer.concat(this.held, n);
    this.held = [];
    this.heldBytes = 0;
    return whole;
  }

  private header(block: Buffer): void {
    const sum = checksum(block);
    if (sum === EMPTY_CHECKSUM) return;
    if (sum !== number(block, 148, 8)) throw new Error('Invalid tar header. Maybe the tar is corrupted or it needs to be gunzipped?');
    const magic = block.toString('latin1', 257, 263);
    const ustar = magic === 'ustar\0';
    if (!ustar && !(magic === 'ustar ' && block.toString('latin1', 263, 265) === ' \0')) throw new Error('Invalid tar header: unknown format.');
    const flag = String.fromCharCode(block[156]!);
    const size = number(block, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`Invalid tar header: a size of ${text(block, 124, 12)}`);

    // The entries that describe the next one.
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'N' || flag === 'K') {
      if (size > MAX_META_ENTRY) throw new Error(`Invalid tar header: a '${flag}' entry of ${size} bytes`);
      this.meta = { flag, size };
      this.state = 'meta';
      return;
    }

    let name = text(block, 0, 100);
    if (ustar && block[345] !== 0) name = `${text(block, 345, 155)}/${name}`;
    let linkname = block[157] === 0 ? null : text(block, 157, 100);
    let size_ = size;
    // An empty one is not used, as tar-stream does not use it.
    if (this.longName) name = this.longName;
    if (this.longLink) linkname = this.longLink;
    if (this.pax) {
      const path = this.pax.get('path');
      const linkpath = this.pax.get('linkpath');
      const paxSize = this.pax.get('size');
      if (path) name = path;
      if (linkpath) linkname = linkpath;
      if (paxSize) size_ = Number.parseInt(paxSize, 10);
      if (!Number.isSafeInteger(size_) || size_ < 0) throw new Error(`Invalid tar header: a pax size of ${paxSize}`);
    }
    this.pax = this.longName = this.longLink = null;
    // (A file named `x/` stays a file, as tar-stream 3 leaves it: extract.ts strips the slash.)
    const type = TYPES[flag] ?? null;
    // A directory has no bytes, whatever its size field says; any other entry has its size's.
    this.left = type === 'directory' ? 0 : size_;
    this.pad = (BLOCK - (this.left % BLOCK)) % BLOCK;
    this.decide({ name, type, size: size_, mode: number(block, 100, 8), mtime: new Date(number(block, 136, 12) * 1000), linkname });
  }

  private decide(header: TarHeader): void {
    const body = this.visit(header);
    if (body === WAIT) {
      this.paused = true;
      this.waiting = header;
      return;
    }
    this.body = body;
    this.state = 'body';
    if (this.left === 0) this.ended();
  }

  private ended(): void {
    const body = this.body;
    this.body = null;
    this.state = this.pad > 0 ? 'pad' : 'header';
    body?.end();
  }

  private describe(flag: string, data: Buffer): void {
    if (flag === 'x') this.pax = new Map([...(this.paxGlobal ?? []), ...paxRecords(data)]);
    else if (flag === 'g') this.paxGlobal = paxRecords(data);
    else if (flag === 'K') this.longLink = text(data, 0, data.length);
    else this.longName = text(data, 0, data.length);
  }
}

import { createHash } from 'node:crypto';
import { close, closeSync, openSync, read, writeSync } from 'node:fs';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { TransferEvents } from './transfer.js';

const readAt = promisify(read);
const closeFd = promisify(close);

/** Bytes read from a file, or from a file being written, at a time. */
export const CHUNK = 1024 * 1024;

/**
 * The bytes a download has written so far, as a stream that waits for more until the download
 * ends: a reader behind the writer. It reads what is on disk (the page cache), so the writer is
 * never paused (undici must not be: see attemptHttp) and nothing is held in memory.
 */
export class Follower {
  private written = 0;
  private finished = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  readonly stream: Readable;

  constructor(private readonly fd: number) {
    this.stream = Readable.from(this.chunks(), { objectMode: false });
    // Closed however the stream ends: read to the end, failed, or dropped by its reader.
    this.stream.once('close', () => void closeFd(fd).catch(() => undefined));
  }

  grew(written: number): void {
    this.written = written;
    this.poke();
  }

  end(): void {
    this.finished = true;
    this.poke();
  }

  fail(error: Error): void {
    this.failure ??= error;
    this.poke();
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private async *chunks(): AsyncGenerator<Buffer> {
    let at = 0;
    for (;;) {
      if (this.failure) throw this.failure;
      if (at < this.written) {
        const buffer = Buffer.allocUnsafe(Math.min(CHUNK, this.written - at));
        const { bytesRead } = await readAt(this.fd, buffer, 0, buffer.length, at);
        if (bytesRead === 0) throw new Error(`the download file ended at ${at} of ${this.written} bytes written`);
        at += bytesRead;
        yield buffer.subarray(0, bytesRead);
        continue;
      }
      if (this.finished) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

function writeAll(fd: number, chunk: Buffer): void {
  for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
}

/** A write to the sink's file failed (the local disk's fault, not the source's): its error is the cause. */
export class SinkWriteError extends Error {
  constructor(cause: unknown) {
    super(`cannot write: ${(cause as Error).message}`, { cause });
  }
}

export interface SinkInfo {
  readonly url: string;
  readonly file: string;
  readonly total: number | null;
  readonly attempt: number;
  /** The most bytes this file may have: past it, the transfer stops (SinkLimitError). */
  readonly limit?: number | undefined;
}

/** A body past the limit its caller set: stopped there, never written whole. */
export class SinkLimitError extends Error {
  constructor(readonly limit: number) {
    super(`it is larger than ${limit} bytes`);
  }
}

/**
 * Where one attempt's bytes go: written synchronously to `tmp`, hashed, counted and reported, in
 * that order, so that a follower never reads past what is on disk.
 */
export function openSink(tmp: string, info: SinkInfo, events: TransferEvents, follow: ((follower: Follower) => void) | null) {
  const fd = openSync(tmp, 'w');
  let follower: Follower | null = null;
  if (follow) {
    follower = new Follower(openSync(tmp, 'r'));
    follow(follower);
  }
  const hash = createHash('sha256');
  let received = 0;
  return {
    received: () => received,
    /**
     * Writes each chunk of `source` as it arrives, never pausing it (see attemptHttp), until it
     * ends; then `check` (a complete body?). Ends the follower's stream, or fails it with the
     * error (mapped by `failure`), and closes the file either way.
     */
    async drain(source: Readable, { check, failure = (e) => e }: { check?: () => void; failure?: (error: unknown) => unknown } = {}) {
      try {
        await new Promise<void>((resolve, reject) => {
          source.on('data', (chunk: Buffer) => {
            try {
              writeAll(fd, chunk);
            } catch (error) {
              source.destroy();
              reject(new SinkWriteError(error));
              return;
            }
            hash.update(chunk);
            received += chunk.length;
            if (info.limit !== undefined && received > info.limit) {
              source.destroy();
              reject(new SinkLimitError(info.limit));
              return;
            }
            follower?.grew(received);
            events.onProgress?.({ ...info, received });
          });
          source.once('end', resolve);
          source.once('error', reject);
        });
        check?.();
      } catch (error) {
        const mapped = failure(error);
        follower?.fail(mapped as Error);
        throw mapped;
      } finally {
        closeSync(fd);
      }
      follower?.end();
      return { sha256: hash.digest('hex'), bytes: received };
    },
  };
}

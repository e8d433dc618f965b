import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { compressionOf } from './archive.js';
import { CpyError } from '@cpy/core';

/** Every zlib chunk is a thread-pool round trip: big buffers make gunzip several times faster. */
const CHUNK = 1024 * 1024;

/**
 * The tar bytes of a gzip stream; the source's errors come out of the returned stream, also one
 * it met before this was called (a file that could not be opened), and a reader that stops early
 * stops the source.
 */
export function gunzipped(source: Readable): Readable {
  const gunzip = createGunzip({ chunkSize: CHUNK });
  // Whoever reads sees the first error; zlib may emit another once torn down.
  gunzip.on('error', () => undefined);
  pipeline(source, gunzip, () => undefined);
  return gunzip;
}

/**
 * The tar bytes of an artifact, decompressed as they are read: gzip with
 * zlib, zstd with the zstd program. Errors (a truncated or corrupt file, no
 * zstd) come out of the returned stream.
 */
export async function openTar(archive: string): Promise<Readable> {
  const kind = await compressionOf(archive);
  if (kind === 'gzip') return gunzipped(createReadStream(archive, { highWaterMark: CHUNK }));
  if (kind === 'zstd') {
    const out = new PassThrough({ highWaterMark: CHUNK });
    const child = spawn('zstd', ['-dcq', '--', archive], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', (cause) =>
      out.destroy(
        new CpyError('CPY_ARTIFACT_NO_ZSTD', `${archive} is zstd-compressed, and zstd cannot be run: ${cause.message}`, {
          hint: 'install zstd (apt-get install zstd), or use the .tgz artifact',
          cause,
          details: { reason: cause.message },
        }),
      ),
    );
    child.stdout.pipe(out, { end: false });
    child.on('close', (code) =>
      code === 0
        ? out.end()
        : out.destroy(
            new CpyError('CPY_ARTIFACT_CORRUPT', `cannot read ${archive}: zstd: ${stderr.trim() || `exit ${code}`}`, {
              hint: 'the file is damaged or not a cpy artifact: download it again and check its .sha256',
            }),
          ),
    );
    // A reader that stops early (the metadata is the first entry) ends the child.
    out.on('close', () => child.kill());
    return out;
  }
  throw new CpyError('CPY_ARTIFACT_CORRUPT', `${archive} is neither gzip nor zstd`, {
    hint: 'the file is damaged or not a cpy artifact: download it again and check its .sha256',
  });
}

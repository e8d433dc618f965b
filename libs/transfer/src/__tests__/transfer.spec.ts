import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createHttpClient, displayUrl, downloadToFile, TransferError, type RetryPolicy } from '../index.js';

const FAST: RetryPolicy = { attempts: 3, baseDelayMs: 10, maxDelayMs: 20, maxRetryAfterMs: 1000 };
const BODY = Buffer.alloc(300_000, 'x');
const SHA = createHash('sha256').update(BODY).digest('hex');

let work: string;
let server: Server | null = null;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-transfer-'));
});
afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = null;
  await rm(work, { recursive: true, force: true });
});

/** A loopback server that answers with `statuses` in turn, then the body. */
async function serve(statuses: number[]): Promise<string> {
  let i = 0;
  server = createServer((_req, res) => {
    const status = statuses[i++] ?? 200;
    if (status !== 200) return void res.writeHead(status, { 'content-length': '0' }).end();
    res.writeHead(200, { 'content-length': String(BODY.length) }).end(BODY);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}/a.tgz`;
}

describe('downloadToFile', () => {
  it('hashes while it streams, retries a 5xx, and leaves only the finished file', async () => {
    const url = await serve([503]);
    const client = await createHttpClient({ env: {} });
    const retries: string[] = [];
    try {
      const r = await downloadToFile(new URL(url), join(work, 'a.tgz'), { client, retry: FAST, onRetry: (x) => void retries.push(x.reason) });
      expect(r).toEqual({ sha256: SHA, bytes: BODY.length });
    } finally {
      await client.close();
    }
    expect(retries).toEqual(['HTTP 503']);
    expect(await readdir(work)).toEqual(['a.tgz']);
  });

  it('follows a redirect (a release asset answers 302 to its storage), with the query string and the user agent', async () => {
    const seen: string[] = [];
    server = createServer((req, res) => {
      seen.push(`${req.url} ${req.headers['user-agent']}`);
      if (req.url === '/releases/a.tgz?x=1') return void res.writeHead(302, { location: '/storage/a.tgz?sig=s%2F1', 'content-length': '0' }).end();
      if (req.url === '/storage/a.tgz?sig=s%2F1') return void res.writeHead(200, { 'content-length': String(BODY.length) }).end(BODY);
      res.writeHead(404, { 'content-length': '0' }).end();
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const client = await createHttpClient({ env: {}, userAgent: 'cpy (test)' });
    try {
      const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/releases/a.tgz?x=1`);
      expect(await downloadToFile(url, join(work, 'a.tgz'), { client, retry: FAST })).toEqual({ sha256: SHA, bytes: BODY.length });
    } finally {
      await client.close();
    }
    expect(seen).toEqual(['/releases/a.tgz?x=1 cpy (test)', '/storage/a.tgz?sig=s%2F1 cpy (test)']);
    expect(await readdir(work)).toEqual(['a.tgz']);
  });

  it('never retries a 404, and writes nothing', async () => {
    const url = await serve([404, 404]);
    const client = await createHttpClient({ env: {} });
    let error: unknown;
    try {
      await downloadToFile(new URL(url), join(work, 'a.tgz'), { client, retry: FAST });
    } catch (e) {
      error = e;
    } finally {
      await client.close();
    }
    expect(error).toBeInstanceOf(TransferError);
    expect((error as TransferError).kind).toBe('not-found');
    expect(await readdir(work)).toEqual([]);
  });

  it('maxBytes: a body larger than it is refused unread (its Content-Length), or stopped once past it (no Content-Length), never retried; a file:// one too; nothing left', async () => {
    const kindOf = async (url: URL, client: Awaited<ReturnType<typeof createHttpClient>>) =>
      downloadToFile(url, join(work, 'sig.asc'), { client, retry: FAST, maxBytes: 100_000 }).then(
        () => 'downloaded',
        (e: unknown) => (e instanceof TransferError ? `${e.kind}: ${e.message}` : String(e)),
      );
    const client = await createHttpClient({ env: {} });
    let requests = 0;
    try {
      const sized = new URL(await serve([]));
      expect(await kindOf(sized, client)).toBe('too-large: it is larger than 100000 bytes');
      // Chunked (no length): stopped past the limit.
      await new Promise((r) => server!.close(r));
      server = createServer((_req, res) => {
        requests++;
        res.writeHead(200);
        for (let i = 0; i < 10; i++) res.write(Buffer.alloc(50_000, 'y'));
        res.end();
      });
      await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
      expect(await kindOf(new URL(`http://127.0.0.1:${(server!.address() as AddressInfo).port}/x.asc`), client)).toBe('too-large: it is larger than 100000 bytes');
      expect(requests).toBe(1);
      await writeFile(join(work, 'big.tgz'), BODY);
      expect(await kindOf(pathToFileURL(join(work, 'big.tgz')), client)).toBe('too-large: it is larger than 100000 bytes');
      // Under the limit: as without one.
      await writeFile(join(work, 'small.asc'), 'sig');
      expect(await kindOf(pathToFileURL(join(work, 'small.asc')), client)).toBe('downloaded');
    } finally {
      await client.close();
    }
    expect((await readdir(work)).sort()).toEqual(['big.tgz', 'sig.asc', 'small.asc']);
  });

  it('copies file:// URLs the same way, and says when the file is missing', async () => {
    await writeFile(join(work, 'src.tgz'), BODY);
    const client = await createHttpClient({ env: {} });
    try {
      expect(await downloadToFile(pathToFileURL(join(work, 'src.tgz')), join(work, 'dst.tgz'), { client })).toEqual({ sha256: SHA, bytes: BODY.length });
      expect((await readFile(join(work, 'dst.tgz'))).equals(BODY)).toBe(true);
      await expect(downloadToFile(pathToFileURL(join(work, 'none.tgz')), join(work, 'x.tgz'), { client })).rejects.toMatchObject({ kind: 'not-found' });
      // A file where a directory of the path goes (a mirror given as a file): missing, not this disk's fault (it was 'local': the cache was blamed).
      await expect(downloadToFile(pathToFileURL(join(work, 'src.tgz', '3.13.5', 'a.tgz')), join(work, 'x.tgz'), { client })).rejects.toMatchObject({
        kind: 'not-found',
        message: `${join(work, 'src.tgz', '3.13.5', 'a.tgz')} does not exist (a file is where a directory of its path goes)`,
      });
      // A file that cannot be read (a link loop here; as a user, its permissions): the source's fault, said so.
      await symlink('loop.tgz', join(work, 'loop.tgz'));
      await expect(downloadToFile(pathToFileURL(join(work, 'loop.tgz')), join(work, 'x.tgz'), { client })).rejects.toMatchObject({
        kind: 'source',
        message: expect.stringMatching(/^cannot read .*loop\.tgz: ELOOP/),
      });
    } finally {
      await client.close();
    }
    expect(existsSync(join(work, 'x.tgz'))).toBe(false);
  });

  it('lets a reader follow the first attempt as it is written: the same bytes on success; an error when that attempt breaks', async () => {
    await writeFile(join(work, 'src.tgz'), BODY);
    const client = await createHttpClient({ env: {} });
    const readAll = async (bytes: AsyncIterable<Uint8Array>) => {
      const chunks: Buffer[] = [];
      for await (const c of bytes) chunks.push(Buffer.from(c));
      return Buffer.concat(chunks);
    };
    try {
      let followed: Promise<Buffer> | null = null;
      await downloadToFile(pathToFileURL(join(work, 'src.tgz')), join(work, 'dst.tgz'), { client, follow: (bytes) => void (followed = readAll(bytes)) });
      expect((await followed!).equals(BODY)).toBe(true);

      // A 200 whose body breaks: the follower of attempt 1 fails; attempt 2 is not followed.
      let calls = 0;
      await new Promise((r) => (server ? server.close(r) : r(undefined)));
      server = createServer((_req, res) => {
        res.writeHead(200, { 'content-length': String(BODY.length) });
        if (++calls === 1) res.write(BODY.subarray(0, 1000), () => res.socket?.destroy());
        else res.end(BODY);
      });
      await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(server!.address() as AddressInfo).port}/a.tgz`;
      const readers: Promise<Buffer>[] = [];
      const r = await downloadToFile(new URL(url), join(work, 'b.tgz'), { client, retry: FAST, follow: (bytes) => void readers.push(readAll(bytes)) });
      expect(r.sha256).toBe(SHA);
      expect(readers).toHaveLength(1);
      await expect(readers[0]).rejects.toThrow(/connection broke|body ended/);
    } finally {
      await client.close();
    }
  });

  it('refuses a proxy that is not http(s) (socks5://) with a code, naming it without its credentials, before anything is fetched', async () => {
    const refused = await createHttpClient({ env: { HTTPS_PROXY: 'socks5://alice:s3cret@proxy.corp:1080' } }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'CPY_TRANSFER_BAD_PROXY', message: 'HTTPS_PROXY (or https_proxy) is not an http:// or https:// proxy: socks5://proxy.corp:1080' });
    expect(JSON.stringify(refused) + String(refused)).not.toContain('s3cret');
  });

  it('refuses a CA file that holds no certificate, with a code and a hint', async () => {
    await writeFile(join(work, 'ca.pem'), 'not a certificate');
    await expect(createHttpClient({ caFile: join(work, 'ca.pem') })).rejects.toMatchObject({ code: 'CPY_TRANSFER_BAD_CA_FILE' });
  });
});

describe('displayUrl', () => {
  it('shows no credentials and no query string (it may hold a token)', () => {
    expect(displayUrl(new URL('https://user:secret@example.test/a/b.tgz?X-Amz-Signature=abc'))).toBe('https://example.test/a/b.tgz');
    expect(displayUrl(new URL('file:///tmp/a%20b.tgz'))).toBe('/tmp/a b.tgz');
  });
});

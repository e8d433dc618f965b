import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fixtureChecksums, startPythonMirror, type PythonMirror } from '../index.js';

const TARBALL = '3.13.5/Python-3.13.5.tar.xz';

/** GET with node:http, reading whatever arrives before the server ends or cuts the connection. */
function get(url: string): Promise<{ status: number; headers: Record<string, unknown>; bytes: number; sha256: string; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        hash.update(c);
      });
      let settled = false;
      const done = (complete: boolean) => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, sha256: hash.digest('hex'), complete });
      };
      res.on('end', () => done(res.complete));
      res.on('aborted', () => undefined);
      res.on('error', () => done(false));
      res.on('close', () => (res.complete ? undefined : done(false)));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the loopback python.org mirror', () => {
  let mirror: PythonMirror;
  let sums: Map<string, string>;
  beforeAll(async () => {
    mirror = await startPythonMirror();
    sums = await fixtureChecksums();
  });
  afterAll(() => mirror.close());

  it('serves the real 3.13.5 release files byte for byte, laid out like /ftp/python/', async () => {
    for (const name of ['Python-3.13.5.tar.xz', 'Python-3.13.5.tar.xz.asc', 'Python-3.13.5.tar.xz.sigstore']) {
      const r = await get(mirror.fileUrl('3.13.5', name));
      expect(r.status).toBe(200);
      expect(r.sha256).toBe(sums.get(name));
    }
    expect(mirror.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/ftp\/python$/);
  });

  it('lists versions and files, and answers 404 for what it does not have', async () => {
    const index = await fetch(`${mirror.url}/`);
    expect(await index.text()).toContain('href="3.13.5/"');
    const files = await (await fetch(`${mirror.url}/3.13.5/`)).text();
    expect(files).toContain('Python-3.13.5.tar.xz.asc');
    expect((await fetch(mirror.fileUrl('3.13.99', 'Python-3.13.99.tar.xz'))).status).toBe(404);
    expect((await fetch(mirror.fileUrl('3.13.5', 'Python-3.13.5.tgz'))).status).toBe(404);
  });

  it('plays injected faults in order, then serves normally', async () => {
    mirror.inject(TARBALL, { status: 500 }, { status: 429, headers: { 'retry-after': '1' } });
    const first = await fetch(mirror.fileUrl('3.13.5', 'Python-3.13.5.tar.xz'));
    expect(first.status).toBe(500);
    await first.text();
    const second = await fetch(mirror.fileUrl('3.13.5', 'Python-3.13.5.tar.xz'));
    expect([second.status, second.headers.get('retry-after')]).toEqual([429, '1']);
    await second.text();
    const third = await get(mirror.fileUrl('3.13.5', 'Python-3.13.5.tar.xz'));
    expect([third.status, third.sha256]).toEqual([200, sums.get('Python-3.13.5.tar.xz')]);
  });

  it('drops a connection mid-body after announcing the full length', async () => {
    mirror.inject(TARBALL, { dropAfterBytes: 1_000_000 });
    const r = await get(mirror.fileUrl('3.13.5', 'Python-3.13.5.tar.xz'));
    expect(r.status).toBe(200);
    expect(Number(r.headers['content-length'])).toBeGreaterThan(20_000_000);
    expect(r.complete).toBe(false);
    expect(r.bytes).toBeLessThanOrEqual(1_000_000);
  });

  it('delays on request, and records every request', async () => {
    mirror.inject('3.13.5/Python-3.13.5.tar.xz.asc', { delayMs: 300 });
    const started = Date.now();
    const r = await get(mirror.fileUrl('3.13.5', 'Python-3.13.5.tar.xz.asc'));
    expect(r.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(mirror.requests.at(-1)?.path).toBe('/ftp/python/3.13.5/Python-3.13.5.tar.xz.asc');
  });
});

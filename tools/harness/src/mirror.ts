import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fixturesDir } from './paths.js';

/** One injected misbehaviour, consumed by one request for the file it is set on. */
export interface Fault {
  /** Answer with this status (and `body`) instead of the file. */
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Wait this long before answering (or before the first byte of the file). */
  readonly delayMs?: number;
  /** Send the real headers, then only this many bytes of the file, then cut the connection. */
  readonly dropAfterBytes?: number;
  /** Send this many bytes of the file, then the rest only once `resume` has settled. */
  readonly pauseAfterBytes?: number;
  readonly resume?: Promise<unknown>;
}

export interface MirrorRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** When it arrived (Date.now()). */
  readonly at: number;
}

export interface PythonMirror {
  /** The base URL to give cpy as a mirror: `http://127.0.0.1:<port>/ftp/python`. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: MirrorRequest[];
  /** URL of a served file: `fileUrl('3.13.5', 'Python-3.13.5.tar.xz')`. */
  fileUrl(directory: string, name: string): string;
  /** Queue faults for a path under the mirror (`3.13.5/Python-3.13.5.tar.xz`), used in order. */
  inject(relativePath: string, ...faults: Fault[]): void;
  /** Serve (or replace) a file under the mirror from a local path, e.g. a tampered copy. */
  serve(relativePath: string, localPath: string): void;
  /** Stop serving a file (it then answers 404). */
  remove(relativePath: string): void;
  /** Answer every request for a path with this status (403: a private asset), until removed. */
  refuse(relativePath: string, status: number): void;
  close(): Promise<void>;
}

export interface MirrorOptions {
  /** Folder of release files (Python-<version>.tar.xz and friends); defaults to the shared fixtures. */
  readonly fixturesDir?: string;
}

const RELEASE_FILE = /^Python-((\d+\.\d+\.\d+)(?:(?:a|b|rc)\d+)?)\.(?:tar\.xz|tgz)(?:\.asc|\.sigstore|\.sig|\.crt|\.spdx\.json)?$/;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function listing(title: string, names: string[]): string {
  const items = names.map((n) => `<a href="${n}">${n}</a>`).join('\n');
  return `<html><head><title>Index of ${title}</title></head><body><h1>Index of ${title}</h1><pre>\n${items}\n</pre></body></html>\n`;
}

/**
 * A loopback HTTP server laid out like python.org's /ftp/python/ tree, serving
 * real release files from the fixtures folder, with faults on demand.
 */
export async function startPythonMirror(options: MirrorOptions = {}): Promise<PythonMirror> {
  const dir = options.fixturesDir ?? fixturesDir();
  const files = new Map<string, string>(); // "3.13.5/Python-3.13.5.tar.xz" -> local path
  for (const name of await readdir(dir)) {
    const m = RELEASE_FILE.exec(name);
    if (m) files.set(`${m[2]}/${name}`, join(dir, name));
  }
  const faults = new Map<string, Fault[]>();
  const refused = new Map<string, number>();
  const requests: MirrorRequest[] = [];

  const send = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = decodeURIComponent(url.pathname);
    requests.push({ method: req.method ?? 'GET', path, headers: req.headers, at: Date.now() });
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
    if (!path.startsWith('/ftp/python/')) return send(res, 404, 'not found\n');
    const rel = path.slice('/ftp/python/'.length).replace(/\/$/, '');

    const status = refused.get(rel);
    if (status !== undefined) return send(res, status, `refused ${status}\n`);
    const fault = faults.get(rel)?.shift();
    if (fault?.delayMs) await sleep(fault.delayMs);
    if (fault?.status !== undefined) return send(res, fault.status, fault.body ?? `injected ${fault.status}\n`, { ...fault.headers });

    if (rel === '') {
      const dirs = [...new Set([...files.keys()].map((k) => k.split('/')[0] + '/'))].sort();
      return send(res, 200, listing('/ftp/python/', dirs));
    }
    if (!rel.includes('/')) {
      const names = [...files.keys()].filter((k) => k.startsWith(`${rel}/`)).map((k) => k.slice(rel.length + 1));
      return names.length ? send(res, 200, listing(`/ftp/python/${rel}/`, names.sort())) : send(res, 404, 'not found\n');
    }
    const local = files.get(rel);
    if (!local) return send(res, 404, 'not found\n');
    const { size, mtime } = await stat(local);
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': size,
      'last-modified': mtime.toUTCString(),
      ...fault?.headers,
    });
    if (req.method === 'HEAD') return res.end();
    const pause = fault?.pauseAfterBytes;
    if (pause !== undefined) {
      const head = createReadStream(local, { start: 0, end: pause - 1 });
      head.on('data', (chunk) => res.write(chunk));
      head.on('end', () => void Promise.resolve(fault?.resume).finally(() => createReadStream(local, { start: pause }).pipe(res)));
      return undefined;
    }
    const drop = fault?.dropAfterBytes;
    const stream = createReadStream(local, drop === undefined ? {} : { start: 0, end: Math.max(0, drop - 1) });
    if (drop === undefined) {
      stream.pipe(res);
      return undefined;
    }
    if (drop === 0) {
      res.flushHeaders();
      res.socket?.destroy();
      return undefined;
    }
    stream.on('data', (chunk) => res.write(chunk));
    stream.on('end', () => res.socket?.destroy());
    return undefined;
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}/ftp/python`;

  return {
    url: base,
    requests,
    fileUrl: (directory, name) => `${base}/${directory}/${name}`,
    inject: (rel, ...fs) => faults.set(rel, [...(faults.get(rel) ?? []), ...fs]),
    serve: (rel, localPath) => void files.set(rel, localPath),
    remove: (rel) => {
      files.delete(rel);
      refused.delete(rel);
    },
    refuse: (rel, status) => void refused.set(rel, status),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

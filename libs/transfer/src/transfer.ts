import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { CpyError, displayUrl } from '@cpy/core';
import { bypassesProxy } from './no-proxy.js';
import { CHUNK, openSink, SinkLimitError, SinkWriteError, type Follower } from './sink.js';
// undici is loaded when a client is made, not with this module: an install that is already
// there (or a CLI command that downloads nothing) never pays for it.
import type { Dispatcher } from 'undici';

/** What a download uses of undici. */
interface Undici {
  readonly Agent: typeof import('undici').Agent;
  readonly ProxyAgent: typeof import('undici').ProxyAgent;
  readonly Dispatcher: typeof import('undici').Dispatcher;
  readonly redirect: typeof import('undici').interceptors.redirect;
}

let undici: Promise<Undici> | null = null;

/**
 * undici's agents (direct and through a proxy) and its redirect interceptor, on first use, from their own modules,
 * with the request API put on its dispatchers as undici's index does (the proxy agent's CONNECT
 * needs it too). The index also loads fetch, WebSocket, the cache stores and the mocks: unbundled,
 * it took 117-155 ms to load where these take 49-66 (issue 20). They are CommonJS: import() gives
 * each one's exports as `default`, in Node and in the CLI's bundle. Their types are declared in
 * undici-parts.d.ts. An undici 7 that has moved them fails the CLI's bundle (esbuild resolves the
 * paths); the unbundled library, whose consumer may have a newer undici 7 than our lockfile, then
 * loads the whole index, as before.
 */
function loadUndici(): Promise<Undici> {
  return (undici ??= Promise.all([
    import('undici/lib/dispatcher/agent.js'),
    import('undici/lib/dispatcher/proxy-agent.js'),
    import('undici/lib/interceptor/redirect.js'),
    import('undici/lib/dispatcher/dispatcher.js'),
    import('undici/lib/api/index.js'),
  ]).then(
    ([agent, proxyAgent, redirect, dispatcher, api]) => {
      Object.assign(dispatcher.default.prototype, api.default);
      return { Agent: agent.default, ProxyAgent: proxyAgent.default, Dispatcher: dispatcher.default, redirect: redirect.default };
    },
    async () => {
      const loaded = await import('undici');
      // Node's import() gives a CommonJS package's exports by name, a bundle's as `default`.
      const whole = 'ProxyAgent' in loaded ? loaded : (loaded as unknown as { default: typeof loaded }).default;
      return { Agent: whole.Agent, ProxyAgent: whole.ProxyAgent, Dispatcher: whole.Dispatcher, redirect: whole.interceptors.redirect };
    },
  ));
}

/** How downloads retry: connection errors, 5xx, 408 and 429 are retried; 404 never is. */
export interface RetryPolicy {
  /** Attempts per URL, the first included. Default 3. */
  readonly attempts: number;
  /** First backoff; doubles each attempt, with jitter. Default 1000 ms. */
  readonly baseDelayMs: number;
  /** Backoff ceiling. Default 10 s. */
  readonly maxDelayMs: number;
  /** A Retry-After longer than this is not waited for: the mirror counts as failed. Default 60 s. */
  readonly maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 1000, maxDelayMs: 10_000, maxRetryAfterMs: 60_000 };

export interface TransferProgress {
  readonly url: string;
  readonly file: string;
  readonly received: number;
  /** From Content-Length (or the file size); null when the server does not say. */
  readonly total: number | null;
  readonly attempt: number;
}

export interface TransferEvents {
  onProgress?(progress: TransferProgress): void;
  /** Called before waiting to retry, with why. */
  onRetry?(info: { url: string; attempt: number; delayMs: number; reason: string }): void;
}

/** A network client: proxies from the environment, an extra CA bundle, redirects. */
export interface HttpClient {
  /** Made on first use: a client that only copies local files never loads undici. */
  dispatcher(): Promise<Dispatcher>;
  readonly userAgent: string;
  close(): Promise<void>;
}

export interface HttpClientOptions {
  /** Where HTTP(S)_PROXY / NO_PROXY come from (either case). Default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** PEM file of extra CA certificates, trusted in addition to Node's bundled roots and NODE_EXTRA_CA_CERTS (not the OpenSSL store of --use-openssl-ca). */
  readonly caFile?: string;
  /** Give up on a stalled body after this long. Default 60 s. */
  readonly bodyTimeoutMs?: number;
  /** Sent with every request. Default `cpy`. */
  readonly userAgent?: string;
}

/**
 * A proxy variable's value (lower case first, as curl reads them), with `http://` before one
 * written without a scheme (`proxy.corp:3128`, which curl, apt and pip take; undici refused it,
 * and cpy failed as "a bug in cpy"). Another scheme (socks5://) is said, without the credentials.
 */
function proxyUrl(env: Readonly<Record<string, string | undefined>>, name: 'http_proxy' | 'https_proxy' | 'all_proxy'): string {
  const value = (env[name] ?? env[name.toUpperCase()] ?? '').trim();
  if (value === '') return '';
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  const parsed = URL.canParse(url) ? new URL(url) : null;
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    const shown = parsed ? `${parsed.protocol}//${parsed.host}` : 'its value';
    throw new CpyError('CPY_TRANSFER_BAD_PROXY', `${name.toUpperCase()} (or ${name}) is not an http:// or https:// proxy: ${shown}`, {
      hint: `set it to http://host:port (or http://user:password@host:port), or unset it`,
    });
  }
  return url;
}

export async function createHttpClient(options: HttpClientOptions = {}): Promise<HttpClient> {
  const env = options.env ?? process.env;
  // Checked here, before anything is fetched (not when the first request makes the agent).
  // http:// through http_proxy, https:// through https_proxy, either through all_proxy when its own
  // is unset, as curl reads them (the Feature's install.sh); https:// then through http_proxy, as
  // undici's EnvHttpProxyAgent sent it before (curl goes direct there).
  // An all_proxy that is not http(s) (socks5://, which curl reads) stays unread, as before it was read at all.
  const all = (() => {
    try {
      return proxyUrl(env, 'all_proxy');
    } catch {
      return '';
    }
  })();
  const http = proxyUrl(env, 'http_proxy') || all;
  const proxies = { 'http:': http, 'https:': proxyUrl(env, 'https_proxy') || all || http };
  const noProxy = env['no_proxy'] ?? env['NO_PROXY'] ?? '';
  let tls = {};
  if (options.caFile) {
    let pem: string;
    try {
      pem = await readFile(options.caFile, 'utf8');
    } catch (cause) {
      throw new CpyError('CPY_TRANSFER_BAD_CA_FILE', `cannot read the CA bundle ${options.caFile}: ${(cause as Error).message}`, {
        hint: 'pass a readable PEM file of CA certificates',
        cause,
      });
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new CpyError('CPY_TRANSFER_BAD_CA_FILE', `${options.caFile} holds no PEM certificate`, {
        hint: 'pass a PEM file (-----BEGIN CERTIFICATE-----)',
      });
    }
    // node:tls is loaded here, not with the module: it took about 9 ms of every cpy start (issue 20).
    const { rootCertificates } = await import('node:tls');
    // A `ca` replaces what Node trusts: its bundled roots, and NODE_EXTRA_CA_CERTS (a company's CA
    // set for every Node program), are given again with the file's.
    const extra = env['NODE_EXTRA_CA_CERTS'] ? await readFile(env['NODE_EXTRA_CA_CERTS'], 'utf8').catch(() => null) : null;
    tls = { ca: [...rootCertificates, ...(extra ? [extra] : []), pem] };
  }
  let made: Promise<{ close: () => Promise<void>; dispatcher: Dispatcher }> | null = null;
  const make = async () => {
    const { Agent, ProxyAgent, Dispatcher, redirect } = await loadUndici();
    const timeouts = { headersTimeout: 30_000, bodyTimeout: options.bodyTimeoutMs ?? 60_000 };
    const direct = new Agent({ ...timeouts, connect: tls });
    const through = (uri: string) => (uri ? new ProxyAgent({ ...timeouts, uri, connect: tls, requestTls: tls, proxyTls: tls }) : direct);
    const viaProxy = { 'http:': through(proxies['http:']), 'https:': through(proxies['https:']) };
    const agents = [...new Set([direct, viaProxy['http:'], viaProxy['https:']])];
    /** Each request (and each redirect's) goes direct or through its scheme's proxy, by NO_PROXY as curl reads it (bypassesProxy). */
    class Route extends Dispatcher {
      override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
        const url = new URL(String(opts.origin));
        const proxied = url.protocol === 'https:' || url.protocol === 'http:' ? viaProxy[url.protocol] : direct;
        return (proxied === direct || bypassesProxy(url, noProxy) ? direct : proxied).dispatch(opts, handler);
      }
    }
    const close = async () => {
      await Promise.all(agents.map((agent) => agent.close()));
    };
    return { close, dispatcher: new Route().compose(redirect({ maxRedirections: 5 })) };
  };
  return {
    dispatcher: async () => (await (made ??= make())).dispatcher,
    userAgent: options.userAgent ?? 'cpy',
    close: async () => {
      if (made) await (await made).close();
    },
  };
}

/** Why one transfer failed; `retryable` says whether trying again can help. */
export class TransferError extends Error {
  constructor(
    message: string,
    /** local: this machine's disk (the download's own file); source: a local file given to read that cannot be read. */
    readonly kind: 'not-found' | 'http' | 'network' | 'local' | 'source' | 'too-large',
    readonly retryable: boolean,
    readonly retryAfterMs: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return null;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

function backoff(policy: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

const LOCAL_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EMFILE']);

function localError(error: unknown): TransferError | null {
  // A write to the download's file: the disk's fault whatever the code.
  if (error instanceof SinkWriteError) return localError(error.cause) ?? new TransferError(error.message, 'local', false, null, { cause: error.cause });
  const code = (error as NodeJS.ErrnoException)?.code;
  if (!code || !LOCAL_ERRORS.has(code)) return null;
  const what = code === 'ENOSPC' || code === 'EDQUOT' ? 'the disk is full' : `cannot write (${code})`;
  return new TransferError(what, 'local', false, null, { cause: error });
}

/** A body past the caller's limit: said as such, never retried. */
function tooLarge(limit: number): TransferError {
  return new TransferError(`it is larger than ${limit} bytes`, 'too-large', false);
}

async function attemptFile(url: URL, tmp: string, attempt: number, events: TransferEvents & { maxBytes?: number }, tap: Tap) {
  const path = fileURLToPath(url);
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new TransferError(`${path} is not a file`, 'not-found', false);
    size = st.size;
  } catch (error) {
    if (error instanceof TransferError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TransferError(`${path} does not exist`, 'not-found', false);
    if (code === 'ENOTDIR') throw new TransferError(`${path} does not exist (a file is where a directory of its path goes)`, 'not-found', false);
    throw new TransferError(`cannot read ${path}: ${(error as Error).message}`, 'source', false, null, { cause: error });
  }
  if (events.maxBytes !== undefined && size > events.maxBytes) throw tooLarge(events.maxBytes);
  const sink = openSink(tmp, { url: displayUrl(url), file: basename(path), total: size, attempt, limit: events.maxBytes }, events, tap);
  // A failure that is not the sink's is the file's: it cannot be read (its permissions, an I/O error).
  return sink.drain(createReadStream(path, { highWaterMark: CHUNK }), {
    failure: (cause) =>
      cause instanceof SinkLimitError
        ? tooLarge(cause.limit)
        : cause instanceof SinkWriteError
          ? localError(cause)
          : new TransferError(`cannot read ${path}: ${(cause as Error).message}`, 'source', false, null, { cause }),
  });
}

async function attemptHttp(url: URL, tmp: string, attempt: number, events: TransferEvents & { maxBytes?: number }, tap: Tap, client: HttpClient, signal?: AbortSignal) {
  const shown = displayUrl(url);
  let response: Dispatcher.ResponseData;
  // Outside the try: undici failing to load is not a network error, and no retry can help it.
  const dispatcher = await client.dispatcher();
  try {
    response = await dispatcher.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers: { 'user-agent': client.userAgent, accept: '*/*' },
      ...(signal ? { signal } : {}),
    });
  } catch (cause) {
    if (signal?.aborted) throw cause;
    throw new TransferError(`cannot connect: ${describeNetworkError(cause)}`, 'network', true, null, { cause });
  }
  const { statusCode, headers, body } = response;
  if (statusCode !== 200) {
    await body.dump().catch(() => undefined);
    if (statusCode === 404 || statusCode === 410) throw new TransferError(`HTTP ${statusCode}`, 'not-found', false);
    const retryable = statusCode >= 500 || statusCode === 408 || statusCode === 429;
    throw new TransferError(`HTTP ${statusCode}`, 'http', retryable, retryable ? parseRetryAfter(headers['retry-after']) : null);
  }
  const length = Number(headers['content-length']);
  const total = Number.isFinite(length) && length >= 0 ? length : null;
  if (events.maxBytes !== undefined && total !== null && total > events.maxBytes) {
    body.destroy();
    throw tooLarge(events.maxBytes);
  }
  const sink = openSink(tmp, { url: shown, file: basename(url.pathname), total, attempt, limit: events.maxBytes }, events, tap);
  // Each chunk is hashed and written synchronously as it arrives, so the body
  // never buffers and undici's parser never pauses. (undici 7 can crash the
  // process when a server closes the connection while the parser is paused
  // under backpressure: nodejs/undici#5360, fixed only in undici 8, which needs
  // Node 22.) Writing into the page cache is far faster than any network.
  return sink.drain(body as Readable, {
    check: () => {
      if (total !== null && sink.received() !== total) throw new TransferError(`the body ended after ${sink.received()} of ${total} bytes`, 'network', true);
    },
    failure: (cause) =>
      cause instanceof SinkLimitError
        ? tooLarge(cause.limit)
        : cause instanceof TransferError || signal?.aborted
        ? cause
        : (localError(cause) ?? new TransferError(`the connection broke after ${sink.received()} bytes: ${describeNetworkError(cause)}`, 'network', true, null, { cause })),
  });
}

/**
 * Why an http(s) URL has nothing there, as a HEAD request (after redirects) finds it: `HTTP 404`
 * or `HTTP 410`; null when something is there, and when that cannot be told (the network failed).
 * For naming what is missing, never for deciding anything else.
 */
export async function httpMissing(url: URL, client: HttpClient): Promise<string | null> {
  try {
    const dispatcher = await client.dispatcher();
    const { statusCode, body } = await dispatcher.request({ origin: url.origin, path: `${url.pathname}${url.search}`, method: 'HEAD', headers: { 'user-agent': client.userAgent } });
    await body.dump().catch(() => undefined);
    return statusCode === 404 || statusCode === 410 ? `HTTP ${statusCode}` : null;
  } catch {
    return null;
  }
}

function describeNetworkError(error: unknown): string {
  const e = error as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.cause?.code ?? e.code;
  // An AggregateError (every address of a host refused: IPv4 and IPv6) has an empty message: its first error's.
  const first = (error as { errors?: { message?: string; code?: string }[] }).errors?.[0] ?? (e.cause as { errors?: { message?: string }[] } | undefined)?.errors?.[0];
  const message = e.cause?.message || e.message || first?.message || String(error);
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

export interface DownloadOptions extends TransferEvents {
  readonly client: HttpClient;
  readonly retry?: RetryPolicy;
  readonly signal?: AbortSignal;
  /**
   * Reads the download as it is written, so that what consumes it (hashing, unpacking) overlaps
   * the transfer. Called when the first attempt has created its file, with a stream of the bytes
   * written: it ends when that attempt completed, and errors when it failed. A retry starts from
   * nothing and is not followed. Nothing waits for the reader: the caller does.
   */
  readonly follow?: (bytes: AsyncIterable<Uint8Array>) => void;
  /**
   * The most bytes the file may have (a signature, a keys file: a few KiB): a larger one is
   * refused unread (its Content-Length), or stopped once past it, as TransferError 'too-large'.
   */
  readonly maxBytes?: number;
}

/** Where an attempt hands a follower its stream (the first attempt only). */
type Tap = ((follower: Follower) => void) | null;

/**
 * Downloads a URL (http, https or file) to `dest`, hashing as it streams.
 * Writes to a temporary name beside `dest` and renames it into place only when
 * complete: a failed or interrupted download never leaves a file at `dest`.
 * Throws TransferError when every attempt failed.
 */
export async function downloadToFile(url: URL, dest: string, options: DownloadOptions): Promise<{ sha256: string; bytes: number }> {
  const policy = options.retry ?? DEFAULT_RETRY;
  const tmp = join(dirname(dest), `.${basename(dest)}.part-${randomBytes(4).toString('hex')}`);
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const follow = options.follow;
        const tap: Tap = follow && attempt === 1 ? (follower) => follow(follower.stream) : null;
        const result =
          url.protocol === 'file:'
            ? await attemptFile(url, tmp, attempt, options, tap)
            : await attemptHttp(url, tmp, attempt, options, tap, options.client, options.signal);
        await rename(tmp, dest);
        return result;
      } catch (error) {
        await rm(tmp, { force: true });
        const failure = error instanceof TransferError ? error : localError(error);
        if (!failure) throw error;
        if (!failure.retryable || attempt >= policy.attempts) throw failure;
        const delayMs = failure.retryAfterMs ?? backoff(policy, attempt);
        if (delayMs > policy.maxRetryAfterMs) {
          throw new TransferError(`${failure.message}, and the server asks to wait ${Math.ceil(delayMs / 1000)} s`, failure.kind, false);
        }
        options.onRetry?.({ url: displayUrl(url), attempt, delayMs, reason: failure.message });
        await sleep(delayMs, undefined, options.signal ? { signal: options.signal } : undefined);
      }
    }
  } finally {
    await rm(tmp, { force: true });
  }
}

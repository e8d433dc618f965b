import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { CpyError } from '@cpy/core';
import type { HttpClient } from '@cpy/transfer';
import { request } from 'undici';
import * as z from 'zod';

/** The parts of GitHub's release and asset objects cpy reads (REST API 2022-11-28). */
export const assetSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  size: z.number().int(),
  state: z.string(),
  url: z.string(),
  browser_download_url: z.string(),
});
export type GitHubAsset = z.infer<typeof assetSchema>;

export const releaseSchema = z.object({
  id: z.number().int(),
  tag_name: z.string(),
  name: z.string().nullable(),
  body: z.string().nullable().optional(),
  draft: z.boolean(),
  prerelease: z.boolean(),
  html_url: z.string(),
  upload_url: z.string(),
  created_at: z.string(),
  assets: z.array(assetSchema),
});
export type GitHubRelease = z.infer<typeof releaseSchema>;

export interface GitHubOptions {
  /** `owner/name`. */
  readonly repository: string;
  /** A token with contents:write; never printed, never in an error. */
  readonly token: string;
  /** Default https://api.github.com (GitHub Enterprise: https://HOST/api/v3). */
  readonly apiUrl?: string;
  readonly client: HttpClient;
  /** Retries of one request (5xx, 408, 429, rate limits, dropped connections). Default 4. */
  readonly attempts?: number;
  /** Waits longer than this for a rate limit are not made: the call fails saying when to retry. Default 5 min. */
  readonly maxWaitMs?: number;
  /** Told before each wait (rate limit or backoff). */
  readonly onRetry?: (info: { what: string; attempt: number; delayMs: number; reason: string }) => void;
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * Stops the work (Ctrl-C): the request under way is answered first (a call half sent may or may
   * not have been carried out), no other is sent, and a wait (a rate limit, a backoff) ends at once:
   * CPY_PUBLISH_CANCELLED. What was done stays; a re-run completes it.
   */
  readonly signal?: AbortSignal;
}

interface Call {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  readonly url: string;
  readonly what: string;
  readonly json?: unknown;
  /** An upload: the file, streamed (read again on a retry). */
  readonly file?: { path: string; contentType: string };
  readonly accept?: string;
  /**
   * Not sent again when its answer is a 5xx or is lost: GitHub may have carried it out (a second
   * "create release" of a draft makes a second draft of the tag). Rate limits are still waited
   * out (a refused request was not carried out).
   */
  readonly once?: boolean;
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: unknown;
}

const header = (h: Record<string, string | string[] | undefined>, name: string) => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * How long GitHub asks to wait, as its REST documentation says to read it: Retry-After; else the
 * rate-limit reset when none remains; else, for a secondary rate limit (a 403 or 429 whose message
 * says so, with neither header), at least a minute. Null: not a rate limit.
 */
export function rateLimitWaitMs(status: number, headers: Record<string, string | string[] | undefined>, now = Date.now(), body: unknown = null): number | null {
  const retryAfter = header(headers, 'retry-after');
  if (retryAfter && /^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
  if ((status === 403 || status === 429) && header(headers, 'x-ratelimit-remaining') === '0') {
    const reset = Number(header(headers, 'x-ratelimit-reset'));
    if (Number.isFinite(reset)) return Math.max(0, reset * 1000 - now) + 1000;
  }
  const message = (body as { message?: unknown } | null)?.message;
  if (status === 403 && typeof message === 'string' && /secondary rate limit/i.test(message)) return 60_000;
  return status === 429 ? 60_000 : null;
}

/** A reply's body: its JSON, else its text (an empty body is null). */
function jsonOrText(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}

/** A rate limit that asks for a longer wait than cpy makes (or one still there after every wait). */
const rateLimited = (what: string, waitMs: number) =>
  new CpyError('CPY_PUBLISH_RATE_LIMITED', `${what}: GitHub's rate limit asks to wait ${Math.ceil(waitMs / 1000)} s`, {
    hint: 'run again later: a re-run completes what was started (the release stays a draft until every asset is verified)',
  });

export class GitHubApiError extends CpyError {
  constructor(
    readonly status: number,
    what: string,
    message: string,
    hint: string,
    readonly errors: readonly { code?: string; field?: string }[] = [],
  ) {
    super(status === 401 ? 'CPY_PUBLISH_UNAUTHORIZED' : status === 404 ? 'CPY_PUBLISH_NOT_FOUND' : 'CPY_PUBLISH_API_ERROR', `${what}: GitHub answered ${status}${message ? ` (${message})` : ''}`, { hint });
  }
}

/**
 * A small GitHub REST client: JSON calls and streamed uploads and downloads,
 * retried with backoff on 5xx, 408 and dropped connections, and waiting out
 * rate limits (Retry-After, x-ratelimit-reset). The token goes in the
 * Authorization header and nowhere else.
 */
export function gitHub(options: GitHubOptions) {
  const api = (options.apiUrl ?? 'https://api.github.com').replace(/\/+$/, '');
  const repo = `${api}/repos/${options.repository}`;
  const attempts = options.attempts ?? 4;
  const maxWaitMs = options.maxWaitMs ?? 5 * 60_000;
  const headers = (call: Call, size?: number): Record<string, string> => ({
    authorization: `Bearer ${options.token}`,
    accept: call.accept ?? 'application/vnd.github+json',
    'x-github-api-version': '2022-11-28',
    'user-agent': options.client.userAgent,
    ...(call.json !== undefined ? { 'content-type': 'application/json' } : {}),
    ...(call.file ? { 'content-type': call.file.contentType, 'content-length': String(size) } : {}),
  });

  async function once(call: Call): Promise<Reply> {
    // A file to send that cannot be read here is no network failure to retry (it was retried, and
    // said as one: "check the network"): said as what it is, at once.
    const size = call.file
      ? (
          await stat(call.file.path).catch((error: NodeJS.ErrnoException) => {
            throw new CpyError('CPY_PUBLISH_UPLOAD_FAILED', `${call.what}: cannot read ${call.file!.path}: ${error.code ?? error.message}`, {
              hint: 'the file was there when publishing began: keep the artifacts in place until cpy publish is done, then run the same command again',
            });
          })
        ).size
      : undefined;
    const body = call.json !== undefined ? JSON.stringify(call.json) : call.file ? createReadStream(call.file.path) : undefined;
    const res = await request(call.url, { method: call.method, headers: headers(call, size), body, dispatcher: await options.client.dispatcher() });
    return { status: res.statusCode, headers: res.headers as Reply['headers'], body: jsonOrText(await res.body.text()) };
  }

  const { signal } = options;
  /**
   * Inside `together` (calls that must all be made once the first is: a delete and the rename that
   * puts the new file in its place), a stop waits for the section's end; it stopped between them,
   * leaving no file of that name (an artifact the index lists, cpy-keys.asc, index.json's signature).
   */
  let together = 0;
  const stopping = () => signal?.aborted === true && together === 0;
  const stopped = (what: string) =>
    new CpyError('CPY_PUBLISH_CANCELLED', `stopped before ${what}: what was done before it stays as it is`, {
      hint: 'run the same command again: it completes what was started (a release stays a draft until every asset is verified)',
    });
  /** A wait that a stop ends at once (its timer cleared: a process that stopped does not wait it out). */
  const pause = (ms: number, what: string) =>
    new Promise<void>((done, fail) => {
      if (stopping()) return fail(stopped(what));
      let timer: NodeJS.Timeout | undefined;
      const onStop = () => {
        if (together > 0) return;
        clearTimeout(timer);
        fail(stopped(what));
      };
      signal?.addEventListener('abort', onStop, { once: true });
      const waited = () => {
        signal?.removeEventListener('abort', onStop);
        done();
      };
      if (options.sleep) options.sleep(ms).then(waited, fail);
      else timer = setTimeout(waited, ms);
    });

  async function send(call: Call): Promise<Reply> {
    for (let attempt = 1; ; attempt++) {
      if (stopping()) throw stopped(call.what);
      let reply: Reply | null = null;
      let reason: string;
      try {
        reply = await once(call);
        const wait = reply.status >= 400 ? rateLimitWaitMs(reply.status, reply.headers, Date.now(), reply.body) : null;
        // Sent once: a rate limit (403, 429) refused it, and is waited out; a 5xx with Retry-After
        // (a gateway's) may have been carried out, and is not sent again.
        const retryable = call.once ? wait !== null && (reply.status === 403 || reply.status === 429) : reply.status >= 500 || reply.status === 408 || wait !== null;
        if (!retryable) return reply;
        reason = `HTTP ${reply.status}`;
        if (wait !== null) {
          if (wait > maxWaitMs) throw rateLimited(call.what, wait);
          if (attempt < attempts) {
            options.onRetry?.({ what: call.what, attempt, delayMs: wait, reason: `rate limited (${reason})` });
            await pause(wait, call.what);
            continue;
          }
        }
      } catch (error) {
        if (error instanceof CpyError) throw error;
        reason = (error as Error).message;
        if (call.once) {
          throw new CpyError('CPY_PUBLISH_NETWORK', `${call.what}: ${reason} (its answer was lost: it may have been carried out)`, {
            hint: 'check the network to the GitHub API (HTTPS_PROXY, --api-url), then run again: a re-run completes what was started',
          });
        }
      }
      if (attempt >= attempts) {
        if (reply) return reply;
        throw new CpyError('CPY_PUBLISH_NETWORK', `${call.what}: ${reason} (after ${attempts} attempts)`, {
          hint: 'check the network to the GitHub API (HTTPS_PROXY, --api-url), then run again: a re-run completes what was started',
        });
      }
      const delay = Math.min(8000, 500 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
      options.onRetry?.({ what: call.what, attempt, delayMs: delay, reason });
      await pause(delay, call.what);
    }
  }

  function fail(reply: Reply, what: string): never {
    const b = (reply.body ?? {}) as { message?: string; errors?: { code?: string; field?: string }[] };
    // Still rate limited after every wait: said as such, not as a token without rights.
    if (rateLimitWaitMs(reply.status, reply.headers, Date.now(), reply.body) !== null) {
      throw new CpyError('CPY_PUBLISH_RATE_LIMITED', `${what}: GitHub's rate limit still refused it after ${attempts} attempts (HTTP ${reply.status}${typeof b.message === 'string' ? `: ${b.message}` : ''})`, {
        hint: 'run again later: a re-run completes what was started (the release stays a draft until every asset is verified)',
      });
    }
    const hint =
      reply.status === 401
        ? 'the token was refused: set GITHUB_TOKEN (or GH_TOKEN) to a token with contents:write on the repository'
        : reply.status === 403
          ? 'the token may lack contents:write on this repository'
          : reply.status === 404
            ? 'check --repo owner/name and that the token can see it'
            : 'run again; if it persists, check the GitHub status page';
    throw new GitHubApiError(reply.status, what, typeof b.message === 'string' ? b.message : '', hint, Array.isArray(b.errors) ? b.errors : []);
  }

  /** A list GitHub serves in pages: every item, following the Link header's rel="next". */
  async function pages<T>(first: string, what: string, item: z.ZodType<T>): Promise<T[]> {
    const all: T[] = [];
    let url: string | null = first;
    while (url) {
      const reply = await send({ method: 'GET', url, what });
      if (reply.status !== 200) fail(reply, what);
      all.push(...answer(reply, what, z.array(item)));
      url = /<([^>]+)>;\s*rel="next"/.exec(header(reply.headers, 'link') ?? '')?.[1] ?? null;
    }
    return all;
  }

  async function json<T>(call: Call, schema: z.ZodType<T>, ok: number[] = [200]): Promise<T> {
    const reply = await send(call);
    if (!ok.includes(reply.status)) fail(reply, call.what);
    return answer(reply, call.what, schema);
  }

  /** The reply's body as `schema` says, or CPY_PUBLISH_API_ERROR. */
  function answer<T>(reply: Reply, what: string, schema: z.ZodType<T>): T {
    const parsed = schema.safeParse(reply.body);
    if (!parsed.success) {
      throw new CpyError('CPY_PUBLISH_API_ERROR', `${what}: unexpected answer: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`, {
        hint: 'is --api-url a GitHub REST API (https://api.github.com, or https://HOST/api/v3)?',
      });
    }
    return parsed.data;
  }

  /** Every release, drafts included (the token sees them), following the Link header's pages. */
  const listReleases = (): Promise<GitHubRelease[]> => pages(`${repo}/releases?per_page=100`, 'listing releases', releaseSchema);

  return {
    /** The repository it talks to: `owner/name`. */
    repository: options.repository,
    /** Runs `calls` with a stop held off until they are all made (the stop is then seen by the next call). */
    async together<T>(calls: () => Promise<T>): Promise<T> {
      // (A stop before it: none of them is made.)
      if (stopping()) throw stopped('the next step');
      together++;
      try {
        return await calls();
      } finally {
        together--;
      }
    },
    listReleases,
    /**
     * Creates a release. A 5xx or a lost answer may still have made it: the releases are listed
     * again and one of the tag (a draft if a draft was asked for) is taken, before it is sent again.
     * `make_latest` (default `true` for a published release): `false` keeps a release (the index's)
     * from becoming the repository's "Latest".
     * Sent again as other calls are, it made a second draft of the tag (GitHub allows several: a
     * draft owns no tag), and a later publish could take the empty one.
     */
    async createRelease(input: { tag_name: string; target_commitish?: string; name: string; body: string; draft: boolean; prerelease: boolean; make_latest?: MakeLatest }): Promise<GitHubRelease> {
      const call: Call = { method: 'POST', url: `${repo}/releases`, what: `creating release ${input.tag_name}`, json: input, once: true };
      for (let attempt = 1; ; attempt++) {
        try {
          return await json(call, releaseSchema, [201]);
        } catch (error) {
          const unknown = (error instanceof GitHubApiError && error.status >= 500) || (error instanceof CpyError && error.code === 'CPY_PUBLISH_NETWORK');
          if (!unknown) throw error;
          // Listed after a wait: GitHub's list can lag just behind a create.
          const delay = Math.min(8000, 500 * 2 ** (attempt - 1));
          options.onRetry?.({ what: call.what, attempt, delayMs: delay, reason: (error as Error).message });
          await pause(delay, `looking for release ${input.tag_name}`);
          const made = (await listReleases()).find((r) => r.tag_name === input.tag_name && r.draft === input.draft);
          if (made) return made;
          if (attempt >= attempts) throw error;
        }
      }
    },
    updateRelease: (id: number, input: { name?: string; body?: string; draft?: boolean; prerelease?: boolean; make_latest?: MakeLatest }) =>
      json({ method: 'PATCH', url: `${repo}/releases/${id}`, what: `updating release ${id}`, json: input }, releaseSchema),
    async deleteRelease(id: number): Promise<void> {
      const reply = await send({ method: 'DELETE', url: `${repo}/releases/${id}`, what: `deleting release ${id}` });
      if (reply.status !== 204 && reply.status !== 404) fail(reply, `deleting release ${id}`);
    },
    /** The names of the repository's tags that start with `prefix` ("List matching references"; an empty repository has none). */
    async listTags(prefix: string): Promise<string[]> {
      const call: Call = { method: 'GET', url: `${repo}/git/matching-refs/tags/${encodeURIComponent(prefix)}`, what: 'listing tags' };
      const reply = await send(call);
      if (reply.status === 409) return [];
      if (reply.status !== 200) fail(reply, call.what);
      return answer(reply, call.what, z.array(z.object({ ref: z.string() }))).flatMap(({ ref }) => (ref.startsWith('refs/tags/') ? [ref.slice('refs/tags/'.length)] : []));
    },
    async deleteTag(tag: string): Promise<void> {
      const reply = await send({ method: 'DELETE', url: `${repo}/git/refs/tags/${encodeURIComponent(tag)}`, what: `deleting tag ${tag}` });
      // Gone already: 422 "Reference does not exist". A 422 for another reason (a tag protection
      // rule, a ruleset) left the tag: said, not counted as deleted.
      const gone = reply.status === 422 && /reference does not exist/i.test(String((reply.body as { message?: unknown } | null)?.message ?? ''));
      if (reply.status !== 204 && reply.status !== 404 && !gone) fail(reply, `deleting tag ${tag}`);
    },
    /** Every asset of a release, following the Link header's pages (a release holds more than 100 with enough builds). */
    listAssets: (releaseId: number) => pages(`${repo}/releases/${releaseId}/assets?per_page=100`, 'listing assets', assetSchema),
    async deleteAsset(id: number): Promise<void> {
      const reply = await send({ method: 'DELETE', url: `${repo}/releases/assets/${id}`, what: `deleting asset ${id}` });
      if (reply.status !== 204 && reply.status !== 404) fail(reply, `deleting asset ${id}`);
    },
    /** Renames an asset ("Update a release asset"). A name another asset of the release has is GitHub's 422 `already_exists`, thrown as a GitHubApiError with that code in `errors`. */
    updateAsset: (id: number, input: { name: string }) =>
      json({ method: 'PATCH', url: `${repo}/releases/assets/${id}`, what: `renaming asset ${id} to ${input.name}`, json: input }, assetSchema),
    /** Uploads to the release's upload_url template (`...{?name,label}`), streaming the file. 422 already_exists is reported, not thrown. */
    async uploadAsset(release: GitHubRelease, path: string, name: string): Promise<GitHubAsset | 'already_exists'> {
      const url = `${release.upload_url.replace(/\{\?[^}]*\}$/, '')}?name=${encodeURIComponent(name)}`;
      const reply = await send({ method: 'POST', url, what: `uploading ${name}`, file: { path, contentType: 'application/octet-stream' } });
      if (reply.status === 422 && ((reply.body as { errors?: { code?: string }[] })?.errors ?? []).some((e) => e.code === 'already_exists')) return 'already_exists';
      if (reply.status !== 201) fail(reply, `uploading ${name}`);
      // (A ZodError was "a bug in cpy".)
      return answer(reply, `uploading ${name}`, assetSchema);
    },
    /** Downloads an asset through the API (Accept: application/octet-stream, following the redirect) and hashes it as it streams. */
    async assetSha256(asset: GitHubAsset): Promise<string> {
      try {
        return await downloadWith(asset, async (body) => {
          const hash = createHash('sha256');
          for await (const chunk of body) hash.update(chunk as Buffer);
          return hash.digest('hex');
        });
      } catch (error) {
        throw new CpyError('CPY_PUBLISH_VERIFY_FAILED', `cannot download ${asset.name} again to verify it: ${(error as Error).message}`, {
          hint: 'run again: the release stays a draft until every asset is verified',
        });
      }
    },
    /** Downloads a small asset (the index) into memory, the same way: through the API, following the redirect, retried. */
    async downloadAsset(asset: GitHubAsset): Promise<Buffer> {
      try {
        return await downloadWith(asset, async (body) => {
          const chunks: Buffer[] = [];
          let size = 0;
          for await (const chunk of body) {
            size += (chunk as Buffer).length;
            if (size > MAX_IN_MEMORY) throw new TooLarge(`${asset.name} is larger than ${MAX_IN_MEMORY / 2 ** 20} MiB`);
            chunks.push(chunk as Buffer);
          }
          return Buffer.concat(chunks);
        });
      } catch (error) {
        throw new CpyError('CPY_PUBLISH_DOWNLOAD_FAILED', `cannot download ${asset.name}: ${(error as Error).message}`, {
          hint: 'check the network to the GitHub API (HTTPS_PROXY, --api-url), then run again',
        });
      }
    },
  };

  /** GET an asset's bytes through the API (retried on any failure but one that retrying cannot fix); `read` consumes the body. */
  async function downloadWith<T>(asset: GitHubAsset, read: (body: AsyncIterable<unknown>) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (stopping()) throw stopped(`downloading ${asset.name}`);
      try {
        const res = await request(asset.url, {
          method: 'GET',
          headers: { authorization: `Bearer ${options.token}`, accept: 'application/octet-stream', 'user-agent': options.client.userAgent, 'x-github-api-version': '2022-11-28' },
          dispatcher: await options.client.dispatcher(),
        });
        if (res.statusCode !== 200) {
          // A rate limit is waited out as the API's calls wait it out (a quick retry met it again).
          const body = jsonOrText(await res.body.text().catch(() => ''));
          const wait = rateLimitWaitMs(res.statusCode, res.headers as Reply['headers'], Date.now(), body);
          if (wait !== null) {
            if (wait > maxWaitMs || attempt >= attempts) throw rateLimited(`downloading ${asset.name}`, wait);
            options.onRetry?.({ what: `downloading ${asset.name}`, attempt, delayMs: wait, reason: `rate limited (HTTP ${res.statusCode})` });
            await pause(wait, `downloading ${asset.name}`);
            continue;
          }
          throw new Error(`HTTP ${res.statusCode}`);
        }
        try {
          return await read(res.body);
        } catch (error) {
          res.body.destroy();
          throw error;
        }
      } catch (error) {
        if (attempt >= attempts || error instanceof TooLarge || error instanceof CpyError) throw error;
        await pause(Math.min(8000, 500 * 2 ** (attempt - 1)), `downloading ${asset.name}`);
      }
    }
  }
}

/** What downloadAsset holds in memory at most: an index of thousands of builds is a few MiB. */
const MAX_IN_MEMORY = 64 * 2 ** 20;
class TooLarge extends Error {}

/** GitHub's `make_latest` of a release. */
export type MakeLatest = 'true' | 'false' | 'legacy';

export type GitHubClient = ReturnType<typeof gitHub>;

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback stand-in for the GitHub REST API's releases endpoints, following
 * the documented contract (https://docs.github.com/rest/releases): status codes,
 * the `upload_url` template on a separate uploads path, 422 `already_exists`
 * for a duplicate asset name, broken (`open`) assets after a cut upload,
 * pagination Link headers, rate-limit headers on every answer, drafts hidden
 * from the by-tag endpoint, 302 from an asset to its bytes, asset renames
 * (422 `already_exists` for a name the release has), `make_latest` kept. Every exchange is
 * recorded so tests can check it against GitHub's OpenAPI description
 * (githubContract in ./openapi.ts). GitHub itself cannot be reached from here.
 */
export interface GitHubDouble {
  /** The API base URL to give cpy (`--api-url`). */
  readonly apiUrl: string;
  readonly repository: string;
  readonly exchanges: Exchange[];
  /** The assets served to downloads (browser_download_url, and where the API's asset URL redirects), by name, in order. */
  readonly downloads: string[];
  /** Everything the server received or sent, for "the token never leaks" checks. */
  readonly releases: () => DoubleRelease[];
  /** The repository's tags, sorted: GitHub makes one when a release is published; deleting a release leaves it. */
  readonly tags: () => string[];
  /** Queue faults for the next requests matching `route` (`upload`, `create`, `list`, `download`, `patch`: a release update or an asset rename; `delete-tag`). */
  inject(route: Route, ...faults: Fault[]): void;
  /** Rewrites a stored asset's bytes (a tampered or different upload). */
  corruptAsset(name: string, bytes: Buffer): void;
  close(): Promise<void>;
}

export type Route = 'upload' | 'create' | 'list' | 'download' | 'patch' | 'delete-tag';
export type Fault =
  | { readonly status: number; readonly headers?: Record<string, string>; readonly body?: unknown }
  /** Reads part of the request body, then drops the connection (an upload cut off). */
  | { readonly drop: true }
  /** Carries the request out, then drops the connection instead of answering (the answer lost on the way: a timeout, a proxy). */
  | { readonly lostReply: true };

export interface Exchange {
  readonly method: string;
  /** Path without the query, as GitHub's OpenAPI paths are written (uploads without /uploads). */
  readonly path: string;
  readonly query: string;
  readonly status: number;
  readonly requestJson: unknown;
  readonly responseJson: unknown;
  readonly requestHeaders: Record<string, string | string[] | undefined>;
}

export interface DoubleAsset {
  id: number;
  name: string;
  label: string | null;
  state: 'open' | 'uploaded';
  bytes: Buffer;
  content_type: string;
  created_at: string;
}

export interface DoubleRelease {
  id: number;
  tag_name: string;
  target_commitish: string;
  name: string | null;
  body: string | null;
  draft: boolean;
  prerelease: boolean;
  /** The `make_latest` it was created or last updated with (null: never sent, GitHub's default `true`). */
  make_latest: 'true' | 'false' | 'legacy' | null;
  created_at: string;
  published_at: string | null;
  assets: DoubleAsset[];
}

const USER = (base: string) => ({
  login: 'cpy-bot',
  id: 1,
  node_id: 'U_1',
  avatar_url: `${base}/avatars/cpy-bot`,
  gravatar_id: '',
  url: `${base}/users/cpy-bot`,
  html_url: `${base}/cpy-bot`,
  followers_url: `${base}/users/cpy-bot/followers`,
  following_url: `${base}/users/cpy-bot/following{/other_user}`,
  gists_url: `${base}/users/cpy-bot/gists{/gist_id}`,
  starred_url: `${base}/users/cpy-bot/starred{/owner}{/repo}`,
  subscriptions_url: `${base}/users/cpy-bot/subscriptions`,
  organizations_url: `${base}/users/cpy-bot/orgs`,
  repos_url: `${base}/users/cpy-bot/repos`,
  events_url: `${base}/users/cpy-bot/events{/privacy}`,
  received_events_url: `${base}/users/cpy-bot/received_events`,
  type: 'Bot',
  site_admin: false,
});

export async function startGitHubDouble(options: { repository?: string; token: string; perPage?: number }): Promise<GitHubDouble> {
  const repository = options.repository ?? 'acme/cpy';
  const releases: DoubleRelease[] = [];
  const tags = new Set<string>();
  const exchanges: Exchange[] = [];
  const downloads: string[] = [];
  const faults = new Map<Route, Fault[]>();
  let nextId = 100;
  let base = '';
  let remaining = 5000;

  const assetJson = (r: DoubleRelease, a: DoubleAsset) => ({
    url: `${base}/repos/${repository}/releases/assets/${a.id}`,
    // As GitHub does: a draft's assets are at an untagged address, which stops working when it is published.
    browser_download_url: `${base}/${repository}/releases/download/${r.draft ? `untagged-${r.id}` : r.tag_name}/${encodeURIComponent(a.name)}`,
    id: a.id,
    node_id: `RA_${a.id}`,
    name: a.name,
    label: a.label,
    state: a.state,
    content_type: a.content_type,
    size: a.bytes.length,
    digest: a.state === 'uploaded' ? `sha256:${createHash('sha256').update(a.bytes).digest('hex')}` : null,
    download_count: 0,
    created_at: a.created_at,
    updated_at: a.created_at,
    uploader: USER(base),
  });
  const releaseJson = (r: DoubleRelease) => ({
    url: `${base}/repos/${repository}/releases/${r.id}`,
    html_url: `${base}/${repository}/releases/${r.draft ? `untagged-${r.id}` : `tag/${r.tag_name}`}`,
    assets_url: `${base}/repos/${repository}/releases/${r.id}/assets`,
    upload_url: `${base}/uploads/repos/${repository}/releases/${r.id}/assets{?name,label}`,
    tarball_url: `${base}/repos/${repository}/tarball/${r.tag_name}`,
    zipball_url: `${base}/repos/${repository}/zipball/${r.tag_name}`,
    id: r.id,
    node_id: `RE_${r.id}`,
    tag_name: r.tag_name,
    target_commitish: r.target_commitish,
    name: r.name,
    body: r.body,
    draft: r.draft,
    prerelease: r.prerelease,
    created_at: r.created_at,
    published_at: r.published_at,
    author: USER(base),
    assets: r.assets.map((a) => assetJson(r, a)),
  });

  const readBody = (req: IncomingMessage, limit?: number) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        chunks.push(c);
        size += c.length;
        if (limit !== undefined && size >= limit) resolve(Buffer.concat(chunks));
      });
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });

  const server = createServer((req, res) => {
    void handle(req, res).catch((e: Error) => {
      if (!res.headersSent) send(req, res, 500, { message: e.message }, '', null);
    });
  });

  function send(req: IncomingMessage, res: ServerResponse, status: number, json: unknown, path: string, requestJson: unknown, headers: Record<string, string> = {}, query = '') {
    remaining = Math.max(0, remaining - 1);
    const h: Record<string, string> = {
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': String(remaining),
      'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
      'x-ratelimit-used': String(5000 - remaining),
      'x-ratelimit-resource': 'core',
      'x-github-api-version-selected': '2022-11-28',
      ...headers,
    };
    if (json !== undefined && status !== 204) h['content-type'] = 'application/json; charset=utf-8';
    res.writeHead(status, h);
    res.end(json === undefined || status === 204 ? undefined : JSON.stringify(json));
    exchanges.push({ method: req.method ?? '', path, query, status, requestJson, responseJson: status === 204 ? undefined : json, requestHeaders: req.headers });
  }

  const takeFault = (route: Route) => faults.get(route)?.shift();
  const notFound = { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', base);
    const method = req.method ?? 'GET';
    const [owner, name] = repository.split('/');
    const repoPath = `/repos/${owner}/${name}`;
    let path = url.pathname;
    const upload = path.startsWith('/uploads/');
    if (upload) path = path.slice('/uploads'.length);

    // Browser downloads (what browser_download_url and the asset redirect point at): no API contract, no auth.
    const dl = new RegExp(`^/${owner}/${name}/releases/download/([^/]+)/([^/]+)$`).exec(path);
    if (dl && method === 'GET') {
      const fault = takeFault('download');
      const where = decodeURIComponent(dl[1]!);
      const untagged = /^untagged-(\d+)$/.exec(where);
      // A draft's assets answer only at its untagged address; a published release's only at its tag.
      const holder = releases.find((r) => (untagged ? r.draft && r.id === Number(untagged[1]) : !r.draft && r.tag_name === where));
      const asset = holder?.assets.find((a) => a.name === decodeURIComponent(dl[2]!));
      if (fault && 'status' in fault) {
        res.writeHead(fault.status, fault.headers ?? {}).end(fault.body === undefined ? undefined : JSON.stringify(fault.body));
        return;
      }
      if (!asset) {
        res.writeHead(404).end('Not Found');
        return;
      }
      downloads.push(asset.name);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(asset.bytes.length) });
      res.end(asset.bytes);
      return;
    }

    if (req.headers.authorization !== `Bearer ${options.token}` && req.headers.authorization !== `token ${options.token}`) {
      await readBody(req);
      send(req, res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' }, path, null);
      return;
    }

    const route: Route | null = upload
      ? 'upload'
      : method === 'POST'
        ? 'create'
        : method === 'PATCH'
          ? 'patch'
          : method === 'GET' && path === `${repoPath}/releases`
            ? 'list'
            : method === 'DELETE' && path.startsWith(`${repoPath}/git/refs/tags/`)
              ? 'delete-tag'
              : null;
    const taken = route ? takeFault(route) : undefined;
    if (taken && 'lostReply' in taken) {
      res.writeHead = (() => res) as unknown as typeof res.writeHead;
      res.end = (() => {
        req.socket.destroy();
        return res;
      }) as unknown as typeof res.end;
    }
    const fault = taken && 'lostReply' in taken ? undefined : taken;
    if (fault && 'drop' in fault) {
      if (upload) {
        // GitHub keeps a broken asset after a cut upload.
        const release = releases.find((r) => `${repoPath}/releases/${r.id}/assets` === path);
        const assetName = url.searchParams.get('name') ?? 'unknown';
        if (release && !release.assets.some((a) => a.name === assetName)) {
          release.assets.push({ id: nextId++, name: assetName, label: null, state: 'open', bytes: Buffer.alloc(0), content_type: req.headers['content-type'] ?? 'application/octet-stream', created_at: new Date().toISOString() });
        }
      }
      await readBody(req, 1024);
      req.socket.destroy();
      return;
    }
    const raw = await readBody(req);
    let json: unknown = null;
    if (!upload && raw.length) {
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        send(req, res, 400, { message: 'Problems parsing JSON', documentation_url: 'https://docs.github.com/rest' }, path, null);
        return;
      }
    }
    if (fault) {
      send(req, res, fault.status, fault.body ?? { message: 'Server Error' }, path, json, fault.headers ?? {}, url.search);
      return;
    }
    const body = (json ?? {}) as Record<string, unknown>;
    const now = new Date().toISOString();
    let m: RegExpExecArray | null;

    // A page of a list, as GitHub serves one: per_page (default 30, at most 100), and a Link header
    // with next/last (and first/prev after the first page).
    const paged = <T>(items: readonly T[], listPath: string): { items: T[]; headers: Record<string, string> } => {
      const perPage = Math.min(100, Number(url.searchParams.get('per_page') ?? 30), options.perPage ?? 100);
      const page = Number(url.searchParams.get('page') ?? 1);
      const pages = Math.max(1, Math.ceil(items.length / perPage));
      const link = (p: number) => `<${base}${listPath}?per_page=${perPage}&page=${p}>`;
      const links = [...(page < pages ? [`${link(page + 1)}; rel="next"`, `${link(pages)}; rel="last"`] : []), ...(page > 1 ? [`${link(1)}; rel="first"`, `${link(page - 1)}; rel="prev"`] : [])];
      return { items: items.slice((page - 1) * perPage, page * perPage), headers: links.length ? { link: links.join(', ') } : {} };
    };

    if (method === 'GET' && path === `${repoPath}/releases`) {
      const { items, headers } = paged([...releases].sort((a, b) => b.id - a.id), path);
      send(req, res, 200, items.map(releaseJson), path, null, headers, url.search);
    } else if (method === 'POST' && path === `${repoPath}/releases`) {
      const tag = String(body['tag_name'] ?? '');
      if (!tag) return send(req, res, 422, { message: 'Validation Failed', errors: [{ resource: 'Release', code: 'missing_field', field: 'tag_name' }], documentation_url: 'https://docs.github.com/rest' }, path, json);
      if (releases.some((r) => r.tag_name === tag)) {
        return send(req, res, 422, { message: 'Validation Failed', errors: [{ resource: 'Release', code: 'already_exists', field: 'tag_name' }], documentation_url: 'https://docs.github.com/rest' }, path, json);
      }
      // GitHub creates the tag when the release is published, not for a draft.
      if (!body['draft']) tags.add(tag);
      const r: DoubleRelease = {
        id: nextId++,
        tag_name: tag,
        target_commitish: String(body['target_commitish'] ?? 'main'),
        name: (body['name'] as string | undefined) ?? null,
        body: (body['body'] as string | undefined) ?? null,
        draft: Boolean(body['draft']),
        prerelease: Boolean(body['prerelease']),
        make_latest: typeof body['make_latest'] === 'string' ? (body['make_latest'] as DoubleRelease['make_latest']) : null,
        created_at: now,
        published_at: body['draft'] ? null : now,
        assets: [],
      };
      releases.push(r);
      send(req, res, 201, releaseJson(r), path, json, { location: `${base}${repoPath}/releases/${r.id}` });
    } else if (method === 'GET' && (m = new RegExp(`^${repoPath}/releases/tags/(.+)$`).exec(path))) {
      const r = releases.find((x) => x.tag_name === decodeURIComponent(m![1]!) && !x.draft);
      send(req, res, r ? 200 : 404, r ? releaseJson(r) : notFound, path, null);
    } else if ((m = new RegExp(`^${repoPath}/releases/(\\d+)$`).exec(path))) {
      const r = releases.find((x) => x.id === Number(m![1]));
      if (!r) return send(req, res, 404, notFound, path, json);
      if (method === 'GET') return send(req, res, 200, releaseJson(r), path, null);
      if (method === 'DELETE') {
        releases.splice(releases.indexOf(r), 1);
        return send(req, res, 204, undefined, path, null);
      }
      if (method === 'PATCH') {
        for (const k of ['name', 'body', 'prerelease', 'tag_name', 'target_commitish'] as const) if (k in body) (r as unknown as Record<string, unknown>)[k] = body[k];
        if (typeof body['make_latest'] === 'string') r.make_latest = body['make_latest'] as DoubleRelease['make_latest'];
        if ('draft' in body) {
          if (r.draft && body['draft'] === false) {
            r.published_at = now;
            tags.add(r.tag_name);
          }
          r.draft = Boolean(body['draft']);
        }
        return send(req, res, 200, releaseJson(r), path, json);
      }
      send(req, res, 404, notFound, path, json);
    } else if ((m = new RegExp(`^${repoPath}/releases/(\\d+)/assets$`).exec(path))) {
      const r = releases.find((x) => x.id === Number(m![1]));
      if (!r) return send(req, res, 404, notFound, path, json, {}, url.search);
      if (method === 'GET') {
        const { items, headers } = paged(r.assets, path);
        return send(req, res, 200, items.map((a) => assetJson(r, a)), path, null, headers, url.search);
      }
      if (method === 'POST' && upload) {
        const assetName = url.searchParams.get('name');
        if (!assetName) return send(req, res, 422, { message: 'Validation Failed', errors: [{ resource: 'ReleaseAsset', code: 'missing_field', field: 'name' }] }, path, null, {}, url.search);
        if (r.assets.some((a) => a.name === assetName)) {
          return send(req, res, 422, { message: 'Validation Failed', request_id: 'X', documentation_url: 'https://docs.github.com/rest', errors: [{ resource: 'ReleaseAsset', code: 'already_exists', field: 'name' }] }, path, null, {}, url.search);
        }
        if (req.headers['content-length'] === undefined) return send(req, res, 411, { message: 'Length Required' }, path, null, {}, url.search);
        const asset: DoubleAsset = { id: nextId++, name: assetName, label: url.searchParams.get('label') || null, state: 'uploaded', bytes: raw, content_type: String(req.headers['content-type'] ?? 'application/octet-stream'), created_at: now };
        r.assets.push(asset);
        return send(req, res, 201, assetJson(r, asset), path, null, {}, url.search);
      }
      send(req, res, 404, notFound, path, json);
    } else if ((m = new RegExp(`^${repoPath}/releases/assets/(\\d+)$`).exec(path))) {
      const r = releases.find((x) => x.assets.some((a) => a.id === Number(m![1])));
      const a = r?.assets.find((x) => x.id === Number(m![1]));
      if (!r || !a) return send(req, res, 404, notFound, path, json);
      if (method === 'DELETE') {
        r.assets.splice(r.assets.indexOf(a), 1);
        return send(req, res, 204, undefined, path, null);
      }
      if (method === 'PATCH') {
        // "Update a release asset": a rename (and label). A name another asset of the release has is refused, as an upload of it is.
        if ('name' in body) {
          const newName = body['name'];
          if (typeof newName !== 'string' || newName === '') {
            return send(req, res, 422, { message: 'Validation Failed', documentation_url: 'https://docs.github.com/rest', errors: [{ resource: 'ReleaseAsset', code: 'invalid', field: 'name' }] }, path, json);
          }
          if (r.assets.some((x) => x !== a && x.name === newName)) {
            return send(req, res, 422, { message: 'Validation Failed', request_id: 'X', documentation_url: 'https://docs.github.com/rest', errors: [{ resource: 'ReleaseAsset', code: 'already_exists', field: 'name' }] }, path, json);
          }
          a.name = newName;
        }
        if (typeof body['label'] === 'string') a.label = body['label'];
        return send(req, res, 200, assetJson(r, a), path, json);
      }
      if (method === 'GET' && req.headers.accept === 'application/octet-stream') {
        res.writeHead(302, { location: `${base}/${repository}/releases/download/${r.draft ? `untagged-${r.id}` : r.tag_name}/${encodeURIComponent(a.name)}` }).end();
        return;
      }
      send(req, res, 200, assetJson(r, a), path, null);
    } else if (method === 'GET' && (m = new RegExp(`^${repoPath}/git/matching-refs/tags/(.*)$`).exec(path))) {
      // "List matching references": every tag whose name starts with the rest of the path, unpaged.
      const prefix = decodeURIComponent(m[1]!);
      const refs = [...tags].filter((t) => t.startsWith(prefix)).sort().map((t) => {
        const sha = createHash('sha1').update(t).digest('hex');
        return { ref: `refs/tags/${t}`, node_id: `REF_${Buffer.from(t).toString('base64url')}`, url: `${base}${repoPath}/git/refs/tags/${encodeURIComponent(t)}`, object: { type: 'commit', sha, url: `${base}${repoPath}/git/commits/${sha}` } };
      });
      send(req, res, 200, refs, path, null);
    } else if (method === 'DELETE' && (m = new RegExp(`^${repoPath}/git/refs/tags/(.+)$`).exec(path))) {
      const tag = decodeURIComponent(m[1]!);
      if (!tags.delete(tag)) return send(req, res, 422, { message: 'Reference does not exist', documentation_url: 'https://docs.github.com/rest' }, path, null);
      send(req, res, 204, undefined, path, null);
    } else {
      send(req, res, 404, notFound, path, json);
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    apiUrl: base,
    repository,
    exchanges,
    downloads,
    releases: () => releases,
    tags: () => [...tags].sort(),
    inject: (route, ...f) => faults.set(route, [...(faults.get(route) ?? []), ...f]),
    corruptAsset: (assetName, bytes) => {
      for (const r of releases) for (const a of r.assets) if (a.name === assetName) a.bytes = bytes;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

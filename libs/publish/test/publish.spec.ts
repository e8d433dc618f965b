// publishRelease against a loopback double of GitHub's releases API, with every
// exchange checked against GitHub's own OpenAPI description at the end.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { isCpyError } from '@cpy/core';
import { addEntry, emptyIndex, indexEntryFor, markRemoved, parseIndexText, planRetention, serializeIndex, type ArtifactIndex, type IndexEntry } from '@cpy/artifact';
import { githubContract, makeHostPythonArtifact, startGitHubDouble, type GitHubDouble, type TestArtifact } from '@cpy/harness';
import { generateSigningKey, loadSigningKey } from '@cpy/signing';
import { createHttpClient, type HttpClient } from '@cpy/transfer';
import { gitHub, GitHubApiError } from '../src/github.js';
import { publishIndex, type IndexEvent } from '../src/index-release.js';
import { DEFAULT_NOTES_TEMPLATE, renderNotes } from '../src/notes.js';
import { publishRelease, type PublishEvent } from '../src/publish.js';
import { planPrune } from '../src/retention.js';
import { releaseTag } from '../src/tag.js';

const TOKEN = 'ghp_SECRETsecretSECRETsecret0123456789';
let work: string;
let artifact: TestArtifact;
let client: HttpClient;
let gh: GitHubDouble;
const doubles: GitHubDouble[] = [];
const contract = githubContract();
const sleeps: number[] = [];

async function double(perPage?: number) {
  const d = await startGitHubDouble({ token: TOKEN, ...(perPage ? { perPage } : {}) });
  doubles.push(d);
  return d;
}

const api = (d: GitHubDouble, token = TOKEN) =>
  gitHub({ repository: d.repository, token, apiUrl: d.apiUrl, client, sleep: async (ms) => void sleeps.push(ms) });

const assets = () => [{ path: artifact.path }, { path: artifact.checksumPath }, { path: artifact.metadataPath }];
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const publish = (d: GitHubDouble, extra: Partial<Parameters<typeof publishRelease>[0]> = {}) =>
  publishRelease({
    github: api(d),
    tag: releaseTag(artifact.metadata.version, artifact.metadata.build),
    commit: 'main',
    title: `CPython ${artifact.metadata.version}`,
    notes: (published) =>
      renderNotes(DEFAULT_NOTES_TEMPLATE, {
        metadata: artifact.metadata,
        tag: releaseTag(artifact.metadata.version, artifact.metadata.build),
        artifactUrl: published[0]!.url,
        assets: published,
      }),
    prerelease: true,
    assets: assets(),
    ...extra,
  });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-publish-'));
  artifact = await makeHostPythonArtifact(join(work, 'artifacts'));
  client = await createHttpClient({ env: {} });
}, 120_000);

afterEach(() => {
  // Whatever a test did, the double stayed within GitHub's documented contract.
  for (const d of doubles) for (const x of d.exchanges.splice(0)) expect(contract.check(x)).toEqual([]);
});

afterAll(async () => {
  for (const d of doubles) await d.close();
  await client.close();
  await rm(work, { recursive: true, force: true });
});

describe('publishRelease', () => {
  it('creates a draft, uploads, verifies every asset by downloading it again, then publishes with notes from the metadata', async () => {
    gh = await double();
    const events: PublishEvent[] = [];
    const result = await publish(gh, { onEvent: (e) => events.push(e) });
    expect(result.status).toBe('published');
    const [release] = gh.releases();
    expect(release).toMatchObject({ tag_name: 'cpython-3.11.2-build1', draft: false, prerelease: true, target_commitish: 'main' });
    // The order that makes it transactional: created as a draft, published last.
    const calls = gh.exchanges.map((x) => `${x.method} ${x.path.replace(/\d+/g, 'N')}`);
    expect(calls[1]).toBe('POST /repos/acme/cpy/releases');
    expect(gh.exchanges[1]!.requestJson).toMatchObject({ draft: true, tag_name: 'cpython-3.11.2-build1' });
    // Published only after every asset was verified; then the notes, with the addresses the assets
    // have once published (a draft's untagged-... addresses stop working).
    expect(calls.slice(-2)).toEqual(['PATCH /repos/acme/cpy/releases/N', 'PATCH /repos/acme/cpy/releases/N']);
    expect(gh.exchanges.at(-2)!.requestJson).toMatchObject({ draft: false });
    for (const a of result.assets) expect(a.url).toBe(`${gh.apiUrl}/acme/cpy/releases/download/cpython-3.11.2-build1/${a.name}`);
    expect(gh.exchanges.at(-1)!.requestJson).toEqual({ body: expect.stringContaining(`${gh.apiUrl}/acme/cpy/releases/download/cpython-3.11.2-build1/`) });
    expect(events.filter((e) => e.type === 'asset' && e.action === 'verified').length).toBe(3);
    for (const a of release!.assets) expect(sha(a.bytes)).toBe(sha(await readFile(join(work, 'artifacts', a.name))));
    // The notes show what the artifact is.
    const body = release!.body ?? '';
    for (const text of [
      `## CPython ${artifact.metadata.version} (build 1)`,
      `| architecture | ${artifact.metadata.platform.arch} |`,
      `| base system | testhost 1 (glibc) |`,
      artifact.metadata.modules.present.join(', '),
      `| ${artifact.fileName} |`,
      artifact.sha256,
      `"artifactUrl": "${gh.apiUrl}/acme/cpy/releases/download/cpython-3.11.2-build1/${artifact.fileName}"`,
      `sha256sum -c ${artifact.fileName}.sha256`,
    ]) {
      expect(body).toContain(text);
    }
  });

  it('a failure during the second upload leaves a draft; the re-run completes it', async () => {
    gh = await double();
    const cutSecond = (e: PublishEvent) => {
      // The second asset's upload is cut off every time this run tries it.
      if (e.type === 'asset' && e.action === 'uploading' && e.name === `${artifact.fileName}.sha256`) gh.inject('upload', { drop: true }, { drop: true }, { drop: true }, { drop: true });
    };
    const error = await publish(gh, { onEvent: cutSecond }).catch((e: unknown) => e);
    expect(isCpyError(error) && error.code).toBe('CPY_PUBLISH_NETWORK');
    expect(gh.releases()).toHaveLength(1);
    expect(gh.releases()[0]).toMatchObject({ draft: true });
    expect(gh.releases()[0]!.assets.map((a) => [a.name, a.state])).toEqual([
      [artifact.fileName, 'uploaded'],
      [`${artifact.fileName}.sha256`, 'open'],
    ]);

    const again = await publish(gh);
    expect(again.status).toBe('published');
    expect(again.assets.map((a) => [a.name, a.action])).toEqual([
      [artifact.fileName, 'unchanged'],
      [`${artifact.fileName}.sha256`, 'uploaded'],
      [`${artifact.fileName}.json`, 'uploaded'],
    ]);
    expect(gh.releases()).toHaveLength(1);
    expect(gh.releases()[0]!.draft).toBe(false);
    expect(gh.releases()[0]!.assets.every((a) => a.state === 'uploaded')).toBe(true);
  });

  it('a file added to a published release whose upload was cut off is sent again by the re-run, without replace', async () => {
    gh = await double();
    await publish(gh);
    const added = join(work, 'added', `${artifact.fileName}.extra.txt`);
    await mkdir(join(work, 'added'), { recursive: true });
    await writeFile(added, 'a file a later build adds to the release\n');
    const name = basename(added);
    const cut = (e: PublishEvent) => {
      if (e.type === 'asset' && e.action === 'uploading' && e.name === name) gh.inject('upload', { drop: true }, { drop: true }, { drop: true }, { drop: true });
    };
    const error = await publish(gh, { assets: [...assets(), { path: added }], onEvent: cut }).catch((e: unknown) => e);
    expect(isCpyError(error) && error.code).toBe('CPY_PUBLISH_NETWORK');
    expect(gh.releases()[0]).toMatchObject({ draft: false });
    expect(gh.releases()[0]!.assets.find((a) => a.name === name)?.state).toBe('open');

    const again = await publish(gh, { assets: [...assets(), { path: added }] });
    expect(again.assets.find((a) => a.name === name)?.action).toBe('uploaded');
    expect(gh.releases()[0]!.assets.map((a) => [a.name, a.state])).toEqual(expect.arrayContaining([[name, 'uploaded']]));
    expect(gh.releases()[0]!.assets.every((a) => a.state === 'uploaded')).toBe(true);
  });

  it('a release stopped between being published and getting its notes gets them from the re-run', async () => {
    gh = await double();
    const first = await publish(gh);
    const notes = gh.releases()[0]!.body;
    await api(gh).updateRelease(first.releaseId, { body: 'cpy is uploading and verifying the assets of this release.' });
    const again = await publish(gh);
    expect(again.status).toBe('updated');
    expect(gh.releases()[0]!.body).toBe(notes);
    expect((await publish(gh)).status).toBe('unchanged');
  });

  it('an upload cut off once is deleted and sent again within the same run', async () => {
    gh = await double();
    gh.inject('upload', { drop: true });
    const r = await publish(gh);
    expect(r.status).toBe('published');
    expect(gh.releases()[0]!.assets.map((a) => a.state)).toEqual(['uploaded', 'uploaded', 'uploaded']);
    expect(gh.exchanges.some((x) => x.status === 422)).toBe(true);
  });

  it('a re-run of a finished release changes nothing; a different asset with the same name is refused, then replaced with replace', async () => {
    gh = await double();
    await publish(gh);
    gh.exchanges.splice(0);
    const again = await publish(gh);
    expect(again.status).toBe('unchanged');
    expect(gh.exchanges.filter((x) => x.method !== 'GET')).toEqual([]);

    const other = join(work, 'other', artifact.fileName);
    await (await import('node:fs/promises')).mkdir(join(work, 'other'), { recursive: true });
    await writeFile(other, Buffer.concat([await readFile(artifact.path)]).fill(7, 100, 200));
    const conflict = await publish(gh, { assets: [{ path: other }] }).catch((e: unknown) => e);
    expect(isCpyError(conflict) && conflict.code).toBe('CPY_PUBLISH_ASSET_CONFLICT');
    expect(sha(gh.releases()[0]!.assets[0]!.bytes)).toBe(artifact.sha256);

    const replaced = await publish(gh, { assets: [{ path: other }], replace: true });
    expect(replaced.assets).toEqual([expect.objectContaining({ name: artifact.fileName, action: 'replaced' })]);
    expect(sha(gh.releases()[0]!.assets.find((a) => a.name === artifact.fileName)!.bytes)).toBe(sha(await readFile(other)));
  });

  it('a replacement cut off keeps the published bytes in place; the re-run swaps it in and leaves no <name>.new', async () => {
    gh = await double();
    await publish(gh);
    const other = join(work, 'other-cut', artifact.fileName);
    await mkdir(join(work, 'other-cut'), { recursive: true });
    await writeFile(other, Buffer.concat([await readFile(artifact.path)]).fill(9, 100, 200));
    const cut = (e: PublishEvent) => {
      if (e.type === 'asset' && e.action === 'uploading' && e.name === artifact.fileName) gh.inject('upload', { drop: true }, { drop: true }, { drop: true }, { drop: true });
    };
    const error = await publish(gh, { assets: [{ path: other }], replace: true, onEvent: cut }).catch((e: unknown) => e);
    expect(isCpyError(error) && error.code).toBe('CPY_PUBLISH_NETWORK');
    // It was deleted first: the published release held an empty, unfinished artifact.
    const kept = gh.releases()[0]!.assets.find((a) => a.name === artifact.fileName)!;
    expect([kept.state, sha(kept.bytes), gh.releases()[0]!.draft]).toEqual(['uploaded', artifact.sha256, false]);

    const again = await publish(gh, { assets: [{ path: other }], replace: true });
    expect(again.assets).toEqual([expect.objectContaining({ name: artifact.fileName, action: 'replaced' })]);
    expect(gh.releases()[0]!.assets.map((a) => a.name).filter((n) => n.endsWith('.new'))).toEqual([]);
    expect(sha(gh.releases()[0]!.assets.find((a) => a.name === artifact.fileName)!.bytes)).toBe(sha(await readFile(other)));
  });

  it('waits out rate limits (Retry-After, x-ratelimit-reset) and retries 5xx', async () => {
    gh = await double();
    sleeps.length = 0;
    const reset = Math.floor(Date.now() / 1000) + 30;
    gh.inject('list', { status: 403, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) }, body: { message: 'API rate limit exceeded', documentation_url: 'https://docs.github.com/rest' } });
    gh.inject('create', { status: 429, headers: { 'retry-after': '7' }, body: { message: 'You have exceeded a secondary rate limit', documentation_url: 'https://docs.github.com/rest' } });
    gh.inject('upload', { status: 502 }, { status: 503 });
    const r = await publish(gh);
    expect(r.status).toBe('published');
    expect(sleeps[0]).toBeGreaterThan(25_000);
    expect(sleeps[0]).toBeLessThanOrEqual(32_000);
    expect(sleeps[1]).toBe(7_000);
    expect(sleeps.length).toBe(4);
  });

  it('a "create release" whose answer is lost (GitHub made the draft) or a 5xx is not sent again blindly: the draft made is found and used, and the tag has one release', async () => {
    for (const fault of [{ lostReply: true } as const, { status: 502 }]) {
      gh = await double();
      gh.inject('create', fault);
      const r = await publish(gh);
      expect(r.status).toBe('published');
      // Before, the POST was sent again: a second draft of the tag, the first left empty beside the published one.
      const tag = releaseTag(artifact.metadata.version, artifact.metadata.build);
      expect(gh.releases().filter((x) => x.tag_name === tag).map((x) => [x.draft, x.assets.length])).toEqual([[false, 3]]);
    }
  });

  it("a secondary rate limit (a 403 that says so, neither header) is waited out a minute, as GitHub's documentation asks; one that does not end is CPY_PUBLISH_RATE_LIMITED, not a token without rights", async () => {
    const secondary = { status: 403, body: { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.', documentation_url: 'https://docs.github.com/rest' } };
    gh = await double();
    sleeps.length = 0;
    gh.inject('list', secondary);
    expect((await publish(gh)).status).toBe('published');
    expect(sleeps).toEqual([60_000]);

    // The downloads that check what was uploaded wait it out too (they retried at once, and failed
    // as "cannot download it again to verify it").
    gh = await double();
    sleeps.length = 0;
    gh.inject('download', secondary);
    expect((await publish(gh)).status).toBe('published');
    expect(sleeps).toEqual([60_000]);

    gh = await double();
    gh.inject('list', secondary, secondary, secondary, secondary);
    const refused = await publish(gh).catch((e: unknown) => e);
    expect(isCpyError(refused) && [refused.code, refused.hint]).toEqual(['CPY_PUBLISH_RATE_LIMITED', expect.stringMatching(/^run again later/)]);
  });

  it('never shows the token, the signing key or its passphrase: not in errors, events, the notes or any asset, even when GitHub refuses the token', async () => {
    gh = await double();
    const passphrase = 'token-test passphrase 51f0';
    const generated = await generateSigningKey({ name: 'Token Test', email: 'token@example.org', passphrase });
    const signingKey = await loadSigningKey(generated.privateKey, passphrase, 'signing-key.asc');
    const seen: string[] = [];
    const refused = await publishRelease({ github: api(gh, `${TOKEN}-wrong`), tag: 't', title: 't', notes: 'n', prerelease: false, assets: assets(), signingKey }).catch((e: unknown) => e);
    expect(isCpyError(refused) && refused.code).toBe('CPY_PUBLISH_UNAUTHORIZED');
    seen.push(String(refused), JSON.stringify(refused), (refused as Error).stack ?? '', isCpyError(refused) ? refused.hint ?? '' : '');
    const events: (PublishEvent | IndexEvent)[] = [];
    const result = await publish(gh, { signingKey, onEvent: (e) => events.push(e) });
    const index = await publishIndex({ github: api(gh), change: (i) => i, signingKey, onEvent: (e) => events.push(e) });
    seen.push(JSON.stringify(events), JSON.stringify(result), JSON.stringify(index), JSON.stringify(signingKey));
    // Everything the double holds: every release, its notes, and the bytes of every asset (the signatures, cpy-keys.asc).
    seen.push(JSON.stringify(gh.releases().map((r) => ({ ...r, assets: r.assets.map((a) => [a.name, a.bytes.toString('latin1')]) }))));
    expect(gh.releases().flatMap((r) => r.assets.map((a) => a.name))).toContain('cpy-keys.asc');
    const secretLines = generated.privateKey.split('\n').filter((l) => l.length > 20 && !generated.publicKey.includes(l));
    expect(secretLines.length).toBeGreaterThan(0);
    for (const text of seen) {
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain(passphrase);
      expect(text).not.toContain('PRIVATE KEY');
      for (const line of secretLines) expect(text).not.toContain(line);
    }
  });
});

describe('listing and retention', () => {
  it('follows the Link header through every page', async () => {
    gh = await double(2);
    const github = api(gh);
    for (let b = 1; b <= 5; b++) await github.createRelease({ tag_name: `cpython-3.13.5-build${b}`, name: `b${b}`, body: '', draft: false, prerelease: false });
    const all = await github.listReleases();
    expect(all.map((r) => r.tag_name).sort()).toEqual([1, 2, 3, 4, 5].map((b) => `cpython-3.13.5-build${b}`));
    expect(gh.exchanges.filter((x) => x.method === 'GET' && x.path.endsWith('/releases')).length).toBe(3);
  });

  it('lists every asset of a release through the pages too (a release of more assets than a page: its re-run changes nothing)', async () => {
    gh = await double(2);
    await publish(gh);
    const github = api(gh);
    const release = (await github.listReleases())[0]!;
    expect((await github.listAssets(release.id)).map((a) => a.name).sort()).toEqual(assets().map((a) => basename(a.path)).sort());
    expect((await publish(gh)).status).toBe('unchanged');
  });

  it('keeps the last 3 builds of a line; prune deletes the rest with their tags, drafts and other releases untouched', async () => {
    gh = await double();
    const github = api(gh);
    for (let b = 1; b <= 5; b++) await github.createRelease({ tag_name: `cpython-3.13.5-build${b}`, name: `b${b}`, body: '', draft: false, prerelease: false });
    await github.createRelease({ tag_name: 'cpython-3.12.11-build1', name: 'x', body: '', draft: false, prerelease: false });
    await github.createRelease({ tag_name: 'cpython-3.13.5-build6', name: 'draft', body: '', draft: true, prerelease: false });
    await github.createRelease({ tag_name: 'v1.0.0', name: 'not ours', body: '', draft: false, prerelease: false });
    const plan = planPrune(await github.listReleases());
    expect(plan.keep.map((r) => r.tag_name).sort()).toEqual(['cpython-3.12.11-build1', 'cpython-3.13.5-build3', 'cpython-3.13.5-build4', 'cpython-3.13.5-build5']);
    expect(plan.remove.map((r) => r.tag_name).sort()).toEqual(['cpython-3.13.5-build1', 'cpython-3.13.5-build2']);
    expect(plan.ignored.map((r) => r.tag_name).sort()).toEqual(['cpython-3.13.5-build6', 'v1.0.0']);
    for (const r of plan.remove) {
      await github.deleteRelease(r.id);
      await github.deleteTag(r.tag_name);
    }
    expect(gh.releases().map((r) => r.tag_name).sort()).toEqual(['cpython-3.12.11-build1', 'cpython-3.13.5-build3', 'cpython-3.13.5-build4', 'cpython-3.13.5-build5', 'cpython-3.13.5-build6', 'v1.0.0']);
    expect(gh.exchanges.filter((x) => x.method === 'DELETE' && x.path.includes('/git/refs/tags/')).map((x) => x.status)).toEqual([204, 204]);
  });
});

describe('publishIndex: the index as an asset of the cpy-index release', () => {
  /** The index entry of build N of the test artifact (the same metadata, another build number). */
  const entry = (build: number): IndexEntry => {
    const file = artifact.fileName.replace(/-build\d+\./, `-build${build}.`);
    return indexEntryFor(
      { ...artifact.metadata, build },
      { file, url: `https://example.test/releases/download/cpython-3.11.2-build${build}/${file}`, sha256: sha(Buffer.from(file)), size: 1000 + build, publishedAt: new Date(Date.UTC(2026, 0, build)) },
    );
  };
  const add = (build: number) => (index: ArtifactIndex) => planRetention(addEntry(index, entry(build)), 3).index;
  const indexRelease = (d: GitHubDouble) => d.releases().find((r) => r.tag_name === 'cpy-index');
  const assetNames = (d: GitHubDouble) => indexRelease(d)!.assets.map((a) => a.name).sort();
  /** The builds an asset of the index release lists, read as an installer reads it. */
  const builds = (d: GitHubDouble, name: string) => {
    const asset = indexRelease(d)!.assets.find((a) => a.name === name);
    return asset ? parseIndexText(asset.bytes.toString('utf8'), name).artifacts.map((e) => [e.build, e.state]) : null;
  };
  /** What a reader gets from a browser download URL (no token). */
  const download = async (url: string) => {
    const res = await fetch(url);
    return { status: res.status, text: await res.text() };
  };

  it('the first update creates the release (published, not a pre-release, never "Latest") with index.json holding the entry', async () => {
    gh = await double();
    const events: IndexEvent[] = [];
    const result = await publishIndex({ github: api(gh), change: add(1), onEvent: (e) => events.push(e) });
    const release = indexRelease(gh)!;
    expect(release).toMatchObject({ draft: false, prerelease: false, make_latest: 'false', name: 'cpy index' });
    expect(release.body).toMatch(/cpy index.*Do not delete this release/s);
    const create = gh.exchanges.find((x) => x.method === 'POST' && x.path === '/repos/acme/cpy/releases')!;
    expect(create.requestJson).toMatchObject({ tag_name: 'cpy-index', draft: false, prerelease: false, make_latest: 'false' });
    expect(assetNames(gh)).toEqual(['index.json']);
    expect(builds(gh, 'index.json')).toEqual([[1, 'active']]);
    expect(result.url).toBe(`${gh.apiUrl}/acme/cpy/releases/download/cpy-index/index.json`);
    expect(result.previousUrl).toBe(`${gh.apiUrl}/acme/cpy/releases/download/cpy-index/index.previous.json`);
    expect(result.index.artifacts).toEqual([entry(1)]);
    // An installer reads it from the URL, without a token.
    const got = await download(result.url);
    expect(got.status).toBe(200);
    expect(parseIndexText(got.text, 'index.json').artifacts).toEqual([entry(1)]);
    expect(events).toEqual([
      { type: 'release', action: 'created', url: expect.any(String) },
      { type: 'read', name: null, entries: 0 },
      { type: 'asset', name: 'index.json.new', action: 'uploading' },
      { type: 'asset', name: 'index.json.new', action: 'uploaded' },
      { type: 'asset', name: 'index.json.new', action: 'verified' },
      { type: 'rename', from: 'index.json.new', to: 'index.json' },
    ]);
    // Not a cpy build release: retention never touches it.
    expect(planPrune(await api(gh).listReleases()).ignored.map((r) => r.tag_name)).toEqual(['cpy-index']);
  });

  it('a second update adds its entry and keeps the one before as index.previous.json; retention deprecates beyond 3; an unchanged index is not written again', async () => {
    gh = await double();
    await publishIndex({ github: api(gh), change: add(1) });
    const second = await publishIndex({ github: api(gh), change: add(2) });
    expect(gh.releases().filter((r) => r.tag_name === 'cpy-index')).toHaveLength(1);
    expect(assetNames(gh)).toEqual(['index.json', 'index.previous.json']);
    expect(builds(gh, 'index.json')).toEqual([[2, 'active'], [1, 'active']]);
    expect(builds(gh, 'index.previous.json')).toEqual([[1, 'active']]);
    expect(second.previousUrl).toBe(`${gh.apiUrl}/acme/cpy/releases/download/cpy-index/index.previous.json`);
    expect(parseIndexText((await download(second.previousUrl)).text, 'previous').artifacts.map((e) => e.build)).toEqual([1]);

    for (const b of [3, 4]) await publishIndex({ github: api(gh), change: add(b) });
    expect(builds(gh, 'index.json')).toEqual([[4, 'active'], [3, 'active'], [2, 'active'], [1, 'deprecated']]);
    expect(builds(gh, 'index.previous.json')).toEqual([[3, 'active'], [2, 'active'], [1, 'active']]);
    // Removed by a prune: marked, kept for the record.
    await publishIndex({ github: api(gh), change: (i) => markRemoved(i, (e) => releaseTag(e.version, e.build) === 'cpython-3.11.2-build1') });
    expect(builds(gh, 'index.json')).toEqual([[4, 'active'], [3, 'active'], [2, 'active'], [1, 'removed']]);

    gh.exchanges.splice(0).forEach((x) => expect(contract.check(x)).toEqual([]));
    const same = await publishIndex({ github: api(gh), change: (i) => i });
    expect(same.url).toBe(`${gh.apiUrl}/acme/cpy/releases/download/cpy-index/index.json`);
    expect(gh.exchanges.filter((x) => x.method !== 'GET')).toEqual([]);
  });

  it('an upload of index.json.new that keeps failing leaves index.json as it was; the next run completes the update', async () => {
    gh = await double();
    await publishIndex({ github: api(gh), change: add(1) });
    const before = indexRelease(gh)!.assets.find((a) => a.name === 'index.json')!.bytes;
    gh.inject('upload', { drop: true }, { drop: true }, { drop: true }, { drop: true });
    const error = await publishIndex({ github: api(gh), change: add(2) }).catch((e: unknown) => e);
    expect(isCpyError(error) && error.code).toBe('CPY_PUBLISH_NETWORK');
    // A broken index.json.new (never read), and index.json untouched.
    expect(indexRelease(gh)!.assets.map((a) => [a.name, a.state])).toEqual([
      ['index.json', 'uploaded'],
      ['index.json.new', 'open'],
    ]);
    expect(indexRelease(gh)!.assets.find((a) => a.name === 'index.json')!.bytes.equals(before)).toBe(true);

    const events: IndexEvent[] = [];
    await publishIndex({ github: api(gh), change: add(2), onEvent: (e) => events.push(e) });
    expect(events).toContainEqual({ type: 'asset', name: 'index.json.new', action: 'deleted-stale' });
    expect(assetNames(gh)).toEqual(['index.json', 'index.previous.json']);
    expect(builds(gh, 'index.json')).toEqual([[2, 'active'], [1, 'active']]);
    expect(builds(gh, 'index.previous.json')).toEqual([[1, 'active']]);
  });

  it('a failure at either rename of the swap leaves a valid index (index.json, or index.previous.json between the renames); the next run completes it', async () => {
    gh = await double();
    await publishIndex({ github: api(gh), change: add(1) });
    await publishIndex({ github: api(gh), change: add(2) });
    const outage = [{ status: 502 }, { status: 502 }, { status: 502 }, { status: 502 }];

    // The first rename (index.json -> index.previous.json) fails: index.json is still the old index
    // (the index.previous.json before it was deleted just before).
    gh.inject('patch', ...outage);
    const first = await publishIndex({ github: api(gh), change: add(3) }).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(GitHubApiError);
    expect(assetNames(gh)).toEqual(['index.json', 'index.json.new']);
    expect(builds(gh, 'index.json')).toEqual([[2, 'active'], [1, 'active']]);
    expect(builds(gh, 'index.json.new')).toEqual([[3, 'active'], [2, 'active'], [1, 'active']]);

    // Killed between the renames: no index.json (readers get a 404 there and read index.previous.json, the index before).
    const cut = (e: IndexEvent) => {
      if (e.type === 'rename' && e.from === 'index.json') gh.inject('patch', ...outage);
    };
    const second = await publishIndex({ github: api(gh), change: add(3), onEvent: cut }).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(GitHubApiError);
    expect(assetNames(gh)).toEqual(['index.json.new', 'index.previous.json']);
    expect(builds(gh, 'index.previous.json')).toEqual([[2, 'active'], [1, 'active']]);
    expect((await download(`${gh.apiUrl}/acme/cpy/releases/download/cpy-index/index.json`)).status).toBe(404);
    const fallback = await download(`${gh.apiUrl}/acme/cpy/releases/download/cpy-index/index.previous.json`);
    expect(parseIndexText(fallback.text, 'index.previous.json').artifacts.map((e) => e.build)).toEqual([2, 1]);

    // The next run, with another change, first finishes the interrupted swap (its index.json.new was
    // verified before the swap began), so build 3 is not lost; then it applies its own change.
    const events: IndexEvent[] = [];
    const done = await publishIndex({ github: api(gh), change: add(4), onEvent: (e) => events.push(e) });
    expect(events[1]).toEqual({ type: 'rename', from: 'index.json.new', to: 'index.json' });
    expect(events[2]).toEqual({ type: 'read', name: 'index.json', entries: 3 });
    expect(assetNames(gh)).toEqual(['index.json', 'index.previous.json']);
    expect(builds(gh, 'index.json')).toEqual([[4, 'active'], [3, 'active'], [2, 'active'], [1, 'deprecated']]);
    expect(builds(gh, 'index.previous.json')).toEqual([[3, 'active'], [2, 'active'], [1, 'active']]);
    expect(done.index.artifacts.map((e) => e.build)).toEqual([4, 3, 2, 1]);
  });

  /** An update with `change` killed right after its index.json.new was verified: nothing after that runs. */
  const killedAfterVerification = (change: (index: ArtifactIndex) => ArtifactIndex) => {
    const kill = (e: IndexEvent) => {
      if (e.type === 'asset' && e.name === 'index.json.new' && e.action === 'verified') throw new Error('killed');
    };
    return expect(publishIndex({ github: api(gh), change, onEvent: kill })).rejects.toThrow('killed');
  };

  it('an update killed after index.json.new was verified, before the swap: the next run starts from that index, so its build is not lost', async () => {
    gh = await double();
    await publishIndex({ github: api(gh), change: add(1) });
    await publishIndex({ github: api(gh), change: add(2) });
    await killedAfterVerification(add(3));
    expect(assetNames(gh)).toEqual(['index.json', 'index.json.new', 'index.previous.json']);
    expect(builds(gh, 'index.json')).toEqual([[2, 'active'], [1, 'active']]);

    const events: IndexEvent[] = [];
    await publishIndex({ github: api(gh), change: add(4), onEvent: (e) => events.push(e) });
    expect(events.slice(1, 3)).toEqual([
      { type: 'read', name: 'index.json.new', entries: 3 },
      { type: 'asset', name: 'index.json.new', action: 'deleted-stale' },
    ]);
    expect(assetNames(gh)).toEqual(['index.json', 'index.previous.json']);
    expect(builds(gh, 'index.json')).toEqual([[4, 'active'], [3, 'active'], [2, 'active'], [1, 'deprecated']]);
    // The index before: the one readers had (the killed run's was never published).
    expect(builds(gh, 'index.previous.json')).toEqual([[2, 'active'], [1, 'active']]);
  });

  it('another update that replaces index.json.new after this one verified it: this one renames nothing and says CPY_PUBLISH_INDEX_CONFLICT', async () => {
    gh = await double();
    await publishIndex({ github: api(gh), change: add(1) });
    // Right after the verification, another run's index.json.new takes the name (deleted and sent again).
    const replace = (e: IndexEvent) => {
      if (e.type !== 'asset' || e.name !== 'index.json.new' || e.action !== 'verified') return;
      const asset = gh.releases().find((r) => r.tag_name === 'cpy-index')!.assets.find((a) => a.name === 'index.json.new')!;
      asset.id += 1000;
    };
    const refused = await publishIndex({ github: api(gh), change: add(2), onEvent: replace }).catch((e: unknown) => e);
    expect(isCpyError(refused) && [refused.code, refused.message]).toEqual(['CPY_PUBLISH_INDEX_CONFLICT', expect.stringContaining('index.json.new on release cpy-index changed')]);
    expect(assetNames(gh)).toEqual(['index.json', 'index.json.new']);
    expect(builds(gh, 'index.json')).toEqual([[1, 'active']]);
  });

  it("an index.json.new another update finished uploading first is neither deleted nor swapped in by this one: CPY_PUBLISH_INDEX_CONFLICT", async () => {
    gh = await double();
    await publishIndex({ github: api(gh), change: add(1) });
    const release = () => gh.releases().find((r) => r.tag_name === 'cpy-index')!;
    const theirs = Buffer.from('{"another": "update"}\n');
    // As this update starts its upload, the other one's is already there, whole.
    const race = (e: IndexEvent) => {
      if (e.type !== 'asset' || e.name !== 'index.json.new' || e.action !== 'uploading') return;
      const { assets } = release();
      assets.push({ ...assets[0]!, id: 9999, name: 'index.json.new', state: 'uploaded', bytes: theirs });
    };
    const refused = await publishIndex({ github: api(gh), change: add(2), onEvent: race }).catch((e: unknown) => e);
    expect(isCpyError(refused) && refused.code).toBe('CPY_PUBLISH_INDEX_CONFLICT');
    expect(release().assets.find((a) => a.name === 'index.json.new')!.bytes).toEqual(theirs);
    expect(builds(gh, 'index.json')).toEqual([[1, 'active']]);
  });

  it('the very first update killed after its verification: the next run starts from its index.json.new', async () => {
    gh = await double();
    await killedAfterVerification(add(1));
    expect(assetNames(gh)).toEqual(['index.json.new']);
    await publishIndex({ github: api(gh), change: add(2) });
    expect(assetNames(gh)).toEqual(['index.json']);
    expect(builds(gh, 'index.json')).toEqual([[2, 'active'], [1, 'active']]);
  });

  it('an index.json.new made from another index.json than the one there now is never the start: a build marked removed by hand stays removed', async () => {
    gh = await double();
    await publishIndex({ github: api(gh), change: add(1) });
    await publishIndex({ github: api(gh), change: add(2) });
    await killedAfterVerification(add(3));
    // Build 1 marked removed by hand in index.json, its updatedAt left as it was.
    const asset = indexRelease(gh)!.assets.find((a) => a.name === 'index.json')!;
    const edited = parseIndexText(asset.bytes.toString('utf8'), 'index.json');
    asset.bytes = Buffer.from(serializeIndex({ ...edited, artifacts: edited.artifacts.map((e) => (e.build === 1 ? { ...e, state: 'removed' as const } : e)) }));
    const events: IndexEvent[] = [];
    await publishIndex({ github: api(gh), change: add(4), onEvent: (e) => events.push(e) });
    expect(events.slice(1, 3)).toEqual([
      { type: 'read', name: 'index.json', entries: 2 },
      { type: 'asset', name: 'index.json.new', action: 'deleted-stale' },
    ]);
    expect(builds(gh, 'index.json')).toEqual([[4, 'active'], [2, 'active'], [1, 'removed']]);
  });

  it('an index.json.new left by a killed update is not the start once index.json was replaced by hand since: it is deleted as stale', async () => {
    gh = await double();
    await publishIndex({ github: api(gh), change: add(1) });
    await killedAfterVerification(add(2));
    // Someone replaces index.json with an index of build 5 only: index.json.new was not made from it.
    const byHand = serializeIndex({ ...addEntry(emptyIndex(), entry(5)), updatedAt: new Date(Date.now() + 60_000).toISOString() });
    indexRelease(gh)!.assets.find((a) => a.name === 'index.json')!.bytes = Buffer.from(byHand);

    const events: IndexEvent[] = [];
    await publishIndex({ github: api(gh), change: add(3), onEvent: (e) => events.push(e) });
    // Read as it is (build 5), and the old index.json.new deleted unread.
    expect(events.slice(1, 3)).toEqual([
      { type: 'read', name: 'index.json', entries: 1 },
      { type: 'asset', name: 'index.json.new', action: 'deleted-stale' },
    ]);
    expect(builds(gh, 'index.json')).toEqual([[5, 'active'], [3, 'active']]);
    expect(builds(gh, 'index.previous.json')).toEqual([[5, 'active']]);
  });

  it('an index.json that cannot be read is refused (CPY_PUBLISH_INDEX_INVALID) and left as it is', async () => {
    gh = await double();
    await publishIndex({ github: api(gh), change: add(1) });
    for (const bad of ['{"schemaVersion": 2, "artifacts": "none"}', 'not json', '{"schemaVersion": 1, "artifacts": []}']) {
      gh.corruptAsset('index.json', Buffer.from(bad));
      gh.exchanges.splice(0).forEach((x) => expect(contract.check(x)).toEqual([]));
      const error = await publishIndex({ github: api(gh), change: add(2) }).catch((e: unknown) => e);
      expect(isCpyError(error) && error.code).toBe('CPY_PUBLISH_INDEX_INVALID');
      expect(isCpyError(error) && error.hint).toMatch(/.+/);
      expect(String(error)).toContain('index.json on release cpy-index');
      expect(JSON.stringify(error) + String(error)).not.toContain(TOKEN);
      expect(assetNames(gh)).toEqual(['index.json']);
      expect(indexRelease(gh)!.assets[0]!.bytes.toString()).toBe(bad);
      // Nothing was written: only reads.
      expect(gh.exchanges.filter((x) => x.method !== 'GET')).toEqual([]);
    }
  });

  it('index.json.new is downloaded again and checked before the swap: different bytes leave index.json as it was', async () => {
    gh = await double();
    await publishIndex({ github: api(gh), change: add(1) });
    const tamper = (e: IndexEvent) => {
      if (e.type === 'asset' && e.action === 'uploaded') gh.corruptAsset('index.json.new', Buffer.from('{"schemaVersion": 2}'));
    };
    const error = await publishIndex({ github: api(gh), change: add(2), onEvent: tamper }).catch((e: unknown) => e);
    expect(isCpyError(error) && error.code).toBe('CPY_PUBLISH_VERIFY_FAILED');
    expect(builds(gh, 'index.json')).toEqual([[1, 'active']]);
    expect(assetNames(gh)).toEqual(['index.json', 'index.json.new']);
  });

  it('the double renames assets as GitHub does, refusing a name the release has (422 already_exists, which GitHub\'s description does not list here)', async () => {
    gh = await double();
    const github = api(gh);
    await publishIndex({ github, change: add(1) });
    await publishIndex({ github, change: add(2) });
    const [current, previous] = ['index.json', 'index.previous.json'].map((n) => indexRelease(gh)!.assets.find((a) => a.name === n)!);
    const refused = await github.updateAsset(previous!.id, { name: 'index.json' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GitHubApiError);
    expect((refused as GitHubApiError).errors).toEqual([{ resource: 'ReleaseAsset', code: 'already_exists', field: 'name' }]);
    // GitHub answers a duplicate name with 422 here too, but its OpenAPI description lists only 200 for this operation.
    const x = gh.exchanges.pop()!;
    expect([x.method, x.status]).toEqual(['PATCH', 422]);
    expect(contract.check(x)).toEqual([`PATCH ${x.path} -> 422: status 422 is not documented for this operation (200)`]);
    const renamed = await github.updateAsset(current!.id, { name: 'index.old.json' });
    expect(renamed).toMatchObject({ id: current!.id, name: 'index.old.json', browser_download_url: `${gh.apiUrl}/acme/cpy/releases/download/cpy-index/index.old.json` });
    expect(await github.downloadAsset(renamed)).toEqual(current!.bytes);
  });
});

// publishRelease against a loopback double of GitHub's releases API, with every
// exchange checked against GitHub's own OpenAPI description at the end.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { isCpyError } from '@cpy/artifact';
import { githubContract, makeHostPythonArtifact, startGitHubDouble, type GitHubDouble, type TestArtifact } from '@cpy/harness';
import { createHttpClient, type HttpClient } from '@cpy/transfer';
import { DEFAULT_NOTES_TEMPLATE, gitHub, planPrune, publishRelease, releaseTag, renderNotes, type PublishEvent } from '../src/index.js';

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
    expect(calls.at(-1)).toBe('PATCH /repos/acme/cpy/releases/N');
    expect(gh.exchanges.at(-1)!.requestJson).toMatchObject({ draft: false });
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

  it('never shows the token: not in errors, events or the notes, even when GitHub refuses it', async () => {
    gh = await double();
    const seen: string[] = [];
    const refused = await publishRelease({ github: api(gh, `${TOKEN}-wrong`), tag: 't', title: 't', notes: 'n', prerelease: false, assets: assets() }).catch((e: unknown) => e);
    expect(isCpyError(refused) && refused.code).toBe('CPY_PUBLISH_UNAUTHORIZED');
    seen.push(String(refused), JSON.stringify(refused), (refused as Error).stack ?? '', isCpyError(refused) ? refused.hint ?? '' : '');
    const events: PublishEvent[] = [];
    await publish(gh, { onEvent: (e) => events.push(e) });
    seen.push(JSON.stringify(events), JSON.stringify(gh.releases().map((r) => ({ ...r, assets: r.assets.map((a) => a.name) }))));
    for (const text of seen) expect(text).not.toContain(TOKEN);
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

// `cpy publish` and `cpy releases list|prune`, the built CLI against a loopback double
// of GitHub's releases API whose every exchange is checked against GitHub's OpenAPI
// description.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { githubContract, type GitHubDouble, makeHostPythonArtifact, repackArtifact, runCpy, startCpy, startGitHubDouble, type TestArtifact } from '@cpy/harness';

const TOKEN = 'ghp_CLIsecretCLIsecretCLIsecret9876543210';

let work: string;
let gh: GitHubDouble;
let artifact: TestArtifact;
const outputs: string[] = [];

/** The index on the cpy-index release, as installers read it: [build, state] of each entry. */
const indexRelease = () => gh.releases().find((r) => r.tag_name === 'cpy-index');
const indexAsset = (name = 'index.json') => indexRelease()?.assets.find((a) => a.name === name);
const published = (name = 'index.json') => (JSON.parse(indexAsset(name)!.bytes.toString('utf8')) as { schemaVersion: number; artifacts: { build: number; state: string; url: string; sha256: string; file: string }[] });
const builds = (name = 'index.json') => published(name).artifacts.map((e) => [e.build, e.state]);

async function cpy(args: string[], token = TOKEN) {
  const env = { GITHUB_TOKEN: token, GH_TOKEN: '', GITHUB_REPOSITORY: gh.repository, NO_COLOR: '1', CPY_CACHE_DIR: join(work, 'cache'), CPY_SIGNING_KEY: '', CPY_SIGNING_PASSPHRASE: '' };
  const r = await runCpy([...args, '--api-url', gh.apiUrl], { env });
  outputs.push(r.stdout, r.stderr);
  return r;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-cli-publish-'));
  gh = await startGitHubDouble({ token: TOKEN });
  artifact = await makeHostPythonArtifact(join(work, 'artifacts'));
}, 120_000);

afterAll(async () => {
  const contract = githubContract();
  const problems = gh.exchanges.flatMap((x) => contract.check(x));
  await gh.close();
  await rm(work, { recursive: true, force: true });
  expect(problems).toEqual([]);
  // Not once, in any output of any command.
  for (const text of outputs) expect(text).not.toContain(TOKEN);
});

describe('cpy publish', () => {
  it('publishes the artifact, its .sha256 and .json and the PSF LICENSE, verified, as a first pre-release', async () => {
    const r = await cpy(['publish', artifact.path, '--commit', 'main', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { outcome: string; release: { status: string; tag: string; prerelease: boolean; assets: { name: string; action: string; url: string }[] }; index: { url: string; entries: number } };
    expect(out).toMatchObject({ outcome: 'success', release: { status: 'published', tag: 'cpython-3.11.2-build1', prerelease: true } });
    expect(out.release.assets.map((a) => a.name).sort()).toEqual(['LICENSE.txt', artifact.fileName, `${artifact.fileName}.json`, `${artifact.fileName}.sha256`].sort());
    const [release] = gh.releases();
    expect(release).toMatchObject({ draft: false, prerelease: true, name: 'CPython 3.11.2 (build 1, testhost 1, x86_64)' });
    expect(release!.assets.find((a) => a.name === 'LICENSE.txt')!.bytes.toString()).toMatch(/PYTHON SOFTWARE FOUNDATION LICENSE/);
    expect(release!.body).toContain(`\`${artifact.sha256}\``);
    expect(r.stderr).toMatch(/LICENSE\.txt: verified/);
    // The index: created on the cpy-index release (published, never "Latest"), holding this build at its published URL.
    expect(indexRelease()).toMatchObject({ draft: false, prerelease: false, make_latest: 'false' });
    // Unsigned (no --signing-key, no CPY_SIGNING_KEY): no signature, no keys file.
    expect(out.index).toEqual({ url: `${gh.apiUrl}/acme/cpy/releases/download/cpy-index/index.json`, previousUrl: `${gh.apiUrl}/acme/cpy/releases/download/cpy-index/index.previous.json`, entries: 1, signatureUrl: null, keys: null });
    expect(indexRelease()!.assets.map((a) => a.name)).toEqual(['index.json']);
    expect(release!.assets.some((a) => a.name.endsWith('.asc'))).toBe(false);
    expect(published()).toMatchObject({ schemaVersion: 2, artifacts: [{ build: 1, state: 'active', file: artifact.fileName, sha256: artifact.sha256, url: out.release.assets.find((a) => a.name === artifact.fileName)!.url }] });
    expect(r.stderr).toMatch(/index release cpy-index created: /);
    expect(r.stderr).toMatch(/index: index\.json\.new renamed to index\.json/);
  });

  it('run again: nothing changes (exit 0); the next build of the version is not a pre-release', async () => {
    const again = await cpy(['publish', artifact.path]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^cpython-3\.11\.2-build1 unchanged: /);
    expect(again.stderr).toMatch(/index: unchanged \(1 entries\)/);
    expect(indexAsset('index.previous.json')).toBeUndefined();
    const b2 = await repackArtifact(artifact, join(work, 'b2'), { metadata: (m) => ({ ...m, build: 2 }) });
    // --no-index: the release only.
    const second = await cpy(['publish', b2.path, '--no-index', '--json']);
    expect(JSON.parse(second.stdout)).toMatchObject({ release: { tag: 'cpython-3.11.2-build2', prerelease: false }, index: null });
    expect(builds()).toEqual([[1, 'active']]);
    // Run again without it: the release is unchanged, the index gains the build, and keeps the one before.
    const third = await cpy(['publish', b2.path, '--json']);
    expect(JSON.parse(third.stdout)).toMatchObject({ release: { status: 'unchanged' }, index: { entries: 2 } });
    expect(builds()).toEqual([[2, 'active'], [1, 'active']]);
    expect(builds('index.previous.json')).toEqual([[1, 'active']]);
  });

  it('an index.json it cannot read is refused and left as it is; the release is published all the same', async () => {
    const good = Buffer.from(indexAsset()!.bytes);
    gh.corruptAsset('index.json', Buffer.from('{"artifacts": 1}'));
    const r = await cpy(['publish', artifact.path, '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'error', error: { code: 'CPY_PUBLISH_INDEX_INVALID', message: expect.stringContaining('index.json on release cpy-index') as unknown, hint: expect.stringMatching(/.+/) } });
    expect(indexAsset()!.bytes.toString()).toBe('{"artifacts": 1}');
    expect(indexRelease()!.assets.map((a) => a.name).sort()).toEqual(['index.json', 'index.previous.json']);
    gh.corruptAsset('index.json', good);
  });

  it('a bad token is refused with what to do, and the token is not printed', async () => {
    const r = await cpy(['publish', artifact.path, '--json'], `${TOKEN}x`);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'error', error: { code: 'CPY_PUBLISH_UNAUTHORIZED', hint: expect.stringMatching(/GITHUB_TOKEN/) } });
  });
});

describe('stopped (Ctrl-C)', () => {
  it('a publish waiting out a rate limit stops at once, between two requests: exit 1, CPY_PUBLISH_CANCELLED in its JSON, nothing more sent; the next run completes it', async () => {
    const b3 = await repackArtifact(artifact, join(work, 'b3-stop'), { metadata: (m) => ({ ...m, build: 3 }) });
    // The first upload is refused by a secondary rate limit that asks for a minute.
    gh.inject('upload', { status: 429, headers: { 'retry-after': '60' }, body: { message: 'You have exceeded a secondary rate limit', documentation_url: 'https://docs.github.com/rest' } });
    const env = { GITHUB_TOKEN: TOKEN, GH_TOKEN: '', GITHUB_REPOSITORY: gh.repository, NO_COLOR: '1', CPY_CACHE_DIR: join(work, 'cache'), CPY_SIGNING_KEY: '', CPY_SIGNING_PASSPHRASE: '' };
    const run = startCpy(['publish', b3.path, '--json', '--api-url', gh.apiUrl], { env });
    await run.until(/retrying in 60\.0 s/);
    expect(run.stderr()).toMatch(/retrying in 60\.0 s/);
    const sent = gh.exchanges.length;
    const stoppedAt = Date.now();
    run.child.kill('SIGINT');
    expect(await run.closed).toBe(1);
    const [stdout, stderr] = [run.stdout(), run.stderr()];
    outputs.push(stdout, stderr);
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    expect(stderr).toContain('stopping: the request to GitHub under way is answered first');
    expect(JSON.parse(stdout)).toMatchObject({ outcome: 'error', error: { code: 'CPY_PUBLISH_CANCELLED', message: expect.stringMatching(/^stopped before uploading /) } });
    expect(gh.exchanges.length).toBe(sent);
    // Left a draft, as a run killed there would; the next run completes it.
    expect(gh.releases().find((r) => r.tag_name === 'cpython-3.11.2-build3')).toMatchObject({ draft: true });
    const again = await cpy(['publish', b3.path, '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ release: { status: 'published', tag: 'cpython-3.11.2-build3' } });
  }, 60_000);
});

describe('cpy releases', () => {
  it('list shows the releases; prune keeps 3 builds of a line, as a dry run until --yes', async () => {
    const register = join(work, 'register');
    for (const build of [3, 4, 5]) {
      const b = await repackArtifact(artifact, join(work, `b${build}`), { metadata: (m) => ({ ...m, build }) });
      expect((await cpy(['publish', b.path, '--register', register])).code).toBe(0);
    }
    // The register: a copy of the index in the folder (the builds published with --register), with their published URLs.
    const rows = () => readFile(join(register, 'index.json'), 'utf8').then((t) => (JSON.parse(t) as { artifacts: { build: number; state: string; url: string }[] }).artifacts);
    expect((await rows()).map((r) => [r.build, r.state])).toEqual([[5, 'active'], [4, 'active'], [3, 'active']]);
    expect((await rows())[0]!.url).toBe(`${gh.apiUrl}/acme/cpy/releases/download/cpython-3.11.2-build5/cpython-3.11.2-testhost1-build5.tgz`);
    expect(await readFile(join(register, 'ARTIFACTS.md'), 'utf8')).toContain('| 3.11.2 | 5 | testhost1 |');
    // The index on the release: every build, those beyond the last 3 deprecated.
    expect(builds()).toEqual([[5, 'active'], [4, 'active'], [3, 'active'], [2, 'deprecated'], [1, 'deprecated']]);
    const list = JSON.parse((await cpy(['releases', 'list', '--json'])).stdout) as { releases: { tag: string }[] };
    expect(list.releases.map((r) => r.tag)).toEqual([5, 4, 3, 2, 1].map((b) => `cpython-3.11.2-build${b}`));

    const dry = await cpy(['releases', 'prune']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('would delete  cpython-3.11.2-build1');
    expect(dry.stdout).toContain('dry run: nothing was deleted');
    expect(gh.releases()).toHaveLength(6);

    const done = JSON.parse((await cpy(['releases', 'prune', '--yes', '--keep', '2', '--register', register, '--json'])).stdout) as { dryRun: boolean; remove: string[]; keep: string[] };
    expect(done).toMatchObject({ dryRun: false, remove: ['cpython-3.11.2-build3', 'cpython-3.11.2-build2', 'cpython-3.11.2-build1'], ignored: ['cpy-index'], index: { entries: 5 } });
    // The index release is never pruned; the deleted builds stay in the index, marked removed.
    expect(gh.releases().map((r) => r.tag_name).sort()).toEqual(['cpy-index', ...[4, 5].map((b) => `cpython-3.11.2-build${b}`)]);
    expect(builds()).toEqual([[5, 'active'], [4, 'active'], [3, 'removed'], [2, 'removed'], [1, 'removed']]);
    expect((await rows()).map((r) => [r.build, r.state])).toEqual([[5, 'active'], [4, 'active'], [3, 'removed']]);
  }, 120_000);
});

// publishArtifact and pruneReleases, the publish policy (which assets, their names, the
// pre-release rule, the index and register updates, retention), against the loopback GitHub
// double, with every exchange checked against GitHub's OpenAPI description.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { debugSymbolsFileName, isCpyError, KEEP_BUILDS, rejectedNoteName, testsFileName } from '@cpy/core';
import { parseIndexText } from '@cpy/artifact';
import { githubContract, makeHostPythonArtifact, repackArtifact, startGitHubDouble, type GitHubDouble, type TestArtifact } from '@cpy/harness';
import { createHttpClient, type HttpClient } from '@cpy/transfer';
import { generateSigningKey, loadSigningKey } from '@cpy/signing';
import { gitHub, publishArtifact, pruneReleases, type PruneEvent, type PublishArtifactEvent } from '../src/index.js';

const TOKEN = 'ghp_ARTIFACTsecretARTIFACTsecret01234567';
let work: string;
let artifact: TestArtifact;
let client: HttpClient;
const doubles: GitHubDouble[] = [];
const contract = githubContract();

async function double() {
  const d = await startGitHubDouble({ token: TOKEN });
  doubles.push(d);
  return d;
}
const api = (d: GitHubDouble) => gitHub({ repository: d.repository, token: TOKEN, apiUrl: d.apiUrl, client, sleep: async () => undefined });
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let folders = 0;
/** Build `build` of the test artifact (another version with `version`), in a folder of its own. */
const buildOf = (build: number, version?: string) =>
  repackArtifact(artifact, join(work, `build-${++folders}`), { metadata: (m) => ({ ...m, build }), ...(version ? { version } : {}) });
/** The test artifact as the aarch64 build of the same version and build number, in a folder of its own. */
const aarch64Of = (folder: string) =>
  repackArtifact(artifact, join(work, folder), {
    fileName: artifact.fileName.replace(/-build1\.tgz$/, '-aarch64-build1.tgz'),
    metadata: (m) => ({ ...m, platform: { ...m.platform, arch: 'aarch64' } }),
  });
const releaseOf = (d: GitHubDouble, tag: string) => d.releases().find((r) => r.tag_name === tag);
/** The notes' section of one architecture's build on the release of 3.11.2 build 1. */
const sectionOf = (d: GitHubDouble, arch: string) => releaseOf(d, 'cpython-3.11.2-build1')!.body!.split('\n\n---\n\n').find((s) => s.includes(`| architecture | ${arch} |`))!;
/** [build, state] of each entry of an index text. */
const builds = (text: string) => parseIndexText(text, 'index').artifacts.map((e) => [e.build, e.state]);
const publishedIndex = (d: GitHubDouble) => builds(releaseOf(d, 'cpy-index')!.assets.find((a) => a.name === 'index.json')!.bytes.toString('utf8'));

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-publish-artifact-'));
  artifact = await makeHostPythonArtifact(join(work, 'artifacts'));
  client = await createHttpClient({ env: {} });
}, 120_000);

afterEach(() => {
  for (const d of doubles) for (const x of d.exchanges.splice(0)) expect(contract.check(x)).toEqual([]);
});

afterAll(async () => {
  for (const d of doubles) await d.close();
  await client.close();
  await rm(work, { recursive: true, force: true });
});

describe('publishArtifact', () => {
  it('publishes the artifact, its .sha256 and .json, the debug-symbols and tests assets with theirs, and LICENSE.txt; the index and the register gain the build', async () => {
    const gh = await double();
    // The side assets cpy build writes beside an artifact, named as @cpy/artifact names them.
    const sides = [debugSymbolsFileName(artifact.fileName), testsFileName(artifact.fileName)];
    for (const name of sides) {
      const bytes = Buffer.from(`${name} contents`);
      await writeFile(join(work, 'artifacts', name), bytes);
      await writeFile(join(work, 'artifacts', `${name}.sha256`), `${sha(bytes)}  ${name}\n`);
    }
    try {
      const events: PublishArtifactEvent[] = [];
      const register = join(work, 'register');
      // A register signed by hand: its signature signs the index before this build, and goes.
      await mkdir(register, { recursive: true });
      await writeFile(join(register, 'index.json.asc'), '-----BEGIN PGP SIGNATURE-----\n');
      const result = await publishArtifact(artifact.path, { github: api(gh), commit: 'main', register, onEvent: (e) => events.push(e) });

      const names = [artifact.fileName, `${artifact.fileName}.sha256`, `${artifact.fileName}.json`, ...sides.flatMap((s) => [s, `${s}.sha256`]), 'LICENSE.txt'];
      expect(result.release.assets.map((a) => a.name)).toEqual(names);
      expect(result).toMatchObject({ repository: gh.repository, prerelease: true, release: { status: 'published', tag: 'cpython-3.11.2-build1', signer: null } });
      const release = releaseOf(gh, 'cpython-3.11.2-build1')!;
      expect(release).toMatchObject({ draft: false, prerelease: true, target_commitish: 'main', name: 'CPython 3.11.2 (build 1, testhost 1, x86_64)' });
      expect(release.assets.map((a) => a.name)).toEqual(names);
      for (const name of [artifact.fileName, ...sides]) expect(sha(release.assets.find((a) => a.name === name)!.bytes)).toBe(sha(await readFile(join(work, 'artifacts', name))));
      expect(release.assets.find((a) => a.name === 'LICENSE.txt')!.bytes.toString()).toMatch(/PYTHON SOFTWARE FOUNDATION LICENSE/);
      // The notes check the artifact itself, not an asset beside it.
      expect(release.body).toContain(`sha256sum -c ${artifact.fileName}.sha256`);
      expect(release.body).toContain(`cpy artifact validate ${artifact.fileName}`);

      // The index entry is the artifact at its published URL; the register holds the same.
      const main = result.release.assets[0]!;
      expect(result.index!.index.artifacts).toEqual([expect.objectContaining({ build: 1, state: 'active', file: artifact.fileName, url: main.url, sha256: artifact.sha256 })]);
      expect(publishedIndex(gh)).toEqual([[1, 'active']]);
      expect(result.register).toBe(join(register, 'index.json'));
      const where = (e: { build: number; state: string; file: string; url: string; sha256: string }) => [e.build, e.state, e.file, e.url, e.sha256];
      expect(parseIndexText(await readFile(result.register!, 'utf8'), 'register').artifacts.map(where)).toEqual(result.index!.index.artifacts.map(where));
      expect(await readFile(join(register, 'ARTIFACTS.md'), 'utf8')).toContain('| 3.11.2 | 1 | testhost1 |');

      // What the caller is told, in order: the decision, the release's steps, the index's, the register.
      const kinds = events.map((e) => e.type).filter((t, i, all) => t !== all[i - 1]);
      expect(kinds).toEqual(['publishing', 'release', 'index-updating', 'index', 'index-updated', 'register-updated']);
      expect(events[0]).toEqual({ type: 'publishing', tag: 'cpython-3.11.2-build1', repository: gh.repository, prerelease: true });
      expect(events).toContainEqual({ type: 'release', event: { type: 'asset', name: 'LICENSE.txt', action: 'verified' } });
      expect(events).toContainEqual({ type: 'index-updated', url: result.index!.url, entries: 1, signatureUrl: null });
      expect(events).toContainEqual({ type: 'register-updated', path: join(register, 'index.json'), signatureRemoved: join(register, 'index.json.asc') });
      expect(await readdir(register)).toEqual(['ARTIFACTS.md', 'index.json']);

      // Signed by hand again, then the same publish again: the register already says it all, and is
      // left as it is, with its signature (it was rewritten, and its signature removed).
      await writeFile(join(register, 'index.json.asc'), '-----BEGIN PGP SIGNATURE-----\n');
      const registered = await readFile(join(register, 'index.json'), 'utf8');
      const rerun: PublishArtifactEvent[] = [];
      await publishArtifact(artifact.path, { github: api(gh), commit: 'main', register, onEvent: (e) => rerun.push(e) });
      expect(rerun).toContainEqual({ type: 'register-unchanged', path: join(register, 'index.json') });
      expect(rerun.some((e) => e.type === 'register-updated')).toBe(false);
      expect((await readdir(register)).sort()).toEqual(['ARTIFACTS.md', 'index.json', 'index.json.asc']);
      expect(await readFile(join(register, 'index.json'), 'utf8')).toBe(registered);
    } finally {
      for (const name of sides) for (const f of [name, `${name}.sha256`]) await rm(join(work, 'artifacts', f), { force: true });
    }
  });

  it("an artifact sent again takes an earlier pack's debug-symbols and tests assets off the release when this publish does not carry them (they belong to the old bytes); an unchanged re-run keeps them", async () => {
    const gh = await double();
    const github = api(gh);
    const first = await repackArtifact(artifact, join(work, 'sides-first'), { padMetadata: 1 });
    const sides = [debugSymbolsFileName(first.fileName), testsFileName(first.fileName)];
    for (const name of sides) {
      const bytes = Buffer.from(`${name} of the first pack`);
      await writeFile(join(dirname(first.path), name), bytes);
      await writeFile(join(dirname(first.path), `${name}.sha256`), `${sha(bytes)}  ${name}\n`);
    }
    await publishArtifact(first.path, { github, index: false });
    const sideAssets = sides.flatMap((s) => [s, `${s}.sha256`]);
    const onRelease = () => releaseOf(gh, 'cpython-3.11.2-build1')!.assets;
    expect(onRelease().map((a) => a.name)).toEqual(expect.arrayContaining(sideAssets));

    // The same bytes published again from a folder without them: they still describe these bytes.
    const again = join(work, 'sides-again');
    await mkdir(again);
    for (const f of [first.fileName, `${first.fileName}.sha256`, `${first.fileName}.json`]) await copyFile(join(dirname(first.path), f), join(again, f));
    const same = await publishArtifact(join(again, first.fileName), { github, index: false });
    expect(same.release.status).toBe('unchanged');
    expect(onRelease().map((a) => a.name)).toEqual(expect.arrayContaining(sideAssets));

    // Another pack under the same name, without side assets, replaced: the release kept the first
    // pack's debug symbols and tests beside the new bytes.
    const second = await repackArtifact(artifact, join(work, 'sides-second'), { padMetadata: 2 });
    // A replacement whose upload is cut off changes nothing: the old bytes keep their side assets.
    // (Before, they were deleted first, and lost for good when the replacement failed.)
    gh.inject('upload', { drop: true }, { drop: true }, { drop: true }, { drop: true });
    const cut = await publishArtifact(second.path, { github, index: false, replace: true }).catch((e: unknown) => e);
    expect(isCpyError(cut) && cut.code).toBe('CPY_PUBLISH_NETWORK');
    expect(onRelease().map((a) => a.name)).toEqual(expect.arrayContaining(sideAssets));
    expect(sha(onRelease().find((a) => a.name === first.fileName)!.bytes)).toBe(first.sha256);
    const events: PublishArtifactEvent[] = [];
    const replaced = await publishArtifact(second.path, { github, index: false, replace: true, onEvent: (e) => events.push(e) });
    expect(replaced.release.status).toBe('published');
    expect(onRelease().map((a) => a.name).filter((n) => sideAssets.includes(n))).toEqual([]);
    for (const name of sideAssets) expect(events).toContainEqual({ type: 'release', event: { type: 'asset', name, action: 'deleted-stale' } });
    expect(sha(onRelease().find((a) => a.name === second.fileName)!.bytes)).toBe(second.sha256);
    expect(releaseOf(gh, 'cpython-3.11.2-build1')!.body).not.toContain(sides[0]);
  });

  it('a build older than one published already (an earlier build number, an older version) does not become the repository\'s "Latest"; the newest does', async () => {
    const gh = await double();
    const github = api(gh);
    await publishArtifact((await buildOf(2)).path, { github, index: false, prerelease: false });
    expect(releaseOf(gh, 'cpython-3.11.2-build2')!.make_latest).toBeNull();
    // Before, GitHub's default made each release published the "Latest", build 1 after build 2 too.
    await publishArtifact(artifact.path, { github, index: false, prerelease: false });
    expect(releaseOf(gh, 'cpython-3.11.2-build1')!.make_latest).toBe('false');
    await publishArtifact((await buildOf(1, '3.12.1')).path, { github, index: false, prerelease: false });
    expect(releaseOf(gh, 'cpython-3.12.1-build1')!.make_latest).toBeNull();
    // A newer version published as a pre-release is never GitHub's Latest: it does not hold the
    // next build of 3.12.1 back.
    await publishArtifact((await buildOf(1, '3.13.0')).path, { github, index: false, prerelease: true });
    await publishArtifact((await buildOf(2, '3.12.1')).path, { github, index: false, prerelease: false });
    expect(releaseOf(gh, 'cpython-3.12.1-build2')!.make_latest).toBeNull();
  });

  it('the pre-release rule: the first release of a version, and any CPython pre-release, unless told otherwise', async () => {
    const gh = await double();
    const github = api(gh);
    const prerelease = async (path: string, options: { prerelease?: boolean } = {}) => {
      const r = await publishArtifact(path, { github, index: false, ...options });
      expect(releaseOf(gh, r.release.tag)!.prerelease).toBe(r.prerelease);
      return [r.release.tag, r.prerelease];
    };
    // 3.11.2: its first release is a pre-release, the next ones are not (unless asked).
    expect(await prerelease(artifact.path)).toEqual(['cpython-3.11.2-build1', true]);
    expect(await prerelease((await buildOf(2)).path)).toEqual(['cpython-3.11.2-build2', false]);
    expect(await prerelease((await buildOf(3)).path, { prerelease: true })).toEqual(['cpython-3.11.2-build3', true]);
    // 3.14.0rc1: a CPython pre-release, the first build and the next; never when told not to.
    expect(await prerelease((await buildOf(1, '3.14.0rc1')).path)).toEqual(['cpython-3.14.0rc1-build1', true]);
    expect(await prerelease((await buildOf(2, '3.14.0rc1')).path)).toEqual(['cpython-3.14.0rc1-build2', true]);
    expect(await prerelease((await buildOf(3, '3.14.0rc1')).path, { prerelease: false })).toEqual(['cpython-3.14.0rc1-build3', false]);
    // Another build into a published release keeps what it is, and says so; told otherwise, it changes.
    const arm = await aarch64Of('aarch64-prerelease');
    expect(await prerelease(arm.path)).toEqual(['cpython-3.11.2-build1', true]);
    expect(await prerelease(arm.path, { prerelease: false })).toEqual(['cpython-3.11.2-build1', false]);
    expect(await prerelease(artifact.path)).toEqual(['cpython-3.11.2-build1', false]);
    // A draft another publish left is no earlier release: the first published one of 3.12.1 is still a pre-release.
    await github.createRelease({ tag_name: 'cpython-3.12.1-build1', name: 'left', body: '', draft: true, prerelease: false });
    expect(await prerelease((await buildOf(2, '3.12.1')).path)).toEqual(['cpython-3.12.1-build2', true]);
    // index: false: the release only.
    expect(releaseOf(gh, 'cpy-index')).toBeUndefined();
  }, 120_000);

  it('a re-run on a published release that changes its pre-release flag or its notes says updated (it said unchanged, or kept the notes without a word)', async () => {
    const gh = await double();
    const github = api(gh);
    const b = await buildOf(2);
    const status = async (options: { prerelease?: boolean; changelog?: string; featureRef?: string } = {}) => (await publishArtifact(b.path, { github, index: false, ...options })).release.status;
    expect(await status()).toBe('published');
    expect(await status({ prerelease: false })).toBe('updated');
    expect(releaseOf(gh, 'cpython-3.11.2-build2')!.prerelease).toBe(false);
    expect(await status({ changelog: 'OpenSSL 3.0.99: a security fix', featureRef: 'ghcr.io/acme/features/cpython-prebuilt:2' })).toBe('updated');
    expect(releaseOf(gh, 'cpython-3.11.2-build2')!.body).toEqual(expect.stringContaining('OpenSSL 3.0.99: a security fix'));
    expect(releaseOf(gh, 'cpython-3.11.2-build2')!.body).toEqual(expect.stringContaining('ghcr.io/acme/features/cpython-prebuilt:2'));
    // A plain re-run keeps the notes as they are (it does not write the default changelog over them).
    expect(await status()).toBe('unchanged');
    expect(releaseOf(gh, 'cpython-3.11.2-build2')!.body).toEqual(expect.stringContaining('OpenSSL 3.0.99: a security fix'));
    expect(await status({ changelog: 'OpenSSL 3.0.99: a security fix', featureRef: 'ghcr.io/acme/features/cpython-prebuilt:2' })).toBe('unchanged');
  });

  it('two builds of one version and build number (x86_64 and aarch64) share one release: each keeps its assets, the title and notes cover both, the index lists both; a re-run of either changes nothing', async () => {
    const gh = await double();
    const github = api(gh);
    const arm = await aarch64Of('aarch64');

    const first = await publishArtifact(artifact.path, { github, commit: 'main' });
    const second = await publishArtifact(arm.path, { github, commit: 'main' });
    expect([first.release.tag, second.release.tag]).toEqual(['cpython-3.11.2-build1', 'cpython-3.11.2-build1']);
    expect(second.release.status).toBe('published');
    const release = releaseOf(gh, 'cpython-3.11.2-build1')!;
    const own = (name: string) => [name, `${name}.sha256`, `${name}.json`];
    expect(release.assets.map((a) => a.name).sort()).toEqual([...own(artifact.fileName), ...own(arm.fileName), 'LICENSE.txt'].sort());
    expect(release.name).toBe('CPython 3.11.2 (build 1, testhost 1, x86_64 and aarch64)');
    // The notes describe each build on the release, with its own download and checks.
    const urls = new Map([...first.release.assets, ...second.release.assets].map((a) => [a.name, a.url]));
    for (const a of [artifact, arm]) {
      expect(release.body).toContain(`| architecture | ${a.metadata.platform.arch} |`);
      expect(release.body).toContain(`sha256sum -c ${a.fileName}.sha256`);
      expect(release.body).toContain(`\`${a.sha256}\``);
      expect(release.body).toContain(`"artifactUrl": "${urls.get(a.fileName)}"`);
    }
    // The index: both builds, at their URLs, for hosts of each architecture to choose from.
    expect(second.index!.index.artifacts.map((e) => [e.file, e.arch, e.state]).sort()).toEqual(
      [[artifact.fileName, 'x86_64', 'active'], [arm.fileName, 'aarch64', 'active']].sort(),
    );
    // Publishing either again changes nothing, and the notes still cover both.
    const body = release.body;
    expect((await publishArtifact(artifact.path, { github })).release.status).toBe('unchanged');
    expect((await publishArtifact(arm.path, { github })).release.status).toBe('unchanged');
    expect(releaseOf(gh, 'cpython-3.11.2-build1')!.body).toBe(body);

    // A build on the release whose .json is gone cannot be described: the next publish says which, and how to restore it.
    const json = (await github.listAssets(releaseOf(gh, 'cpython-3.11.2-build1')!.id)).find((a) => a.name === `${arm.fileName}.json`)!;
    await github.deleteAsset(json.id);
    const riscv = await repackArtifact(artifact, join(work, 'riscv64'), {
      fileName: artifact.fileName.replace(/-build1\.tgz$/, '-riscv64-build1.tgz'),
      metadata: (m) => ({ ...m, platform: { ...m.platform, arch: 'riscv64' } }),
    });
    const refused = await publishArtifact(riscv.path, { github }).catch((e: unknown) => e);
    expect(isCpyError(refused, 'CPY_PUBLISH_RELEASE_UNREADABLE')).toBe(true);
    expect((refused as Error).message).toContain(`${arm.fileName} without a readable ${arm.fileName}.json`);
  });

  it('a draft a stopped publish left half uploaded stays a draft: another build published into it is refused, naming the half one, which published again completes the release', async () => {
    const gh = await double();
    const github = api(gh);
    const arm = await aarch64Of('aarch64-stopped');
    // Stopped after its first asset: the draft holds the aarch64 .tgz, unverified, and nothing else of it.
    const draft = await github.createRelease({ tag_name: 'cpython-3.11.2-build1', name: 'stopped', body: '', draft: true, prerelease: false });
    await github.uploadAsset(draft, arm.path, arm.fileName);

    const refused = await publishArtifact(artifact.path, { github, commit: 'main' }).catch((e: unknown) => e);
    expect(isCpyError(refused, 'CPY_PUBLISH_RELEASE_UNREADABLE')).toBe(true);
    expect((refused as Error).message).toContain(`${arm.fileName} without a readable ${arm.fileName}.json`);
    expect(releaseOf(gh, 'cpython-3.11.2-build1')!.draft).toBe(true);

    const completed = await publishArtifact(arm.path, { github });
    expect(completed.release.status).toBe('published');
    const release = releaseOf(gh, 'cpython-3.11.2-build1')!;
    expect(release.draft).toBe(false);
    // Both builds, in the order their artifacts were uploaded.
    expect(release.name).toBe('CPython 3.11.2 (build 1, testhost 1, aarch64 and x86_64)');

    // Stopped otherwise: its .json and .sha256 there, its artifact cut off (GitHub keeps it, state
    // "open") or not there at all. Before, only the .json was read: the release went public with
    // the cut artifact, or without it (its .sha256 and .json orphans), and the notes described it.
    for (const stop of ['cut', 'gone'] as const) {
      const other = await double();
      const otherGitHub = api(other);
      const left = await otherGitHub.createRelease({ tag_name: 'cpython-3.11.2-build1', name: 'stopped', body: '', draft: true, prerelease: false });
      for (const f of [`${arm.fileName}.sha256`, `${arm.fileName}.json`]) await otherGitHub.uploadAsset(left, join(dirname(arm.path), f), f);
      if (stop === 'cut') {
        other.inject('upload', { drop: true });
        await otherGitHub.uploadAsset(left, arm.path, arm.fileName).catch(() => undefined);
      }
      const stopped = await publishArtifact(artifact.path, { github: otherGitHub, commit: 'main' }).catch((e: unknown) => e);
      expect(isCpyError(stopped, 'CPY_PUBLISH_RELEASE_UNREADABLE')).toBe(true);
      expect((stopped as Error).message).toContain(stop === 'cut' ? `${arm.fileName} not uploaded whole (state open)` : `${arm.fileName}.sha256 without ${arm.fileName}:`);
      expect(releaseOf(other, 'cpython-3.11.2-build1')!.draft).toBe(true);
    }

    // On a release already public (its aarch64 .tgz deleted by hand, its .sha256 and .json left):
    // refused before the x86_64 build's assets are uploaded. Before, they went public, and the
    // notes, written after, failed: a re-run found them unchanged and never wrote the notes.
    const publicRelease = await double();
    const publicGitHub = api(publicRelease);
    await publishArtifact(arm.path, { github: publicGitHub, commit: 'main', index: false });
    const armAsset = (await publicGitHub.listAssets(releaseOf(publicRelease, 'cpython-3.11.2-build1')!.id)).find((a) => a.name === arm.fileName)!;
    await publicGitHub.deleteAsset(armAsset.id);
    const onPublic = await publishArtifact(artifact.path, { github: publicGitHub, index: false }).catch((e: unknown) => e);
    expect(onPublic).toMatchObject({ code: 'CPY_PUBLISH_RELEASE_UNREADABLE', message: expect.stringContaining(`without ${arm.fileName}:`) });
    expect(releaseOf(publicRelease, 'cpython-3.11.2-build1')!.assets.map((a) => a.name)).not.toContain(artifact.fileName);
  });

  it("each build's notes pin the signer that signed that build: one published unsigned gets none from a later signed publish into the release", async () => {
    const gh = await double();
    const github = api(gh);
    const generated = await generateSigningKey({ name: 'Notes Signer', email: 'notes@example.org' });
    const key = await loadSigningKey(generated.privateKey, undefined, 'notes.asc');
    const arm = await aarch64Of('aarch64-unsigned');
    const pin = `"signerFingerprints": "${key.fingerprint}"`;

    // (The release alone: the index's signing is another case's.)
    await publishArtifact(arm.path, { github, commit: 'main', index: false });
    await publishArtifact(artifact.path, { github, signingKey: key, index: false });
    expect(sectionOf(gh, 'x86_64')).toContain(pin);
    expect(sectionOf(gh, 'aarch64')).not.toContain('signerFingerprints');
    // Signed now too (its signatures added): both sections pin the key, each checked on the release.
    await publishArtifact(arm.path, { github, signingKey: key, index: false });
    expect(sectionOf(gh, 'aarch64')).toContain(pin);
    expect(sectionOf(gh, 'x86_64')).toContain(pin);
  });

  it('an unsigned publish into a release keeps the pins of the builds signed before: their key is in cpy-keys.asc', async () => {
    const gh = await double();
    const github = api(gh);
    const key = await loadSigningKey((await generateSigningKey({ name: 'Notes Signer', email: 'notes@example.org' })).privateKey, undefined, 'notes.asc');
    const arm = await aarch64Of('aarch64-signed-before');
    const pin = `"signerFingerprints": "${key.fingerprint}"`;

    // Signed, with the index: its public key goes into cpy-keys.asc on the index release.
    await publishArtifact(arm.path, { github, commit: 'main', signingKey: key });
    expect(sectionOf(gh, 'aarch64')).toContain(pin);
    // Unsigned, into the same release: it has no key, but the aarch64 build's signature verifies with one cpy-keys.asc holds.
    await publishArtifact(artifact.path, { github, index: false });
    expect(sectionOf(gh, 'aarch64')).toContain(pin);
    expect(sectionOf(gh, 'x86_64')).not.toContain('signerFingerprints');
  });

  it('checks every local file (and the index entry) before sending anything', async () => {
    const gh = await double();
    const github = api(gh);
    const codeOf = (path: string) => publishArtifact(path, { github }).then(() => 'published', (e: unknown) => (isCpyError(e) ? e.code : String(e)));
    expect(await codeOf(join(work, 'artifacts', 'missing.tgz'))).toBe('CPY_PUBLISH_NO_ASSET');
    const notAnArtifact = join(work, 'not-an-artifact.tgz');
    await writeFile(notAnArtifact, 'not a tarball');
    expect(await codeOf(notAnArtifact)).toBe('CPY_PUBLISH_NOT_AN_ARTIFACT');
    // A side asset without its .sha256 beside it.
    const b2 = await buildOf(2);
    const debug = join(dirname(b2.path), debugSymbolsFileName(b2.fileName));
    await writeFile(debug, 'debug');
    const missing = await publishArtifact(b2.path, { github }).catch((e: unknown) => e);
    expect(isCpyError(missing) && [missing.code, missing.message]).toEqual(['CPY_PUBLISH_NO_ASSET', `${debug}.sha256 is missing`]);
    // A tree cut short (repacked by hand: its metadata, its LICENSE, a .sha256 made anew): it was
    // published and indexed, and every install of it failed. Refused, as cpy index add refuses it.
    const cut = await repackArtifact(artifact, join(work, 'cut-short'), { metadata: (m) => ({ ...m, build: 8 }), drop: (name) => name.includes('/lib/python') && name.endsWith('.py') });
    const short = await publishArtifact(cut.path, { github }).catch((e: unknown) => e);
    expect(isCpyError(short) && [short.code, short.message]).toEqual(['CPY_PUBLISH_NOT_AN_ARTIFACT', expect.stringMatching(/ files of \d+ bytes under opt\/python-3\.11\.2\/: the tree is missing or incomplete, and no installer could install it$/)]);
    // A name the index cannot list: refused before the release is made, not after.
    const odd = join(work, 'odd');
    await mkdir(odd);
    for (const [from, to] of [[artifact.path, 'python.tgz'], [artifact.checksumPath, 'python.tgz.sha256'], [artifact.metadataPath, 'python.tgz.json']] as const) await copyFile(from, join(odd, to));
    expect(await codeOf(join(odd, 'python.tgz'))).toBe('CPY_ARTIFACT_MISNAMED');
    // A stale .json beside it (it set the release's tag and build number): the artifact's own metadata holds.
    const b3 = await buildOf(3);
    await writeFile(b3.metadataPath, JSON.stringify({ ...b3.metadata, build: 7 }, null, 2));
    const stale = await publishArtifact(b3.path, { github }).catch((e: unknown) => e);
    expect(isCpyError(stale) && [stale.code, stale.message]).toEqual(['CPY_INDEX_BAD_ENTRY', `${b3.path}.json disagrees with the metadata inside ${b3.fileName}: build is 7 beside it, 3 inside`]);
    // A .sha256 that does not say its file's sha256, the artifact's or a side asset's: it was
    // published, and every installer (and sha256sum -c) then refused the build.
    const b4 = await buildOf(4);
    await writeFile(b4.checksumPath, `${'0'.repeat(64)}  ${b4.fileName}\n`);
    const wrong = await publishArtifact(b4.path, { github }).catch((e: unknown) => e);
    expect(isCpyError(wrong) && [wrong.code, wrong.message]).toEqual([
      'CPY_INDEX_BAD_ENTRY',
      `${b4.checksumPath} says sha256 ${'0'.repeat(64)}, but ${b4.fileName} has sha256 ${b4.sha256}: installers and sha256sum -c would refuse the artifact`,
    ]);
    const b5 = await buildOf(5);
    const tests = join(dirname(b5.path), testsFileName(b5.fileName));
    await writeFile(tests, 'tests');
    await writeFile(`${tests}.sha256`, `${sha(Buffer.from('other bytes'))}  ${testsFileName(b5.fileName)}\n`);
    expect(await codeOf(b5.path)).toBe('CPY_INDEX_BAD_ENTRY');
    // A notes template with a field there is not: the release was published first, its notes left saying it was being uploaded.
    const b6 = await buildOf(6);
    const template = await publishArtifact(b6.path, { github, notesTemplate: 'CPython {{version}} {{nosuchfield}}' }).catch((e: unknown) => e);
    expect(isCpyError(template) && [template.code, template.message]).toEqual(['CPY_PUBLISH_BAD_TEMPLATE', 'the notes template uses unknown fields: nosuchfield']);
    // One whose checks failed when it was packed (cpy build put it in rejected/, with a note saying why).
    const b7 = await buildOf(7);
    await writeFile(join(dirname(b7.path), rejectedNoteName(b7.fileName)), `${b7.fileName} failed its checks when it was packed; it is kept here to look at, not to publish.\nFAIL critical-modules: cannot import ssl\n`);
    const rejected = await publishArtifact(b7.path, { github }).catch((e: unknown) => e);
    expect(isCpyError(rejected) && [rejected.code, rejected.message]).toEqual([
      'CPY_ARTIFACT_REJECTED',
      `${b7.fileName} failed its checks when it was packed: critical-modules: cannot import ssl (${b7.path}.rejected)`,
    ]);
    // A --tag that names another build: prune and retention find a build's release by that name.
    const b8 = await buildOf(8);
    const other = `cpython-${b8.metadata.version}-build9`;
    const tagged = await publishArtifact(b8.path, { github, tag: other }).catch((e: unknown) => e);
    expect(isCpyError(tagged) && [tagged.code, tagged.message]).toEqual(['CPY_PUBLISH_BAD_TAG', `--tag ${other} names CPython ${b8.metadata.version} build 9, but ${b8.fileName} is CPython ${b8.metadata.version} build 8`]);
    expect(gh.exchanges).toEqual([]);
    expect(gh.releases()).toEqual([]);
  });

  it('refuses a misnamed artifact without an index too (index: false): the release asset\'s name would mislead installers', async () => {
    const gh = await double();
    const github = api(gh);
    const refusal = (path: string) => publishArtifact(path, { github, index: false }).then(() => 'published', (e: unknown) => (isCpyError(e) ? [e.code, e.message] : String(e)));
    /** The test artifact's files (with its .sha256 and .json) under another name, in a folder of their own. */
    const copyAs = async (folder: string, name: string) => {
      await mkdir(join(work, folder));
      for (const [from, to] of [[artifact.path, name], [artifact.checksumPath, `${name}.sha256`], [artifact.metadataPath, `${name}.json`]] as const) await copyFile(from, join(work, folder, to));
      return join(work, folder, name);
    };
    expect(await refusal(await copyAs('misnamed-odd', 'python.tgz'))).toEqual(['CPY_ARTIFACT_MISNAMED', "'python.tgz' is not an artifact file name"]);
    // A gzip artifact named .tar.zst.
    const zst = artifact.fileName.replace(/\.tgz$/, '.tar.zst');
    expect(await refusal(await copyAs('misnamed-zst', zst))).toEqual(['CPY_ARTIFACT_MISNAMED', `the name ${zst} says zstd compression; the file is gzip-compressed`]);
    // An aarch64 build named without an architecture (which says x86_64).
    const arm = await repackArtifact(artifact, join(work, 'misnamed-arm'), { fileName: artifact.fileName, metadata: (m) => ({ ...m, platform: { ...m.platform, arch: 'aarch64' } }) });
    expect(arm.fileName).toMatch(/^cpython-[^-]+-testhost1-build1\.tgz$/);
    expect(await refusal(arm.path)).toEqual(['CPY_ARTIFACT_MISNAMED', `the name ${arm.fileName} says arch x86_64; the metadata inside it says aarch64`]);
    expect(gh.exchanges).toEqual([]);
    expect(gh.releases()).toEqual([]);
  });

  it(`retention: builds beyond the last ${KEEP_BUILDS} of a line are deprecated; a re-run changes nothing`, async () => {
    const gh = await double();
    const github = api(gh);
    await publishArtifact(artifact.path, { github });
    for (const b of [2, 3, 4]) await publishArtifact((await buildOf(b)).path, { github });
    expect(publishedIndex(gh)).toEqual([
      [4, 'active'],
      [3, 'active'],
      [2, 'active'],
      [1, 'deprecated'],
    ]);
    gh.exchanges.splice(0).forEach((x) => expect(contract.check(x)).toEqual([]));
    const events: PublishArtifactEvent[] = [];
    const again = await publishArtifact(artifact.path, { github, onEvent: (e) => events.push(e) });
    expect(again.release.status).toBe('unchanged');
    expect(events).toContainEqual({ type: 'index', event: { type: 'unchanged', entries: 4 } });
    expect(gh.exchanges.filter((x) => x.method !== 'GET')).toEqual([]);
  }, 120_000);
});

describe('pruneReleases', () => {
  it('a dry run changes nothing; apply deletes beyond `keep` and marks those builds removed in the index and the register', async () => {
    const gh = await double();
    const github = api(gh);
    const register = join(work, 'prune-register');
    await publishArtifact(artifact.path, { github, register });
    for (const b of [2, 3]) await publishArtifact((await buildOf(b)).path, { github, register });

    const dry = await pruneReleases({ github, keep: 1, register });
    expect(dry).toMatchObject({ applied: false, index: null, register: null });
    expect(dry.plan.remove.map((r) => r.tag_name)).toEqual(['cpython-3.11.2-build2', 'cpython-3.11.2-build1']);
    expect(gh.releases()).toHaveLength(4);

    const events: PruneEvent[] = [];
    const done = await pruneReleases({ github, keep: 1, apply: true, register, onEvent: (e) => events.push(e) });
    expect(done.plan.keep.map((r) => r.tag_name)).toEqual(['cpython-3.11.2-build3']);
    expect(done.plan.ignored.map((r) => r.tag_name)).toEqual(['cpy-index']);
    expect(gh.releases().map((r) => r.tag_name).sort()).toEqual(['cpy-index', 'cpython-3.11.2-build3']);
    // The index says removed before the releases go.
    expect(events.slice(-2)).toEqual([
      { type: 'deleting', tag: 'cpython-3.11.2-build2' },
      { type: 'deleting', tag: 'cpython-3.11.2-build1' },
    ]);
    expect(events.findIndex((e) => e.type === 'register-updated')).toBeLessThan(events.findIndex((e) => e.type === 'deleting'));
    const removed = [
      [3, 'active'],
      [2, 'removed'],
      [1, 'removed'],
    ];
    expect(publishedIndex(gh)).toEqual(removed);
    expect(done.index!.index.artifacts.map((e) => [e.build, e.state])).toEqual(removed);
    expect(builds(await readFile(done.register!, 'utf8'))).toEqual(removed);
    expect(events).toContainEqual({ type: 'register-updated', path: join(register, 'index.json'), signatureRemoved: null });
  }, 120_000);

  it('a release the index does not list (published with index: false) is neither counted nor deleted: the builds the index lists keep their rollback', async () => {
    const gh = await double();
    const github = api(gh);
    const listed = [await buildOf(1), await buildOf(2)];
    for (const b of listed) await publishArtifact(b.path, { github });
    for (const b of [3, 4]) await publishArtifact((await buildOf(b)).path, { github, index: false });
    const done = await pruneReleases({ github, keep: 2, apply: true });
    // Counted, builds 3 and 4 were the 2 kept, and builds 1 and 2 (the index's only ones, active) were deleted.
    expect([done.plan.keep, done.plan.remove, done.plan.unlisted].map((list) => list.map((r) => r.tag_name))).toEqual([
      ['cpython-3.11.2-build2', 'cpython-3.11.2-build1'],
      [],
      ['cpython-3.11.2-build4', 'cpython-3.11.2-build3'],
    ]);
    expect(gh.releases().map((r) => r.tag_name).sort()).toEqual(['cpy-index', 'cpython-3.11.2-build1', 'cpython-3.11.2-build2', 'cpython-3.11.2-build3', 'cpython-3.11.2-build4']);
    expect(publishedIndex(gh)).toEqual([
      [2, 'active'],
      [1, 'active'],
    ]);
    // Without an index to count by (index: false), every release counts, as before: builds 1 and 2
    // would go. But not so while the index lists them as active (installers would be sent to
    // releases that are gone); and the dry run says what --yes does (it listed them as deletions).
    for (const apply of [false, true]) {
      const refused = await pruneReleases({ github, keep: 2, index: false, apply }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'CPY_PUBLISH_INDEX_WOULD_DISAGREE', hint: expect.stringContaining('drop --no-index') });
      for (const b of listed) expect((refused as Error).message).toContain(`${b.fileName} (active)`);
    }
    expect(gh.releases()).toHaveLength(5);
    // Nor while the index cannot be downloaded (GitHub failing): before, that read as no index,
    // and --yes deleted the releases it lists as active.
    gh.inject('download', { status: 503 }, { status: 503 }, { status: 503 }, { status: 503 });
    const unread = await pruneReleases({ github, keep: 2, index: false, apply: true }).catch((e: unknown) => e);
    expect(isCpyError(unread) && unread.code).not.toBe('CPY_PUBLISH_INDEX_WOULD_DISAGREE');
    expect(unread).toBeInstanceOf(Error);
    expect(gh.releases()).toHaveLength(5);
    // Nor an artifact replaced under the name the index lists with other bytes.
    const b1 = listed[0]!;
    const other = await repackArtifact(artifact, join(work, 'replaced-b1'), { fileName: b1.fileName, metadata: (m) => ({ ...m, build: 1, builtWith: { ...m.builtWith, finishedAt: '2026-12-06T00:00:00Z' } }) });
    const replaced = await publishArtifact(other.path, { github, index: false, replace: true }).catch((e: unknown) => e);
    expect(replaced).toMatchObject({ code: 'CPY_PUBLISH_INDEX_WOULD_DISAGREE', message: expect.stringContaining(`lists ${b1.fileName} with sha256 ${b1.sha256}`) });
    expect(publishedIndex(gh)).toEqual([
      [2, 'active'],
      [1, 'active'],
    ]);
    // Updating the index, the same is refused without --replace, before anything is published (as
    // cpy index add refuses it: it replaced the listed bytes without a word); with it, it is done.
    const assetsBefore = JSON.stringify(gh.releases());
    const unasked = await publishArtifact(other.path, { github }).catch((e: unknown) => e);
    expect(unasked).toMatchObject({ code: 'CPY_INDEX_REPLACES_BYTES', message: expect.stringContaining(`lists ${b1.fileName} with sha256 ${b1.sha256}, and this file has sha256 ${other.sha256}`) });
    expect(JSON.stringify(gh.releases())).toBe(assetsBefore);
    await publishArtifact(other.path, { github, replace: true });
    const index = JSON.parse(releaseOf(gh, 'cpy-index')!.assets.find((a) => a.name === 'index.json')!.bytes.toString('utf8')) as { artifacts: { file: string; sha256: string }[] };
    expect(index.artifacts.find((e) => e.file === b1.fileName)?.sha256).toBe(other.sha256);
  }, 120_000);

  it('a stop (Ctrl-C, a CI cancel) in the middle of the index swap waits for its end: index.json is never left missing, or without its signature', async () => {
    const gh = await double();
    await publishArtifact((await buildOf(1)).path, { github: api(gh) });
    const stop = new AbortController();
    const github = gitHub({ repository: gh.repository, token: TOKEN, apiUrl: gh.apiUrl, client, sleep: async () => undefined, signal: stop.signal });
    // Stopped as index.json becomes index.previous.json: the next rename (index.json.new to index.json) was refused.
    await publishArtifact((await buildOf(2)).path, { github, onEvent: (e) => void (JSON.stringify(e).includes('"from":"index.json"') && stop.abort()) }).catch(() => undefined);
    expect(stop.signal.aborted).toBe(true);
    const names = releaseOf(gh, 'cpy-index')!.assets.map((a) => a.name);
    expect([names.includes('index.json'), names.includes('index.previous.json'), names.includes('index.json.new')]).toEqual([true, true, false]);
    expect(publishedIndex(gh)).toEqual([
      [2, 'active'],
      [1, 'active'],
    ]);
  });

  it('an upload answered with what is no asset is CPY_PUBLISH_API_ERROR (it was a ZodError: "a bug in cpy"); a file to send that is gone is said at once, not retried as the network', async () => {
    const gh = await double();
    const github = api(gh);
    const release = await github.createRelease({ tag_name: 'cpython-3.11.2-build9', name: 'x', body: '', draft: true, prerelease: false });
    gh.inject('upload', { status: 201, body: { id: 'not a number' } });
    expect(await github.uploadAsset(release, artifact.path, 'a.tgz').catch((e: unknown) => e)).toMatchObject({ code: 'CPY_PUBLISH_API_ERROR', message: expect.stringMatching(/^uploading a\.tgz: unexpected answer: /) });
    // (That answer is off GitHub's contract, as a proxy's or another server's at --api-url: not checked against it.)
    gh.exchanges.splice(0);
    const sent = gh.exchanges.length;
    const gone = join(work, 'gone.tgz');
    expect(await github.uploadAsset(release, gone, 'gone.tgz').catch((e: unknown) => e)).toMatchObject({ code: 'CPY_PUBLISH_UPLOAD_FAILED', message: `uploading gone.tgz: cannot read ${gone}: ENOENT` });
    expect(gh.exchanges.length).toBe(sent);
  });

  it('an index update that fails leaves every release in place; the re-run marks and deletes them', async () => {
    const gh = await double();
    const github = api(gh);
    for (const b of [1, 2]) await publishArtifact((await buildOf(b)).path, { github });
    gh.inject('upload', { drop: true }, { drop: true }, { drop: true }, { drop: true });
    const error = await pruneReleases({ github, keep: 1, apply: true }).catch((e: unknown) => e);
    expect(isCpyError(error) && error.code).toBe('CPY_PUBLISH_NETWORK');
    expect(gh.releases().map((r) => r.tag_name).sort()).toEqual(['cpy-index', 'cpython-3.11.2-build1', 'cpython-3.11.2-build2']);
    expect(publishedIndex(gh)).toEqual([
      [2, 'active'],
      [1, 'active'],
    ]);
    await pruneReleases({ github, keep: 1, apply: true });
    expect(gh.releases().map((r) => r.tag_name).sort()).toEqual(['cpy-index', 'cpython-3.11.2-build2']);
    expect(publishedIndex(gh)).toEqual([
      [2, 'active'],
      [1, 'removed'],
    ]);
  }, 120_000);

  it('a prune stopped between a release and its tag: the next prune deletes the tag and marks its build removed', async () => {
    const gh = await double();
    const github = api(gh);
    for (const b of [1, 2, 3]) await publishArtifact((await buildOf(b)).path, { github });
    expect(gh.tags()).toEqual(['cpy-index', 'cpython-3.11.2-build1', 'cpython-3.11.2-build2', 'cpython-3.11.2-build3']);
    // What a prune killed after deleting build 1's release, before its tag, leaves (the index
    // update that comes first is left out: a release deleted by hand leaves the same).
    await github.deleteRelease(gh.releases().find((r) => r.tag_name === 'cpython-3.11.2-build1')!.id);
    await github.createRelease({ tag_name: 'cpython-3.11.2-build9', name: 'a draft', body: '', draft: true, prerelease: false });

    const dry = await pruneReleases({ github, keep: 2 });
    expect(dry.plan.remove).toEqual([]);
    expect(dry.plan.strayTags).toEqual(['cpython-3.11.2-build1']);
    expect(gh.tags()).toContain('cpython-3.11.2-build1');

    // A tag a ruleset protects: GitHub answers 422 (not "Reference does not exist") and keeps it.
    // Before, any 422 counted as deleted, and every later prune "deleted" it again.
    gh.inject('delete-tag', { status: 422, body: { message: 'Repository rule violations found\n\nCannot delete this tag', documentation_url: 'https://docs.github.com/rest' } });
    const protectedTag = await pruneReleases({ github, keep: 2, apply: true }).catch((e: unknown) => e);
    expect(protectedTag).toMatchObject({ code: 'CPY_PUBLISH_API_ERROR', message: expect.stringContaining('deleting tag cpython-3.11.2-build1: GitHub answered 422 (Repository rule violations found') });
    expect(gh.tags()).toContain('cpython-3.11.2-build1');

    const events: PruneEvent[] = [];
    const done = await pruneReleases({ github, keep: 2, apply: true, onEvent: (e) => events.push(e) });
    expect(events).toContainEqual({ type: 'deleting-tag', tag: 'cpython-3.11.2-build1' });
    expect(gh.tags()).toEqual(['cpy-index', 'cpython-3.11.2-build2', 'cpython-3.11.2-build3']);
    expect(publishedIndex(gh)).toEqual([
      [3, 'active'],
      [2, 'active'],
      [1, 'removed'],
    ]);
    expect(done.plan.keep.map((r) => r.tag_name)).toEqual(['cpython-3.11.2-build3', 'cpython-3.11.2-build2']);

    // The tag of a build the line would keep is not stray: with --keep 3, build 2 is among the
    // newest three, so its tag without a release may be someone's to publish again.
    await github.deleteRelease(gh.releases().find((r) => r.tag_name === 'cpython-3.11.2-build2')!.id);
    expect((await pruneReleases({ github, keep: 3 })).plan.strayTags).toEqual([]);
    expect((await pruneReleases({ github, keep: 1 })).plan.strayTags).toEqual(['cpython-3.11.2-build2']);
  }, 120_000);

  it('with no cpy-index release there is no index to update: it says so and creates none', async () => {
    const gh = await double();
    const github = api(gh);
    for (const b of [1, 2]) await github.createRelease({ tag_name: `cpython-3.13.5-build${b}`, name: `b${b}`, body: '', draft: false, prerelease: false });
    const events: PruneEvent[] = [];
    const done = await pruneReleases({ github, keep: 1, apply: true, onEvent: (e) => events.push(e) });
    expect(events).toEqual([{ type: 'no-index-release' }, { type: 'deleting', tag: 'cpython-3.13.5-build1' }]);
    expect(done).toMatchObject({ applied: true, index: null, register: null });
    expect(gh.releases().map((r) => r.tag_name)).toEqual(['cpython-3.13.5-build2']);
  });
});

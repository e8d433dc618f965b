import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { addEntry, type ArtifactIndex, type ArtifactMetadata, CpyError, debugSymbolsFileName, INDEX_FILE, INDEX_MARKDOWN, INDEX_RELEASE_TAG, indexEntryFor, markRemoved, parseVersion, planRetention, readArtifactEntry, readArtifactFileMetadata, readIndexFile, testsFileName, TRUSTED_KEYS_FILE, writeIndexFile } from '@cpy/artifact';
import {
  DEFAULT_NOTES_TEMPLATE,
  gitHub,
  INDEX_PREVIOUS_SIGNATURE_FILE,
  INDEX_SIGNATURE_FILE,
  parseReleaseTag,
  planPrune,
  publishIndex,
  publishRelease,
  releaseTag,
  renderNotes,
  type GitHubClient,
  type GitHubRelease,
  type IndexEvent,
} from '@cpy/publish';
import { signingKeyFrom, type SigningKey } from '@cpy/signing';
import { createHttpClient } from '@cpy/transfer';
import { z } from 'zod';
import { EXIT, defineCommand, type CommandContext } from '../command.js';
import { SIGNING_KEY_HELP } from './signing.js';
import { summaryOf } from './table.js';

const REPO_OPTIONS = {
  repo: { type: 'string', valueName: '<owner/name>', description: 'the GitHub repository (default: GITHUB_REPOSITORY)' },
  'api-url': { type: 'string', valueName: '<url>', description: 'the REST API (default https://api.github.com; GitHub Enterprise: https://HOST/api/v3)' },
} as const;
const repoValues = {
  repo: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'must be owner/name')
    .optional(),
  'api-url': z.url({ protocol: /^https?$/ }).optional(),
};
const INDEX_OPTIONS = {
  'no-index': { type: 'boolean', description: `do not update the index (${INDEX_FILE} on the ${INDEX_RELEASE_TAG} release)` },
  register: { type: 'string', valueName: '<dir>', description: `also keep a copy of the index in this folder: ${INDEX_FILE} and ${INDEX_MARKDOWN}` },
} as const;
const indexValues = {
  'no-index': z.boolean().optional(),
  register: z.string().min(1).optional(),
};
const SIGNING_OPTIONS = {
  'signing-key': {
    type: 'string',
    valueName: '<file>',
    description: 'sign with this ASCII-armored OpenPGP private key (default: CPY_SIGNING_KEY, the key itself or a path; passphrase: CPY_SIGNING_PASSPHRASE)',
  },
} as const;
const signingValues = { 'signing-key': z.string().min(1).optional() };

/**
 * The signing key when one is given (--signing-key, else CPY_SIGNING_KEY), read and unlocked
 * before anything is sent, so a wrong key or passphrase fails first, with its code. Null: unsigned.
 */
async function signingKey(ctx: CommandContext<unknown>, flag: string | undefined): Promise<SigningKey | null> {
  const key = await signingKeyFrom({ file: flag, env: ctx.io.env, cwd: ctx.io.cwd });
  if (key) ctx.log(`signing with ${key.fingerprint} (${key.userId})`);
  return key;
}

/** BR-005: the last 3 builds of a line (per os, os version, architecture) stay active; older ones become deprecated. */
const KEEP_BUILDS = 3;

/** Applies `change` to the index in `dir` (`index.json`, empty when missing) and writes it with ARTIFACTS.md beside it. */
async function updateRegister(dir: string, change: (index: ArtifactIndex) => ArtifactIndex): Promise<string> {
  const path = join(dir, INDEX_FILE);
  await writeIndexFile(path, change(await readIndexFile(path)));
  return path;
}

/** A log line for each step of an index update. */
function indexLog(e: IndexEvent): string {
  switch (e.type) {
    case 'release':
      return `index release ${INDEX_RELEASE_TAG} ${e.action}: ${e.url}`;
    case 'read':
      return e.name ? `index: read ${e.name} (${e.entries} entries)` : 'index: none yet, starting an empty one';
    case 'asset':
      return `index: ${e.name}: ${e.action}`;
    case 'rename':
      return `index: ${e.from} renamed to ${e.to}`;
    case 'unchanged':
      return `index: unchanged (${e.entries} entries)`;
    case 'resign':
      return `index: unchanged (${e.entries} entries), but ${INDEX_SIGNATURE_FILE} is missing or not by this key: signing it again`;
    case 'keys':
      return e.action === 'added' ? `keys: ${e.fingerprint} added to ${TRUSTED_KEYS_FILE} (${e.keys} keys)` : `keys: ${TRUSTED_KEYS_FILE} already holds ${e.fingerprint} (${e.keys} keys)`;
    case 'unsigned':
      return (
        `warning: ${INDEX_FILE} was signed, and this update is not (no --signing-key or CPY_SIGNING_KEY): its signature went with it to ${INDEX_PREVIOUS_SIGNATURE_FILE}, ` +
        `and installers that pin a signer refuse ${INDEX_FILE} until the next signed publish`
      );
  }
}

/** What the JSON output says of the index. */
function indexData(updated: Awaited<ReturnType<typeof publishIndex>>) {
  return { url: updated.url, previousUrl: updated.previousUrl, entries: updated.index.artifacts.length, signatureUrl: updated.signatureUrl, keys: updated.keys };
}

const TOKEN_HELP = 'The token comes from GITHUB_TOKEN (or GH_TOKEN), needs contents:write, and is never printed.';

/** The repository, API and token, from flags and the environment; the token is checked for presence only. */
async function connect(ctx: CommandContext<unknown>, values: { repo?: string | undefined; 'api-url'?: string | undefined }): Promise<{ github: GitHubClient; repository: string; close(): Promise<void> }> {
  const env = ctx.io.env;
  const repository = values.repo ?? env['GITHUB_REPOSITORY'];
  if (!repository || !/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository)) {
    throw new CpyError('CPY_PUBLISH_NO_REPOSITORY', 'which repository? Pass --repo owner/name (or set GITHUB_REPOSITORY)', { hint: 'e.g. --repo acme/python-builds' });
  }
  const token = env['GITHUB_TOKEN'] || env['GH_TOKEN'];
  if (!token) throw new CpyError('CPY_PUBLISH_NO_TOKEN', 'no GitHub token: set GITHUB_TOKEN (or GH_TOKEN)', { hint: 'a token with contents:write on the repository (in Actions: permissions: contents: write)' });
  const client = await createHttpClient({ env, userAgent: 'cpy (publish)' });
  const github = gitHub({
    repository,
    token,
    client,
    ...(values['api-url'] ? { apiUrl: values['api-url'] } : {}),
    onRetry: (r) => ctx.log(`${r.what}: ${r.reason}; retrying in ${(r.delayMs / 1000).toFixed(1)} s`),
  });
  return { github, repository, close: () => client.close() };
}

/** The artifact's metadata: the .json beside it, or the first entry of the tarball. */
async function metadataOf(path: string): Promise<ArtifactMetadata> {
  const metadata = await readArtifactFileMetadata(path);
  if (!metadata) throw new CpyError('CPY_PUBLISH_NOT_AN_ARTIFACT', `${path} has no valid cpy metadata`, { hint: 'publish an artifact made by cpy build or cpy artifact pack' });
  return metadata;
}

const publishSchema = z
  .object({
    values: z.object({
      ...repoValues,
      tag: z.string().regex(/^[A-Za-z0-9._-]+$/).optional(),
      commit: z.string().regex(/^[A-Za-z0-9._/-]+$/).optional(),
      'notes-template': z.string().min(1).optional(),
      changelog: z.string().optional(),
      prerelease: z.boolean().optional(),
      'no-prerelease': z.boolean().optional(),
      replace: z.boolean().optional(),
      'feature-ref': z.string().min(1).optional(),
      ...indexValues,
      ...signingValues,
    }),
    positionals: z.tuple([z.string().min(1)], { message: 'give the artifact: cpy publish dist/artifacts/cpython-3.13.5-debian12-build1.tgz' }),
  })
  .transform(({ values, positionals }) => ({ ...values, artifact: positionals[0] }));

export const publish = defineCommand({
  name: 'publish',
  summary: summaryOf('publish'),
  description:
    'Creates the release cpython-<version>-build<N> as a draft (its tag at --commit), uploads the artifact, its .sha256 ' +
    'and .json, the debug-symbols and tests assets when there are, and the PSF LICENSE from inside the artifact, downloads each ' +
    'again and compares its sha256, and only then publishes the release with notes rendered from the metadata ' +
    '(--notes-template to use your own; {{version}}, {{assetsTable}}, {{devcontainerSnippet}}... see the README). Any ' +
    'failure leaves a draft that running the same command again completes. Re-running on a published release changes ' +
    'nothing; an asset with the same name and other bytes is refused unless --replace. The first release of a version ' +
    '(and any CPython pre-release) is marked pre-release unless --no-prerelease. Then it adds the build to the index, ' +
    `${INDEX_FILE} on the ${INDEX_RELEASE_TAG} release (created when missing; never "Latest"), and marks builds beyond the ` +
    `last ${KEEP_BUILDS} of its line (per os, os version and architecture) deprecated: the new index is uploaded, downloaded again and checked, then swapped in, ` +
    'the one before kept as index.previous.json (--no-index to skip; --register <dir> to keep a copy in a folder). ' +
    'With a signing key, every asset gets its detached OpenPGP signature <asset>.asc (made before anything is uploaded), ' +
    `the index its ${INDEX_SIGNATURE_FILE} (each index keeps its own signature through the swap), the index entry the signature's URL, ` +
    `and the key's public key is added to ${TRUSTED_KEYS_FILE} on the ${INDEX_RELEASE_TAG} release (older keys kept; not with --no-index). ${SIGNING_KEY_HELP} ` +
    `Without one, nothing is signed, and a signature that would no longer match its file is removed. ${TOKEN_HELP}`,
  options: {
    ...REPO_OPTIONS,
    tag: { type: 'string', valueName: '<tag>', description: 'default cpython-<version>-build<N>' },
    commit: { type: 'string', valueName: '<sha|branch>', description: 'where a new tag is created (default: the default branch)' },
    'notes-template': { type: 'string', valueName: '<file>', description: 'a Markdown template with {{field}} placeholders' },
    changelog: { type: 'string', valueName: '<text>', description: 'the Changelog section of the notes' },
    prerelease: { type: 'boolean', description: 'mark it pre-release' },
    'no-prerelease': { type: 'boolean', description: 'do not mark it pre-release' },
    replace: { type: 'boolean', description: 'replace published assets whose bytes differ' },
    'feature-ref': { type: 'string', valueName: '<ref>', description: 'the Feature reference in the devcontainer.json snippet' },
    ...INDEX_OPTIONS,
    ...SIGNING_OPTIONS,
  },
  positionals: [{ name: 'artifact', required: true, description: 'the .tgz (or .tar.zst) made by cpy build' }],
  schema: publishSchema,
  examples: [
    'GITHUB_TOKEN=... cpy publish dist/artifacts/cpython-3.13.5-debian12-build1.tgz --repo acme/python-builds',
    'cpy publish dist/artifacts/cpython-3.13.5-debian12-build2.tgz --commit $GITHUB_SHA --changelog "OpenSSL 3.0.17" --json',
    'CPY_SIGNING_PASSPHRASE=... cpy publish dist/artifacts/cpython-3.13.5-debian12-build1.tgz --signing-key acme-signing.asc',
  ],
  async run(ctx) {
    const { input, io } = ctx;
    const key = await signingKey(ctx as CommandContext<unknown>, input['signing-key']);
    const artifact = resolve(io.cwd, input.artifact);
    if (!existsSync(artifact)) throw new CpyError('CPY_PUBLISH_NO_ASSET', `${artifact} does not exist`, { hint: 'build one first: cpy build <version>' });
    const metadata = await metadataOf(artifact);
    const tag = input.tag ?? releaseTag(metadata.version, metadata.build);
    const template = input['notes-template'] ? await readFile(resolve(io.cwd, input['notes-template']), 'utf8') : DEFAULT_NOTES_TEMPLATE;
    const work = await mkdtemp(join(tmpdir(), 'cpy-publish-'));
    const conn = await connect(ctx as CommandContext<unknown>, input);
    try {
      const artifactName = basename(artifact);
      const paths = [artifact, `${artifact}.sha256`, `${artifact}.json`];
      // The side assets cpy build wrote, when they are there: debug symbols, the test suite.
      for (const side of [debugSymbolsFileName(artifactName), testsFileName(artifactName)].map((name) => join(dirname(artifact), name))) {
        if (existsSync(side)) paths.push(side, `${side}.sha256`);
      }
      const license = await readArtifactEntry(artifact, metadata.contents.license.replace(/^\//, ''));
      if (!license) throw new CpyError('CPY_PUBLISH_NO_LICENSE', `${artifact} holds no ${metadata.contents.license}`, { hint: 'pack it again with cpy artifact pack' });
      await writeFile(join(work, 'LICENSE.txt'), license);
      paths.push(join(work, 'LICENSE.txt'));
      for (const p of paths) if (!existsSync(p)) throw new CpyError('CPY_PUBLISH_NO_ASSET', `${p} is missing`, { hint: 'publish the files cpy build wrote, side by side' });

      // What the index will say of it, checked before anything is published (the URL is known only after the upload).
      if (!input['no-index'] || input.register) {
        const { size } = await stat(artifact);
        const url = `https://github.com/${conn.repository}/releases/download/${tag}/${artifactName}`;
        indexEntryFor(metadata, { file: artifactName, url, sha256: '0'.repeat(64), size, ...(key ? { signatureUrl: `${url}.asc` } : {}) });
      }
      const releases = await conn.github.listReleases();
      const firstOfVersion = !releases.some((r) => r.tag_name !== tag && parseReleaseTag(r.tag_name)?.version === metadata.version);
      const prerelease = input['no-prerelease'] ? false : Boolean(input.prerelease) || firstOfVersion || parseVersion(metadata.version)?.pre !== null;
      ctx.log(`publishing ${tag} to ${conn.repository}${prerelease ? ' (pre-release)' : ''}`);
      const result = await publishRelease({
        github: conn.github,
        tag,
        ...(input.commit ? { commit: input.commit } : {}),
        title: `CPython ${metadata.version} (build ${metadata.build}, ${metadata.platform.os} ${metadata.platform.osVersion}, ${metadata.platform.arch})`,
        notes: (assets) =>
          renderNotes(template, {
            metadata,
            tag,
            artifactUrl: assets.find((a) => a.name === artifactName)?.url ?? '',
            assets,
            ...(input.changelog ? { changelog: input.changelog } : {}),
            ...(input['feature-ref'] ? { featureRef: input['feature-ref'] } : {}),
            ...(key ? { signer: key.fingerprint } : {}),
          }),
        prerelease,
        assets: paths.map((path) => ({ path })),
        ...(input.replace ? { replace: true } : {}),
        ...(key ? { signingKey: key } : {}),
        onEvent: (e) => ctx.log(e.type === 'release' ? `release ${e.action}: ${e.url}` : `${e.name}: ${e.action}`),
      });
      // The index (BR-005): this build active, builds beyond the last 3 of its line deprecated.
      const main = result.assets.find((a) => a.name === artifactName);
      if (!main) throw new CpyError('CPY_PUBLISH_NO_ASSET', `the release has no asset named ${artifactName}`, { hint: 'run cpy publish again; it completes the release' });
      const addThisBuild = (index: ArtifactIndex): ArtifactIndex => {
        // Published again unchanged: it keeps its date, and an index that already says so is left as it is.
        const known = index.artifacts.find((e) => e.file === main.name && e.arch === metadata.platform.arch && e.sha256 === main.sha256 && e.url === main.url);
        const entry = indexEntryFor(metadata, {
          file: main.name,
          url: main.url,
          sha256: main.sha256,
          size: main.size,
          ...(main.signatureUrl ? { signatureUrl: main.signatureUrl } : {}),
          ...(known ? { publishedAt: new Date(known.publishedAt) } : {}),
        });
        const next = planRetention(addEntry(index, entry), KEEP_BUILDS).index;
        return JSON.stringify(next.artifacts) === JSON.stringify(index.artifacts) ? index : next;
      };
      let index: ReturnType<typeof indexData> | null = null;
      if (!input['no-index']) {
        ctx.log(`updating the index on release ${INDEX_RELEASE_TAG}`);
        const updated = await publishIndex({ github: conn.github, change: addThisBuild, ...(key ? { signingKey: key } : {}), onEvent: (e) => ctx.log(indexLog(e)) });
        index = indexData(updated);
        ctx.log(`index: ${updated.url} (${index.entries} entries${updated.signatureUrl ? ', signed' : ''})`);
      }
      let register: string | null = null;
      if (input.register) {
        register = await updateRegister(resolve(io.cwd, input.register), addThisBuild);
        ctx.log(`register updated: ${register} and ${join(dirname(register), INDEX_MARKDOWN)}`);
      }
      if (!ctx.json) {
        io.stdout.write(
          [
            `${tag} ${result.status}: ${result.url}`,
            ...result.assets.map((a) => `  ${a.action.padEnd(9)} ${a.name}  sha256 ${a.sha256}`),
            ...(result.signer ? [`signed by ${result.signer.fingerprint} (${result.signer.userId})`] : []),
            ...(index ? [`index: ${index.url} (${index.entries} entries${index.signatureUrl ? `, signed: ${index.signatureUrl}` : ''})`] : []),
            ...(index?.keys ? [`keys: ${index.keys.url} (${index.keys.fingerprints.length} keys${index.keys.added ? `, ${result.signer?.fingerprint ?? ''} added` : ''})`] : []),
          ].join('\n') + '\n',
        );
      }
      return { exitCode: EXIT.ok, outcome: 'success', data: { release: { ...result, repository: conn.repository, prerelease }, index, register } };
    } finally {
      await conn.close();
      await rm(work, { recursive: true, force: true });
    }
  },
});

const releaseRow = (r: GitHubRelease) => ({ tag: r.tag_name, name: r.name, draft: r.draft, prerelease: r.prerelease, createdAt: r.created_at, url: r.html_url, assets: r.assets.map((a) => a.name) });

const listSchema = z.object({ values: z.object(repoValues), positionals: z.tuple([]) }).transform(({ values }) => values);

export const releasesList = defineCommand({
  name: 'releases list',
  summary: summaryOf('releases list'),
  description: `Lists the releases whose tag is cpython-<version>-build<N>, newest first, drafts (unfinished publishes) included. ${TOKEN_HELP}`,
  options: REPO_OPTIONS,
  positionals: [],
  schema: listSchema,
  examples: ['cpy releases list --repo acme/python-builds', 'cpy releases list --json'],
  async run(ctx) {
    const conn = await connect(ctx as CommandContext<unknown>, ctx.input);
    try {
      const releases = (await conn.github.listReleases()).filter((r) => parseReleaseTag(r.tag_name));
      if (!ctx.json) {
        ctx.io.stdout.write(
          (releases.length
            ? releases.map((r) => `${r.tag_name.padEnd(28)} ${r.draft ? 'draft     ' : r.prerelease ? 'prerelease' : 'release   '} ${r.created_at}  ${r.assets.length} assets`).join('\n')
            : `no cpy releases in ${conn.repository}`) + '\n',
        );
      }
      return { exitCode: EXIT.ok, outcome: 'success', data: { repository: conn.repository, releases: releases.map(releaseRow) } };
    } finally {
      await conn.close();
    }
  },
});

const pruneSchema = z
  .object({
    values: z.object({
      ...repoValues,
      keep: z.string().regex(/^[1-9]\d*$/, 'must be a number of builds, 1 or more').transform(Number).optional(),
      yes: z.boolean().optional(),
      ...indexValues,
      ...signingValues,
    }),
    positionals: z.tuple([]),
  })
  .transform(({ values }) => values);

export const releasesPrune = defineCommand({
  name: 'releases prune',
  summary: summaryOf('releases prune'),
  description:
    'Keeps the newest --keep builds (default 3, BR-005) of each release line (3.13, 3.12...) for rollback, and deletes ' +
    'older cpy releases and their tags. Without --yes it only says what it would delete. Drafts and releases that are ' +
    `not cpy's (the index release ${INDEX_RELEASE_TAG} among them) are never deleted. With --yes the deleted builds are ` +
    `marked removed in the index (${INDEX_FILE} on the ${INDEX_RELEASE_TAG} release, when there is one; --no-index to skip) ` +
    `and in --register <dir>. With a signing key (--signing-key, else CPY_SIGNING_KEY; used with --yes) the updated index is signed as cpy publish signs it; ` +
    `without one, it is published unsigned. ${TOKEN_HELP}`,
  options: {
    ...REPO_OPTIONS,
    keep: { type: 'string', valueName: '<N>', description: 'builds to keep per release line (default 3)' },
    yes: { type: 'boolean', description: 'delete (without it: a dry run)' },
    ...INDEX_OPTIONS,
    ...SIGNING_OPTIONS,
  },
  positionals: [],
  schema: pruneSchema,
  examples: ['cpy releases prune --repo acme/python-builds', 'cpy releases prune --keep 5 --yes --json'],
  async run(ctx) {
    const apply = Boolean(ctx.input.yes);
    // A dry run writes nothing, so it needs no key.
    const key = apply ? await signingKey(ctx as CommandContext<unknown>, ctx.input['signing-key']) : null;
    const conn = await connect(ctx as CommandContext<unknown>, ctx.input);
    try {
      const releases = await conn.github.listReleases();
      const plan = planPrune(releases, ctx.input.keep ?? KEEP_BUILDS);
      for (const r of plan.remove) {
        if (!apply) continue;
        ctx.log(`deleting ${r.tag_name}`);
        await conn.github.deleteRelease(r.id);
        await conn.github.deleteTag(r.tag_name);
      }
      let index: ReturnType<typeof indexData> | null = null;
      if (apply && plan.remove.length) {
        // The deleted builds stay in the index, marked removed (installers skip them).
        const gone = new Set(plan.remove.map((r) => r.tag_name));
        const isGone = (e: ArtifactIndex['artifacts'][number]) => e.state !== 'removed' && gone.has(releaseTag(e.version, e.build));
        const markGone = (i: ArtifactIndex) => (i.artifacts.some(isGone) ? markRemoved(i, isGone) : i);
        if (!ctx.input['no-index'] && releases.some((r) => r.tag_name === INDEX_RELEASE_TAG)) {
          ctx.log(`updating the index on release ${INDEX_RELEASE_TAG}`);
          const updated = await publishIndex({ github: conn.github, change: markGone, ...(key ? { signingKey: key } : {}), onEvent: (e) => ctx.log(indexLog(e)) });
          index = indexData(updated);
        } else if (!ctx.input['no-index']) {
          ctx.log(`no index release (${INDEX_RELEASE_TAG}) in ${conn.repository}: no index to update`);
        }
        if (ctx.input.register) {
          const path = await updateRegister(resolve(ctx.io.cwd, ctx.input.register), markGone);
          ctx.log(`register updated: ${path} and ${join(dirname(path), INDEX_MARKDOWN)}`);
        }
      }
      if (!ctx.json) {
        const verb = apply ? 'deleted' : 'would delete';
        ctx.io.stdout.write(
          [
            ...plan.keep.map((r) => `keep          ${r.tag_name}`),
            ...plan.remove.map((r) => `${verb.padEnd(13)} ${r.tag_name}`),
            ...(apply || plan.remove.length === 0 ? [] : ['dry run: nothing was deleted; run again with --yes to delete']),
          ].join('\n') + '\n',
        );
      }
      return {
        exitCode: EXIT.ok,
        outcome: 'success',
        data: { repository: conn.repository, dryRun: !apply, keep: plan.keep.map((r) => r.tag_name), remove: plan.remove.map((r) => r.tag_name), ignored: plan.ignored.map((r) => r.tag_name), index },
      };
    } finally {
      await conn.close();
    }
  },
});


import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CpyError, KEEP_BUILDS } from '@cpy/core';
import { INDEX_FILE, INDEX_MARKDOWN, INDEX_RELEASE_TAG, indexMarkdownPath, TRUSTED_KEYS_FILE } from '@cpy/artifact';
import {
  gitHub,
  INDEX_PREVIOUS_SIGNATURE_FILE,
  INDEX_SIGNATURE_FILE,
  parseReleaseTag,
  publishArtifact,
  pruneReleases,
  type GitHubClient,
  type GitHubRelease,
  type IndexEvent,
  type IndexTrust,
  type IndexUpdateEvent,
  type PublishIndexResult,
} from '@cpy/publish';
import { signingKeyFrom, type SigningKey } from '@cpy/signing';
import { createHttpClient } from '@cpy/transfer';
import * as z from 'zod';
import { stopOnSignals } from '../signals.js';
import { EXIT, defineCommand, type CommandContext } from '../command.js';
import { pinnedSigners } from '../signer-option.js';
import { SIGNING_KEY_HELP } from './signing.js';
import { summaryOf } from './table.js';

const REPO_OPTIONS = {
  repo: { type: 'string', valueName: '<owner/name>', description: 'the GitHub repository (default: GITHUB_REPOSITORY)' },
  'api-url': { type: 'string', valueName: '<url>', description: 'the REST API (default https://api.github.com; GitHub Enterprise: https://HOST/api/v3)' },
} as const;
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '[::1]']);
const repoValues = {
  repo: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'must be owner/name')
    .optional(),
  'api-url': z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise' })
    // The token goes in every request's Authorization header: in the clear over http, but to this machine.
    .refine((u) => u.startsWith('https:') || LOOPBACK_HOSTS.has(new URL(u).hostname), 'must be https:// (http:// would send the token in the clear; it is only for a server on this machine: 127.0.0.1, localhost)')
    .optional(),
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
  'index-signer': {
    type: 'string',
    multiple: true,
    valueName: '<fingerprint>',
    description: `with a signing key: also trust an ${INDEX_FILE} signed by the key with this fingerprint (the one before a rotation; its public key is read from ${TRUSTED_KEYS_FILE})`,
  },
  'adopt-index': {
    type: 'string',
    valueName: '<sha256>',
    description: `with a signing key: sign the ${INDEX_FILE} with this sha256 whatever signed it (the one cpy index show printed for the builds you checked)`,
  },
} as const;
/** The help's sentence on which index a signed update starts from. */
const INDEX_TRUST_HELP =
  `A signed update starts only from an ${INDEX_FILE} it trusts, since anyone who may upload release assets could replace an unsigned one: ` +
  `one this key signed, or a key given with --index-signer; otherwise the index is not changed (CPY_PUBLISH_INDEX_UNTRUSTED) until --adopt-index <sha256> says to sign it as it is: the sha256 cpy index show prints for the index you checked.`;

/** --index-signer and --adopt-index, as the library takes them: they say what a signed update trusts, so they need a key. */
function indexTrust(values: { 'index-signer'?: string[] | undefined; 'adopt-index'?: string | undefined }, key: SigningKey | null): IndexTrust {
  const given = values['adopt-index'] ? '--adopt-index' : values['index-signer']?.length ? '--index-signer' : null;
  if (given && !key) {
    throw new CpyError('CPY_CLI_USAGE', `${given} says which index a signed update may sign, and there is no signing key`, {
      hint: 'give the key (--signing-key, or CPY_SIGNING_KEY), or leave it out: an unsigned update does not check the index signature',
    });
  }
  return { signers: values['index-signer'] ?? [], adopt: values['adopt-index'] };
}
const signingValues = {
  'signing-key': z.string().min(1).optional(),
  'index-signer': z
    .array(z.string())
    .transform(pinnedSigners)
    .optional(),
  'adopt-index': z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be a sha256 (64 hex digits): the one cpy index show printed for the index you checked')
    .transform((v) => v.toLowerCase())
    .optional(),
};

/**
 * The signing key when one is given (--signing-key, else CPY_SIGNING_KEY), read and unlocked
 * before anything is sent, so a wrong key or passphrase fails first, with its code. Null: unsigned.
 */
async function signingKey(ctx: CommandContext<unknown>, flag: string | undefined): Promise<SigningKey | null> {
  const key = await signingKeyFrom({ file: flag, env: ctx.io.env, cwd: ctx.io.cwd });
  if (key) ctx.log(`signing with ${key.fingerprint} (${key.userId})`);
  return key;
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
      return `index: unchanged (${e.entries} entries), but ${INDEX_SIGNATURE_FILE} is missing or not by this key (trusted: adopted, by an --index-signer key, or its signature moved by a killed swap): signing it again`;
    case 'keys':
      if (e.action === 'refreshed') return `keys: ${e.fingerprint} in ${TRUSTED_KEYS_FILE} replaced by its copy that expires later (cpy keys extend; ${e.keys} keys)`;
      return e.action === 'added' ? `keys: ${e.fingerprint} added to ${TRUSTED_KEYS_FILE} (${e.keys} keys)` : `keys: ${TRUSTED_KEYS_FILE} already holds ${e.fingerprint} (${e.keys} keys)`;
    case 'unsigned':
      return (
        `warning: ${INDEX_FILE} was signed, and this update is not (no --signing-key or CPY_SIGNING_KEY): its signature went with it to ${INDEX_PREVIOUS_SIGNATURE_FILE}, ` +
        `and installers that pin a signer refuse ${INDEX_FILE} until the next signed publish`
      );
  }
}

/** The log line of a step of an index update (`index-updated` is said by publish only); null: nothing to say. */
function indexUpdateLog(e: IndexUpdateEvent, options: { updated: boolean }): string | null {
  switch (e.type) {
    case 'index-updating':
      return `updating the index on release ${INDEX_RELEASE_TAG}`;
    case 'index':
      return indexLog(e.event);
    case 'index-updated':
      return options.updated ? `index: ${e.url} (${e.entries} entries${e.signatureUrl ? ', signed' : ''})` : null;
    case 'register-unchanged':
      return `register unchanged: ${e.path} already says it`;
    case 'register-updated':
      return `register updated: ${e.path} and ${indexMarkdownPath(e.path)}${e.signatureRemoved ? `; warning: removed ${e.signatureRemoved}, which signed it as it was: sign it again (cpy artifact sign ${e.path})` : ''}`;
  }
}

/** What the JSON output says of the index. */
function indexData(updated: PublishIndexResult) {
  return { url: updated.url, previousUrl: updated.previousUrl, entries: updated.index.artifacts.length, signatureUrl: updated.signatureUrl, keys: updated.keys };
}

const TOKEN_HELP = 'The token comes from GITHUB_TOKEN (or GH_TOKEN), needs contents:write, and is never printed.';

/** The repository, API and token, from flags and the environment; the token is checked for presence only. */
async function connect(ctx: CommandContext<unknown>, values: { repo?: string | undefined; 'api-url'?: string | undefined }): Promise<{ github: GitHubClient; repository: string; close(): Promise<void> }> {
  const env = ctx.io.env;
  const repository = values.repo ?? env['GITHUB_REPOSITORY'];
  if (!repository) throw new CpyError('CPY_PUBLISH_NO_REPOSITORY', 'which repository? Pass --repo owner/name (or set GITHUB_REPOSITORY)', { hint: 'e.g. --repo acme/python-builds' });
  if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository)) {
    // Set, but not a repository: said as given (it was "which repository?", as if unset).
    throw new CpyError('CPY_PUBLISH_NO_REPOSITORY', `${values.repo ? '--repo' : 'GITHUB_REPOSITORY'} is '${repository}', not owner/name`, { hint: 'e.g. --repo acme/python-builds' });
  }
  const token = env['GITHUB_TOKEN'] || env['GH_TOKEN'];
  if (!token) throw new CpyError('CPY_PUBLISH_NO_TOKEN', 'no GitHub token: set GITHUB_TOKEN (or GH_TOKEN)', { hint: 'a token with contents:write on the repository (in Actions: permissions: contents: write)' });
  const client = await createHttpClient({ env, userAgent: 'cpy (publish)' });
  // Ctrl-C (or SIGTERM) stops the work between two requests to GitHub: what was done stays, and
  // the command ends with CPY_PUBLISH_CANCELLED (its JSON too); a second Ctrl-C exits at once.
  const stop = stopOnSignals({ log: ctx.log, stopping: 'stopping: the request to GitHub under way is answered first (Ctrl-C again to stop at once)...', force: () => process.exit(130) });
  const github = gitHub({
    repository,
    token,
    client,
    ...(values['api-url'] ? { apiUrl: values['api-url'] } : {}),
    onRetry: (r) => ctx.log(`${r.what}: ${r.reason}; retrying in ${(r.delayMs / 1000).toFixed(1)} s`),
    signal: stop.signal,
  });
  return {
    github,
    repository,
    close: async () => {
      stop.release();
      await client.close();
    },
  };
}

const publishSchema = z
  .object({
    values: z.object({
      ...repoValues,
      tag: z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be a tag name of letters, digits and . _ - (default cpython-<version>-build<N>)').optional(),
      commit: z.string().regex(/^[A-Za-z0-9._/-]+$/, 'must be a commit SHA or a branch name (letters, digits and . _ / -)').optional(),
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
  .refine(({ values }) => !(values.prerelease && values['no-prerelease']), { message: 'cannot go with --no-prerelease (they say opposite things): give one', path: ['values', 'prerelease'] })
  .transform(({ values, positionals }) => ({ ...values, artifact: positionals[0] }));

export const publish = defineCommand({
  name: 'publish',
  summary: summaryOf('publish'),
  description:
    'Creates the release cpython-<version>-build<N> as a draft (its tag at --commit), uploads the artifact, its .sha256 ' +
    'and .json, the debug-symbols and tests assets when there are, and the PSF LICENSE from inside the artifact, downloads each ' +
    'again and compares its sha256, and only then publishes the release with notes rendered from the metadata ' +
    '(--notes-template to use your own; {{version}}, {{assetsTable}}, {{devcontainerSnippet}}... docs/publishing.md lists them all). Any ' +
    'failure leaves a draft that running the same command again completes. Every .sha256 must say its file\'s sha256, and ' +
    'the notes template is checked, before anything is sent. Re-running on a published release changes nothing (its notes ' +
    'are written again only with --changelog, --feature-ref or --notes-template); an asset with the same name and other ' +
    'bytes is refused unless --replace, which uploads the new bytes beside the old as <asset>.new, checks them, and only ' +
    'then swaps them in (a failure leaves the published bytes). The first release of a version ' +
    '(and any CPython pre-release) is marked pre-release unless --no-prerelease. Then it adds the build to the index, ' +
    `${INDEX_FILE} on the ${INDEX_RELEASE_TAG} release (created when missing; never "Latest"), and marks builds beyond the ` +
    `last ${KEEP_BUILDS} of its line (per os, os version and architecture) deprecated: the new index is uploaded, downloaded again and checked, then swapped in, ` +
    'the one before kept as index.previous.json (--no-index to skip; --register <dir> to keep a copy in a folder). ' +
    'With a signing key, every asset gets its detached OpenPGP signature <asset>.asc (made before anything is uploaded), ' +
    `the index its ${INDEX_SIGNATURE_FILE} (each index keeps its own signature through the swap), the index entry the signature's URL, ` +
    `and the key's public key is added to ${TRUSTED_KEYS_FILE} on the ${INDEX_RELEASE_TAG} release (older keys kept; not with --no-index). ${INDEX_TRUST_HELP} ${SIGNING_KEY_HELP} ` +
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
    const templatePath = input['notes-template'] ? resolve(io.cwd, input['notes-template']) : null;
    const template = templatePath
      ? await readFile(templatePath, 'utf8').catch((error: NodeJS.ErrnoException) => {
          throw new CpyError('CPY_CLI_CANNOT_READ', `cannot read the --notes-template ${templatePath}: ${error.code ?? error.message}`, { hint: 'give the path of a notes template (a Markdown file with {{field}} placeholders)' });
        })
      : undefined;
    const conn = await connect(ctx as CommandContext<unknown>, input);
    try {
      const published = await publishArtifact(artifact, {
        github: conn.github,
        tag: input.tag,
        commit: input.commit,
        notesTemplate: template,
        changelog: input.changelog,
        featureRef: input['feature-ref'],
        prerelease: input['no-prerelease'] ? false : input.prerelease ? true : undefined,
        replace: input.replace,
        index: !input['no-index'],
        register: input.register ? resolve(io.cwd, input.register) : undefined,
        signingKey: key ?? undefined,
        indexTrust: indexTrust(input, key),
        onEvent: (e) => {
          if (e.type === 'publishing') ctx.log(`publishing ${e.tag} to ${e.repository}${e.prerelease ? ' (pre-release)' : ''}`);
          else if (e.type === 'release') ctx.log(e.event.type === 'release' ? `release ${e.event.action}: ${e.event.url}` : `${e.event.name}: ${e.event.action}`);
          else {
            const line = indexUpdateLog(e, { updated: true });
            if (line !== null) ctx.log(line);
          }
        },
      });
      const { release: result, prerelease, register } = published;
      const index = published.index ? indexData(published.index) : null;
      if (!ctx.json) {
        io.stdout.write(
          [
            `${result.tag} ${result.status}: ${result.url}`,
            ...result.assets.map((a) => `  ${a.action.padEnd(9)} ${a.name}  sha256 ${a.sha256}`),
            ...(result.signer ? [`signed by ${result.signer.fingerprint} (${result.signer.userId})`] : []),
            ...(index ? [`index: ${index.url} (${index.entries} entries${index.signatureUrl ? `, signed: ${index.signatureUrl}` : ''})`] : []),
            ...(index?.keys ? [`keys: ${index.keys.url} (${index.keys.fingerprints.length} keys${index.keys.added ? `, ${result.signer?.fingerprint ?? ''} added` : ''})`] : []),
          ].join('\n') + '\n',
        );
      }
      return { exitCode: EXIT.ok, outcome: 'success', data: { release: { ...result, repository: published.repository, prerelease }, index, register } };
    } finally {
      await conn.close();
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
    'Keeps the newest --keep builds (default 3, BR-005) of each release line (3.13, 3.12...) per os, os version and architecture, ' +
    'as the index counts them, for rollback (a release the index does not list, published with --no-index, is neither counted nor deleted), and deletes older cpy releases and their tags (a release goes only when every platform it holds has newer builds), and the tags of older builds whose release is gone (a prune stopped between the two). Without --yes it only says what it would delete. Drafts and releases that are ' +
    `not cpy's (the index release ${INDEX_RELEASE_TAG} among them) are never deleted. With --yes the deleted builds are ` +
    `marked removed in the index (${INDEX_FILE} on the ${INDEX_RELEASE_TAG} release, when there is one; --no-index to skip) ` +
    `and in --register <dir>. With a signing key (--signing-key, else CPY_SIGNING_KEY; used with --yes) the updated index is signed as cpy publish signs it; ` +
    `without one, it is published unsigned. ${INDEX_TRUST_HELP} ${TOKEN_HELP}`,
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
      const { plan, index: updated } = await pruneReleases({
        github: conn.github,
        keep: ctx.input.keep,
        apply,
        index: !ctx.input['no-index'],
        register: ctx.input.register ? resolve(ctx.io.cwd, ctx.input.register) : undefined,
        signingKey: key ?? undefined,
        indexTrust: apply ? indexTrust(ctx.input, key) : undefined,
        onEvent: (e) => {
          if (e.type === 'deleting') ctx.log(`deleting ${e.tag}`);
          else if (e.type === 'deleting-tag') ctx.log(`deleting the tag ${e.tag} (its release is gone)`);
          else if (e.type === 'no-index-release') ctx.log(`no index release (${INDEX_RELEASE_TAG}) in ${conn.repository}: no index to update`);
          else {
            const line = indexUpdateLog(e, { updated: false });
            if (line !== null) ctx.log(line);
          }
        },
      });
      const index = updated ? indexData(updated) : null;
      if (!ctx.json) {
        const verb = apply ? 'deleted' : 'would delete';
        ctx.io.stdout.write(
          [
            ...plan.keep.map((r) => `keep          ${r.tag_name}`),
            ...plan.remove.map((r) => `${verb.padEnd(13)} ${r.tag_name}`),
            ...plan.strayTags.map((tag) => `${verb.padEnd(13)} ${tag} (a tag without its release)`),
            ...plan.unlisted.map((r) => `left alone    ${r.tag_name} (the index does not list it: not counted, not deleted)`),
            ...(apply || plan.remove.length + plan.strayTags.length === 0 ? [] : ['dry run: nothing was deleted; run again with --yes to delete']),
          ].join('\n') + '\n',
        );
      }
      return {
        exitCode: EXIT.ok,
        outcome: 'success',
        data: { repository: conn.repository, dryRun: !apply, keep: plan.keep.map((r) => r.tag_name), remove: plan.remove.map((r) => r.tag_name), strayTags: plan.strayTags, ignored: plan.ignored.map((r) => r.tag_name), unlisted: plan.unlisted.map((r) => r.tag_name), index },
      };
    } finally {
      await conn.close();
    }
  },
});


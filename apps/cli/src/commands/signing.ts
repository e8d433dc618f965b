import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CpyError, readSmallText } from '@cpy/core';
import { exportPublicKey, extendSigningKey, generateSigningKey, readPublicKeys, signingKeyFrom, signingKeyText, verifyPinned, writeSignature, type GeneratedKey, type SigningKey } from '@cpy/signing';
import * as z from 'zod';
import { EXIT, defineCommand, type CommandContext, type CommandResult } from '../command.js';
import type { CliIO } from '../io.js';
import { summaryOf } from './table.js';
import { refuseMissingFile } from '../location.js';
import { pinnedSigners } from '../signer-option.js';

export const SIGNING_KEY_HELP =
  'The private key comes from --signing-key <file>, else CPY_SIGNING_KEY (the armored key itself, as a CI secret holds it, ' +
  "or the path of a file holding it); a protected key's passphrase from CPY_SIGNING_PASSPHRASE only (never a flag: flags " +
  'show in ps and shell history). Neither is ever printed.';

/** The signing key of a command that must sign: --signing-key, else CPY_SIGNING_KEY (@cpy/signing signingKeyFrom; never printed). */
export async function signingKeyOf(io: CliIO, flag: string | undefined): Promise<SigningKey> {
  const key = await signingKeyFrom({ file: flag, env: io.env, cwd: io.cwd });
  if (key) return key;
  throw new CpyError('CPY_CLI_USAGE', 'which key signs? Give --signing-key <file>, or set CPY_SIGNING_KEY', {
    hint: 'make one with cpy keys generate --name <name> --email <email> --out signing-key.asc',
  });
}

/** Writes a new file only (exclusive create): a key is never written over another. */
async function writeNew(path: string, text: string, mode: number): Promise<void> {
  let handle;
  try {
    handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  } catch (cause) {
    const exists = (cause as NodeJS.ErrnoException).code === 'EEXIST';
    throw new CpyError(exists ? 'CPY_KEYS_EXISTS' : 'CPY_KEYS_WRITE_FAILED', exists ? `${path} already exists` : `cannot write ${path}: ${(cause as Error).message}`, {
      hint: exists ? 'choose another --out; cpy never overwrites a key' : 'check the directory and its permissions',
    });
  }
  try {
    await handle.writeFile(text);
  } catch (cause) {
    // Half a key (a full disk) is no key: the file this made goes, or every run after would be
    // refused as "already exists" for it.
    await handle.close();
    await rm(path, { force: true });
    throw new CpyError('CPY_KEYS_WRITE_FAILED', `cannot write ${path}: ${(cause as Error).message}`, { hint: 'free some space there (or choose another --out), then run again: nothing was kept' });
  }
  await handle.close();
}

// OpenPGP keeps a key's expiry as 32-bit seconds after its creation: 49710 days at most (a
// larger number wrapped round, to a key gpg saw expire tomorrow, or in 1980).
const expiresDays = z
  .string()
  .regex(/^\d+$/, 'must be a number of days')
  .transform(Number)
  .refine((d) => d <= 49_710, 'at most 49710 days (136 years, what OpenPGP can say); 0 for a key that never expires')
  .optional();

/**
 * Writes a key pair, neither over an existing file: the private key to `out` (0600), the public
 * one beside it, its name ending .pub.asc. Both or neither: a private key left alone (its public
 * half refused: the file exists) would be a key nobody knows the fingerprint of, in the way of the
 * next run.
 */
async function writeKeyPair(out: string, key: { readonly privateKey: string; readonly publicKey: string }): Promise<string> {
  const publicFile = out.replace(/(\.asc)?$/, '.pub.asc');
  await writeNew(out, key.privateKey, 0o600);
  await writeNew(publicFile, key.publicKey, 0o644).catch(async (error: unknown) => {
    await rm(out, { force: true });
    throw error;
  });
  return publicFile;
}

/** What keys generate and keys extend say of the key pair they wrote (never the key itself). */
function keyWritten(
  { io, style, json }: Pick<CommandContext<unknown>, 'io' | 'style' | 'json'>,
  verb: string,
  aboutFingerprint: string,
  key: GeneratedKey,
  out: string,
  publicFile: string,
  passphrase: string | undefined,
): CommandResult {
  if (!json) {
    io.stdout.write(
      [
        `${style.ok(verb)} ${key.userId}`,
        `  fingerprint ${key.fingerprint}   ${aboutFingerprint}`,
        `  private key ${out}${passphrase ? ' (protected by CPY_SIGNING_PASSPHRASE)' : ''}`,
        `  public key  ${publicFile}`,
        `  expires     ${key.expiresAt ?? 'never'}`,
      ].join('\n') + '\n',
    );
  }
  return { exitCode: EXIT.ok, outcome: 'success', data: { key: { fingerprint: key.fingerprint, userId: key.userId, expiresAt: key.expiresAt, privateKeyFile: out, publicKeyFile: publicFile, protected: Boolean(passphrase) } } };
}

export const keysGenerate = defineCommand({
  name: 'keys generate',
  summary: summaryOf('keys generate'),
  description:
    'Makes an Ed25519 OpenPGP signing key for an organisation that has none: the private key goes to --out (mode 0600, never ' +
    'over an existing file), protected by CPY_SIGNING_PASSPHRASE when it is set (recommended); the public key beside it, its name ending .pub.asc (-o key.asc: key.pub.asc). ' +
    'Keep the private key as a CI secret (CPY_SIGNING_KEY) and give installers the fingerprint to pin (--signer, the Feature ' +
    'option signerFingerprints).',
  options: {
    name: { type: 'string', valueName: '<name>', description: "the key's owner, e.g. 'Acme Python Builds'" },
    email: { type: 'string', valueName: '<email>', description: 'its contact address' },
    out: { type: 'string', short: 'o', valueName: '<file>', description: 'where the private key goes (default ./cpy-signing-key.asc)' },
    'expires-days': { type: 'string', valueName: '<N>', description: 'days until the key expires (default 730; 0: never)' },
  },
  positionals: [],
  schema: z
    .object({
      values: z.object({
        name: z.string().min(1, 'give the owner: --name "Acme Python Builds"'),
        // As openpgp.js checks a user ID's address (it refused a@b, and a domain ending in a dot, as a bug of cpy's).
        email: z.string().regex(/^[^\s@<>]+@[^\s@<>.]+(\.[^\s@<>.]+)+$/, 'must be an e-mail address, e.g. python@acme.example'),
        out: z.string().min(1).optional(),
        'expires-days': expiresDays,
      }),
      positionals: z.tuple([]),
    })
    .transform(({ values }) => values),
  examples: ['CPY_SIGNING_PASSPHRASE=... cpy keys generate --name "Acme Python Builds" --email python@acme.example --out acme-signing.asc'],
  async run({ input, io, style, json, log }) {
    const out = resolve(io.cwd, input.out ?? 'cpy-signing-key.asc');
    const passphrase = io.env['CPY_SIGNING_PASSPHRASE'] || undefined;
    if (!passphrase) log('warning: CPY_SIGNING_PASSPHRASE is not set: the private key is written unprotected');
    const key = await generateSigningKey({ name: input.name, email: input.email, expiresInDays: input['expires-days'] ?? 730, ...(passphrase ? { passphrase } : {}) });
    const publicFile = await writeKeyPair(out, key);
    return keyWritten({ io, style, json }, 'generated', `(pin it: --signer ${key.fingerprint})`, key, out, publicFile, passphrase);
  },
});

export const keysExport = defineCommand({
  name: 'keys export',
  summary: summaryOf('keys export'),
  description:
    'Prints the public key of a signing key (ASCII-armored, on stdout: redirect it to a file to publish) and its fingerprint ' +
    `(on stderr), without decrypting anything. ${SIGNING_KEY_HELP}`,
  options: {
    'signing-key': { type: 'string', valueName: '<file>', description: 'the private (or public) key file (default CPY_SIGNING_KEY)' },
  },
  positionals: [],
  schema: z.object({ values: z.object({ 'signing-key': z.string().min(1).optional() }), positionals: z.tuple([]) }).transform(({ values }) => values),
  examples: ['cpy keys export --signing-key acme-signing.asc > cpy-keys.asc'],
  async run({ input, io, json, log }) {
    const found = await signingKeyText({ file: input['signing-key'], env: io.env, cwd: io.cwd });
    if (!found) throw new CpyError('CPY_CLI_USAGE', 'which key? Give --signing-key <file>, or set CPY_SIGNING_KEY', { hint: 'cpy keys export --signing-key acme-signing.asc' });
    const info = await exportPublicKey(found.text, found.name);
    if (!json) {
      log(`fingerprint ${info.fingerprint} (${info.userId})`);
      io.stdout.write(info.armored.endsWith('\n') ? info.armored : `${info.armored}\n`);
    }
    return { exitCode: EXIT.ok, outcome: 'success', data: { key: info } };
  },
});

export const keysExtend = defineCommand({
  name: 'keys extend',
  summary: summaryOf('keys extend'),
  description:
    'Gives a signing key a later expiry, --expires-days from now (default 730; 0: never), keeping its fingerprint: what an ' +
    'organisation does before its key expires, so installers keep their pin. The extended private key goes to --out (mode 0600, ' +
    'never over an existing file), protected by CPY_SIGNING_PASSPHRASE if the key was (an unprotected key stays so), its public key beside it (.pub.asc). ' +
    'Put it where the old one was (CPY_SIGNING_KEY): the next cpy publish replaces the copy in cpy-keys.asc. An expiry sooner ' +
    `than the key's own is refused (CPY_SIGNING_KEY_UNUSABLE), and so is a revoked key (extended, it would lose its revocation). ${SIGNING_KEY_HELP}`,
  options: {
    'signing-key': { type: 'string', valueName: '<file>', description: 'the private key file (default CPY_SIGNING_KEY)' },
    out: { type: 'string', short: 'o', valueName: '<file>', description: 'where the extended private key goes' },
    'expires-days': { type: 'string', valueName: '<N>', description: 'days from now until it expires (default 730; 0: never)' },
  },
  positionals: [],
  schema: z
    .object({
      values: z.object({
        'signing-key': z.string().min(1).optional(),
        out: z.string().min(1, 'give the file for the extended key: --out acme-signing.2028.asc'),
        'expires-days': expiresDays,
      }),
      positionals: z.tuple([]),
    })
    .transform(({ values }) => values),
  examples: ['CPY_SIGNING_PASSPHRASE=... cpy keys extend --signing-key acme-signing.asc --out acme-signing.2028.asc'],
  async run({ input, io, style, json }) {
    const found = await signingKeyText({ file: input['signing-key'], env: io.env, cwd: io.cwd });
    if (!found) throw new CpyError('CPY_CLI_USAGE', 'which key? Give --signing-key <file>, or set CPY_SIGNING_KEY', { hint: 'cpy keys extend --signing-key acme-signing.asc --out acme-signing.2028.asc' });
    const passphrase = io.env['CPY_SIGNING_PASSPHRASE'] || undefined;
    const key = await extendSigningKey(found.text, passphrase, { expiresInDays: input['expires-days'] ?? 730, source: found.name });
    const out = resolve(io.cwd, input.out);
    const publicFile = await writeKeyPair(out, key);
    return keyWritten({ io, style, json }, 'extended', '(the same: pins stay)', key, out, publicFile, key.protected ? passphrase : undefined);
  },
});

export const artifactSign = defineCommand({
  name: 'artifact sign',
  summary: summaryOf('artifact sign'),
  description: `Writes a detached OpenPGP signature <file>.asc beside each file (read as a stream, never whole). An index is signed under the lock cpy index add takes: an update of it under way is waited for (a minute at most), and the bytes it leaves are signed. ${SIGNING_KEY_HELP}`,
  options: {
    'signing-key': { type: 'string', valueName: '<file>', description: 'the private key (default CPY_SIGNING_KEY)' },
  },
  positionals: [{ name: 'file...', required: true, description: 'the files to sign: the .tgz, its .sha256 and .json, an index.json' }],
  schema: z
    .object({
      values: z.object({ 'signing-key': z.string().min(1).optional() }),
      positionals: z.array(z.string().min(1)).min(1, 'give the files to sign'),
    })
    .transform(({ values, positionals }) => ({ ...values, files: positionals })),
  examples: ['cpy artifact sign dist/artifacts/cpython-3.13.5-debian12-build1.tgz --signing-key acme-signing.asc'],
  async run({ input, io, style, json, log }) {
    const files = input.files.map((f) => resolve(io.cwd, f));
    // Every file first: one missing after the first was signed left that one's .asc and an error.
    for (const file of files) await refuseMissingFile(file, 'give the files to sign (nothing was signed)');
    const key = await signingKeyOf(io, input['signing-key']);
    const signed: { file: string; signature: string }[] = [];
    // (Loaded here: the keys commands of this module need none of @cpy/artifact.)
    const { withIndexUnchanged } = await import('@cpy/artifact');
    for (const file of files) {
      // An index is signed under cpy index add's lock: never its old bytes beside new ones.
      const signature = await withIndexUnchanged(file, () => writeSignature(file, key), { onWait: (holder) => log(`waiting for an update of ${file} to finish (${holder})`) }).catch((error: unknown) => {
        // What was signed before it stays signed: said, so that a failed run is not taken for one that did nothing.
        if (signed.length) log(`signed before the error below, and kept: ${signed.map((s) => s.signature).join(', ')}; not signed: ${files.slice(signed.length).join(', ')}`);
        throw error;
      });
      signed.push({ file, signature });
      if (!json) io.stdout.write(`${style.ok('signed')} ${file} -> ${file}.asc\n`);
    }
    if (!json) io.stdout.write(`  by ${key.fingerprint} (${key.userId})\n`);
    return { exitCode: EXIT.ok, outcome: 'success', data: { signer: { fingerprint: key.fingerprint, userId: key.userId }, signed } };
  },
});

export const artifactVerify = defineCommand({
  name: 'artifact verify',
  summary: summaryOf('artifact verify'),
  description:
    'Checks a file against its detached signature (<file>.asc, or --signature) and pinned signers, as cpy install does (the ' +
    'signers and keys given here by --signer and --trusted-keys: CPY_SIGNER_FINGERPRINTS and CPY_TRUSTED_KEYS_URL are not read): a ' +
    'missing signature (CPY_SIGNATURE_MISSING), a key that is not pinned (CPY_SIGNATURE_UNTRUSTED), a signature made when ' +
    'the key was expired or revoked (CPY_SIGNATURE_KEY_NOT_VALID) or one that does not match the file (CPY_SIGNATURE_INVALID) ' +
    'exits 1 with its code. A key that has expired since still verifies what it signed while valid.',
  options: {
    signer: { type: 'string', multiple: true, valueName: '<fingerprint>', description: 'a pinned signer (40 hex digits)' },
    'trusted-keys': { type: 'string', valueName: '<file>', description: "the signers' public keys (cpy-keys.asc)" },
    signature: { type: 'string', valueName: '<file>', description: 'the signature (default <file>.asc)' },
  },
  positionals: [{ name: 'file', required: true, description: 'the signed file' }],
  schema: z
    .object({
      values: z.object({
        // Only commas and spaces pinned nobody, and every signature was refused as untrusted (pinnedSigners says so).
        signer: z.array(z.string()).min(1, 'pin at least one signer: --signer <fingerprint>').transform(pinnedSigners),
        'trusted-keys': z.string().min(1, 'give the public keys: --trusted-keys cpy-keys.asc'),
        signature: z.string().min(1).optional(),
      }),
      positionals: z.tuple([z.string().min(1)], { message: 'give one file' }),
    })
    .transform(({ values, positionals }) => ({ ...values, file: positionals[0] })),
  examples: ['cpy artifact verify cpython-3.13.5-debian12-build1.tgz --signer 3F2A9C1D0B8E7F6A5D4C3B2A19080706F5E4D3C2 --trusted-keys cpy-keys.asc'],
  async run({ input, io, style, json }) {
    const signers = input.signer;
    const file = resolve(io.cwd, input.file);
    // A file that is not there is said so (the signature's check said "altered or damaged").
    await refuseMissingFile(file, 'give the path of the signed file; its signature is <file>.asc beside it, or --signature');
    const signaturePath = resolve(io.cwd, input.signature ?? `${input.file}.asc`);
    const keysPath = resolve(io.cwd, input['trusted-keys']);
    const keysText = await readSmallText(keysPath).catch((cause: NodeJS.ErrnoException) => {
      throw new CpyError('CPY_KEYS_INVALID', `cannot read the trusted keys ${keysPath}: ${cause.code === 'EFBIG' ? `${cause.message}: it is no keys file` : (cause.code ?? cause.message)}`, { hint: 'give the cpy-keys.asc the publisher gives out' });
    });
    // Missing is unsigned; unreadable (or a directory) is said as such, not as "has no signature".
    const signature = await readSmallText(signaturePath).catch((cause: NodeJS.ErrnoException) => {
      if (cause.code === 'ENOENT') return null;
      throw new CpyError('CPY_CLI_CANNOT_READ', `cannot read the signature ${signaturePath}: ${cause.code === 'EISDIR' ? 'it is a directory' : cause.code === 'EACCES' ? 'permission denied' : cause.code === 'EFBIG' ? `${cause.message}: it is no detached signature (the signed file given as one?)` : (cause.code ?? cause.message)}`, {
        hint: 'give the detached signature (<file>.asc, or --signature <file>) as a file this user can read',
      });
    });
    const check = await verifyPinned({ file, signature, signatureSource: signaturePath, trusted: await readPublicKeys(keysText, keysPath), signers, label: file });
    if (!json) {
      io.stdout.write(`${style.ok('good signature')}: ${file}\n  by ${check.fingerprint} (${check.userId}), made ${check.signedAt}\n`);
      for (const w of check.warnings) io.stdout.write(style.bad(`  warning: ${w}`) + '\n');
    }
    return { exitCode: EXIT.ok, outcome: 'success', data: { verification: { file, ...check } } };
  },
});

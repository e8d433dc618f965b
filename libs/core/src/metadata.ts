import * as z from 'zod/mini';
import { SHA256_HEX_RE } from './naming.js';
import { GLIBC_VERSION_RE, pythonVersionSchema } from './version.js';

/** The name of the metadata file: the tarball's first entry, and a file beside it (`<artifact>.json`). */
export const METADATA_ENTRY = 'cpy-artifact.json';
/**
 * The most an artifact's metadata entry may weigh (a real one is a few KiB). It is read whole,
 * before the download's sha256 is known to match: a larger one is refused unread, not held in
 * memory (a gzip bomb of a first entry would have been).
 */
export const MAX_METADATA_BYTES = 1024 * 1024;

const iso = z.iso.datetime({ offset: true });

/**
 * What an artifact is and what it needs to run. Versioned: readers refuse a
 * schemaVersion they do not know. Produced by the packer, read by the
 * installer (before it extracts anything) and by validation.
 */
export const artifactMetadataSchema = z.object({
  schemaVersion: z.literal(1),
  name: z.literal('cpython'),
  version: pythonVersionSchema,
  build: z.int().check(z.minimum(1)),
  /** The install prefix the tree was configured for; the tarball holds it without the leading `/`. */
  prefix: z.string().check(z.regex(/^\/[^\s]+$/)),
  platform: z.object({
    /** os-release ID and VERSION_ID of the builder: `debian`, `12`. */
    os: z.string().check(z.regex(/^[a-z0-9._-]+$/)),
    osVersion: z.string().check(z.regex(/^[0-9a-z._-]+$/)),
    /** `x86_64`, `aarch64` (uname -m). */
    arch: z.string().check(z.regex(/^[a-z0-9_]+$/)),
    libc: z.enum(['glibc', 'musl']),
    /** The highest GLIBC_x.y symbol version any ELF file in the tree needs. */
    glibcFloor: z.nullable(z.string().check(z.regex(GLIBC_VERSION_RE))),
  }),
  runtime: z.object({
    /**
     * Shared libraries the tree needs and does not carry, with the packages
     * that provided them on the builder. Installers install these packages.
     */
    needs: z.array(
      z.object({
        soname: z.string(),
        packages: z.array(z.string()),
        /** Tree paths that need it (relative to the prefix). */
        usedBy: z.array(z.string()),
      }),
    ),
  }),
  /** How it was built. */
  builtWith: z.object({
    profile: z.enum(['fast', 'release']),
    configureArgs: z.array(z.string()),
    compiler: z.string(),
    builder: z.object({ kind: z.string(), description: z.string(), identity: z.string() }),
    finishedAt: iso,
    /**
     * A cross build: the builder's and the target's GNU triplets, the emulator that ran target
     * code on the builder (null: none), and which of the checks that run target code ran.
     */
    cross: z.optional(
      z.object({
        build: z.string(),
        host: z.string(),
        emulator: z.nullable(z.string()),
        checks: z.array(z.object({ id: z.string(), ran: z.boolean(), ok: z.boolean(), detail: z.string() })),
      }),
    ),
  }),
  source: z.object({
    fileName: z.string(),
    sha256: z.string().check(z.regex(SHA256_HEX_RE)),
    verification: z.object({
      method: z.enum(['openpgp+sigstore', 'openpgp', 'sigstore', 'unsigned']),
      allowUnsigned: z.boolean(),
      openpgp: z.nullable(z.object({ fingerprint: z.string(), signer: z.string(), signedAt: iso })),
      sigstore: z.nullable(z.object({ identity: z.string(), issuer: z.string(), signedAt: iso, logIndex: z.string() })),
    }),
  }),
  modules: z.object({
    present: z.array(z.string()),
    missing: z.array(z.object({ id: z.string(), critical: z.boolean(), packages: z.array(z.string()) })),
  }),
  contents: z.object({
    files: z.int().check(z.nonnegative()),
    /** Bytes of the unpacked tree. */
    bytes: z.int().check(z.nonnegative()),
    stripped: z.boolean(),
    tests: z.boolean(),
    license: z.string(),
  }),
  /** From SOURCE_DATE_EPOCH (or the build's end): packing is deterministic. */
  createdAt: iso,
  /**
   * CPython's own test suite, run on this artifact in a relocated prefix (`cpy build --run-tests`,
   * `cpy artifact test`): the level, the test files' counts, the pass rate and which failed or were skipped.
   */
  tests: z.optional(
    z.object({
      level: z.enum(['critical', 'full']),
      files: z.object({ run: z.int(), passed: z.int(), failed: z.int(), skipped: z.int() }),
      passRate: z.number().check(z.minimum(0), z.maximum(100)),
      failed: z.array(z.string()),
      skipped: z.array(z.string()),
      durationMs: z.int().check(z.nonnegative()),
    }),
  ),
});

export type ArtifactMetadata = z.infer<typeof artifactMetadataSchema>;

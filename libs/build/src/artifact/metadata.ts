import type { PackMetadata } from '@cpy/artifact';
import type { BuildResult } from '../compile/build.js';
import type { SourceVerification } from '../source/verify.js';

/** The artifact metadata a build and its verified source make. */
export function artifactMetadataFor(result: BuildResult, verification: SourceVerification): PackMetadata {
  return {
    version: result.version,
    build: result.build,
    prefix: result.prefix,
    platform: {
      os: result.os.id,
      osVersion: result.os.versionId,
      arch: result.arch,
      libc: result.os.family === 'alpine' ? 'musl' : 'glibc',
    },
    builtWith: {
      profile: result.profile,
      configureArgs: [...result.configureArgs],
      compiler: result.compiler,
      // Not the spec the build recorded (a Vagrantfile's path on the machine that built it).
      builder: { kind: result.builder.kind, description: result.builder.description, identity: result.builder.identity },
      finishedAt: result.finishedAt,
      ...(result.cross
        ? {
            cross: {
              build: result.cross.build,
              host: result.cross.host,
              emulator: result.cross.emulator ? [result.cross.emulator.program, ...result.cross.emulator.args].join(' ') : null,
              checks: result.cross.checks.map((c) => ({ ...c })),
            },
          }
        : {}),
    },
    source: {
      fileName: result.source.fileName,
      sha256: result.source.sha256,
      verification: {
        method: verification.method,
        allowUnsigned: verification.allowUnsigned,
        openpgp: verification.openpgp
          ? { fingerprint: verification.openpgp.fingerprint, signer: verification.openpgp.signer, signedAt: verification.openpgp.signedAt }
          : null,
        sigstore: verification.sigstore
          ? { identity: verification.sigstore.identity, issuer: verification.sigstore.issuer, signedAt: verification.sigstore.signedAt, logIndex: verification.sigstore.logIndex }
          : null,
      },
    },
    modules: {
      present: [...result.modules.present],
      missing: result.modules.missing.map((m) => ({ id: m.id, critical: m.critical, packages: [...m.packages] })),
    },
  };
}


// What packArtifact is given for a test tree: CPython 3.13.5 build 1 for Debian 12, built
// unsigned on a stand-in builder (the tests that pack a tree of their own share it).
import type { PackMetadata } from '../index.js';

export function packMetadata(arch = 'x86_64', compiler = 'gcc 12.2.0'): PackMetadata {
  return {
    version: '3.13.5',
    build: 1,
    prefix: '/opt/python-3.13.5',
    platform: { os: 'debian', osVersion: '12', arch, libc: 'glibc' },
    builtWith: { profile: 'fast', configureArgs: [], compiler, builder: { kind: 'container', description: 'test', identity: 'test' }, finishedAt: '2026-01-01T00:00:00Z' },
    source: { fileName: 'Python-3.13.5.tar.xz', sha256: '0'.repeat(64), verification: { method: 'unsigned', allowUnsigned: true, openpgp: null, sigstore: null } },
    modules: { present: [], missing: [] },
  };
}

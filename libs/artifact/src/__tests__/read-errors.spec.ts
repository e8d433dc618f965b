// Reading an artifact that is not one, or is damaged, is a coded error (never a plain Error, which
// the CLI would report as a bug in cpy).
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { isCpyError } from '@cpy/core';
import { readArtifactEntry, readArtifactMetadata } from '../index.js';
import { tgz } from './tgz.js';

let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-read-errors-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('reading an artifact', () => {
  it('a tarball that does not start with cpy-artifact.json: CPY_ARTIFACT_NOT_AN_ARTIFACT', async () => {
    const archive = await tgz(join(work, 'other.tgz'), [{ name: 'README', body: 'hello' }]);
    const error = await readArtifactMetadata(archive).catch((e: unknown) => e);
    expect(isCpyError(error, 'CPY_ARTIFACT_NOT_AN_ARTIFACT')).toBe(true);
    expect(error).toMatchObject({ message: 'the first entry is not cpy-artifact.json', hint: expect.stringMatching(/cpy build or cpy artifact pack/) });
  });

  it('metadata that is not JSON: CPY_ARTIFACT_NOT_AN_ARTIFACT', async () => {
    const archive = await tgz(join(work, 'bad.tgz'), [{ name: 'cpy-artifact.json', body: '{"schemaVersion": ' }]);
    const error = await readArtifactMetadata(archive).catch((e: unknown) => e);
    expect(isCpyError(error, 'CPY_ARTIFACT_NOT_AN_ARTIFACT')).toBe(true);
    expect((error as Error).message).toMatch(/^cpy-artifact\.json is not JSON: /);
  });

  it('a damaged .tar.zst: CPY_ARTIFACT_CORRUPT with what zstd said', async () => {
    const damaged = join(work, 'damaged.tar.zst');
    await writeFile(damaged, Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(4096, 0x55)]));
    const error = await readArtifactEntry(damaged, 'LICENSE').catch((e: unknown) => e);
    if (spawnSync('zstd', ['--version']).status !== 0) {
      expect(isCpyError(error, 'CPY_ARTIFACT_NO_ZSTD')).toBe(true);
      return;
    }
    expect(isCpyError(error, 'CPY_ARTIFACT_CORRUPT')).toBe(true);
    expect(error).toMatchObject({ message: expect.stringMatching(/^cannot read .*damaged\.tar\.zst: zstd: /), hint: expect.stringMatching(/download it again/) });
  });
});

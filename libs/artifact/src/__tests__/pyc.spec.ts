import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { pinPycMtime } from '../pack.js';

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const EPOCH = 1_700_000_000;

let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-pyc-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** What CPython says about mod's bytecode when it imports it without writing any. */
function importVerbose(): string {
  const r = spawnSync(PYTHON, ['-v', '-c', 'import mod'], { cwd: work, env: { PATH: '/usr/bin:/bin', PYTHONDONTWRITEBYTECODE: '1' } });
  expect(r.status).toBe(0);
  return r.stderr.toString();
}

describe('pinPycMtime (every artifact entry has one mtime)', () => {
  it('makes a timestamp .pyc match a source whose mtime became the artifact epoch, as CPython checks it', async () => {
    await writeFile(join(work, 'mod.py'), 'X = 1\n');
    execFileSync(PYTHON, ['-c', 'import py_compile; py_compile.compile("mod.py", cfile="__pycache__/mod.pyc", invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)'], { cwd: work });
    const tag = execFileSync(PYTHON, ['-c', 'import sys; print(sys.implementation.cache_tag)']).toString().trim();
    const pyc = join(work, '__pycache__', `mod.${tag}.pyc`);
    await writeFile(pyc, await readFile(join(work, '__pycache__', 'mod.pyc')));
    await utimes(join(work, 'mod.py'), EPOCH, EPOCH);
    expect(importVerbose()).toMatch(/bytecode is stale for 'mod'/);

    await writeFile(pyc, pinPycMtime(await readFile(pyc), EPOCH));
    const out = importVerbose();
    expect(out).not.toMatch(/stale/);
    expect(out).toMatch(/matches .*mod\.py/);
  });

  it('leaves hash-based .pyc files and anything that is not bytecode alone', () => {
    const hashBased = Buffer.alloc(16);
    hashBased.writeUInt16LE(0x0a0d, 2);
    hashBased.writeUInt32LE(1, 4);
    expect(pinPycMtime(hashBased, EPOCH)).toEqual(hashBased);
    expect(pinPycMtime(Buffer.from('not bytecode at all'), EPOCH)).toEqual(Buffer.from('not bytecode at all'));
  });
});

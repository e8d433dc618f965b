import { execFileSync } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { detectHost, glibcSatisfies } from '../index.js';
import { multiarchTriplet } from '../host.js';

describe('detectHost', () => {
  it('on this machine, agrees with uname and ldd', () => {
    const host = detectHost();
    expect(host.os).toBe('linux');
    expect(host.arch).toBe(execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim());
    const ldd = execFileSync('ldd', ['--version'], { encoding: 'utf8' });
    const version = /(\d+\.\d+)\s*$/m.exec(ldd.split('\n')[0])?.[1];
    expect(host).toMatchObject({ libc: 'glibc', glibcVersion: version });
  });

  it('names 32-bit ARM and x86 as artifacts do (armhf, i386: what the packer reads from the ELF files), not as uname -m does (armv7l, i686: no build ever fitted)', () => {
    expect(detectHost({ platform: 'linux', arch: 'arm', glibc: () => '2.36' }).arch).toBe('armhf');
    expect(detectHost({ platform: 'linux', arch: 'ia32', glibc: () => '2.36' }).arch).toBe('i386');
    expect(['armhf', 'i386', 'ppc64le', 'x86_64'].map(multiarchTriplet)).toEqual(['arm-linux-gnueabihf', 'i386-linux-gnu', 'powerpc64le-linux-gnu', 'x86_64-linux-gnu']);
  });

  it('recognises musl and non-Linux hosts', () => {
    expect(detectHost({ platform: 'linux', arch: 'arm64', glibc: () => null, hasMuslLoader: () => true })).toEqual(
      { os: 'linux', arch: 'aarch64', libc: 'musl', glibcVersion: null },
    );
    expect(detectHost({ platform: 'darwin', arch: 'arm64' })).toEqual({
      os: 'darwin',
      arch: 'aarch64',
      libc: 'unknown',
      glibcVersion: null,
    });
  });
});

describe('glibc floors', () => {
  it('a host runs binaries whose floor is at or below its glibc, never above', () => {
    const bullseye = { os: 'linux' as const, arch: 'x86_64', libc: 'glibc' as const, glibcVersion: '2.31' };
    expect(glibcSatisfies(bullseye, '2.31')).toBe(true);
    expect(glibcSatisfies(bullseye, '2.17')).toBe(true);
    expect(glibcSatisfies(bullseye, '2.35')).toBe(false);
    expect(glibcSatisfies({ ...bullseye, libc: 'musl', glibcVersion: null }, '2.17')).toBe(false);
  });
});

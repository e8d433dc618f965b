import { describe, expect, it } from '@jest/globals';
import { isCpyError, parseVersion } from '@cpy/core';
import { defaultCacheDir } from '../index.js';
import { DEFAULT_MIRROR, parseMirror, resolveMirrors } from '../source/mirrors.js';
import { signingPolicyFor } from '../source/release-lines.js';

describe('mirrors', () => {
  it('accepts https://, file:// and directories, always as a base ending in /', () => {
    expect(parseMirror('https://mirror.example/ftp/python').href).toBe('https://mirror.example/ftp/python/');
    expect(parseMirror('file:///srv/python/').href).toBe('file:///srv/python/');
    expect(parseMirror('/srv/python').href).toBe('file:///srv/python/');
    expect(parseMirror('mirror', '/work').href).toBe('file:///work/mirror/');
  });

  it('refuses other schemes, credentials and a query (a token) in URLs and empty specs, with a hint, never showing the secret', () => {
    for (const spec of ['ftp://ftp.example/python', 'https://user:secret@mirror.example/', '  ', 'https://mirror.example/py?token=secret', 'http://u:secret@127.0.0.1:9/py?token=secret', 'https://user:sec@ret@mirror.example/py', 'https://tok:sec/ret@mirror.example/py']) {
      let caught: unknown;
      try {
        parseMirror(spec);
      } catch (error) {
        caught = error;
      }
      expect(isCpyError(caught, 'CPY_SOURCE_BAD_MIRROR')).toBe(true);
      expect((caught as Error).message).not.toMatch(/sec.?ret/);
    }
    expect(() => parseMirror('https://tok:sec/ret@mirror.example/py')).toThrow("cannot use mirror 'https://***@mirror.example/py': it is not a valid URL");
    expect(() => parseMirror('https://mirror.example/py?token=secret')).toThrow("cannot use mirror 'https://mirror.example/py?***': a query in a mirror URL is not supported");
  });

  it('takes the explicit list, else $CPY_PYTHON_MIRRORS, else python.org', () => {
    expect(resolveMirrors(['/a'], { CPY_PYTHON_MIRRORS: '/b' }).map(String)).toEqual(['file:///a/']);
    expect(resolveMirrors(undefined, { CPY_PYTHON_MIRRORS: '/b, https://m.example/p' }).map(String)).toEqual(['file:///b/', 'https://m.example/p/']);
    expect(resolveMirrors(undefined, {}).map(String)).toEqual([`${DEFAULT_MIRROR}/`]);
  });
});

describe('signing policy per release line', () => {
  const policy = (v: string) => signingPolicyFor(parseVersion(v)!);
  it('pins the release managers python.org documents', () => {
    expect(policy('3.9.18')).toMatchObject({ requires: 'openpgp', openpgp: { fingerprint: 'E3FF2839C048B25C084DEBE9B26995E310250568' }, sigstore: { identity: 'lukasz@langa.pl', issuer: 'https://github.com/login/oauth' } });
    expect(policy('3.11.9')).toMatchObject({ requires: 'openpgp', openpgp: { fingerprint: 'A035C8C19219BA821ECEA86B64E628F8D684696D' }, sigstore: { identity: 'pablogsal@python.org' } });
    expect(policy('3.13.5')).toMatchObject({ requires: 'openpgp', openpgp: { fingerprint: '7169605F62C751356D054A26A821E680E5FA6305' }, sigstore: { identity: 'thomas@python.org', issuer: 'https://accounts.google.com' } });
    expect(policy('3.14.0rc2')).toMatchObject({ requires: 'sigstore', openpgp: null, sigstore: { identity: 'hugo@python.org', issuer: 'https://github.com/login/oauth' } });
    expect(policy('3.7.17')).toBeNull();
    expect(policy('3.16.0')).toBeNull();
  });
});

describe('cache directory', () => {
  it('is $CPY_CACHE_DIR, else $XDG_CACHE_HOME/cpy, else ~/.cache/cpy', () => {
    expect(defaultCacheDir({ CPY_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe('/c');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe('/x/cpy');
    expect(defaultCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/h' })).toBe('/h/.cache/cpy');
    expect(defaultCacheDir({ HOME: '/h' })).toBe('/h/.cache/cpy');
  });
});

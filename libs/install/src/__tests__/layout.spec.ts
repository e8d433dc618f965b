// Where installs, state, links and the cache go, from the environment: always absolute paths
// (a relative CPY_HOME made links that pointed nowhere and a state.json every later command refused).
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { resolveLayout } from '../layout.js';

const USER = 1000;
const paths = (env: Record<string, string>, uid = USER) => {
  const l = resolveLayout({}, env, uid);
  return { stateDir: l.stateDir, binDir: l.binDir, cacheDir: l.cacheDir, prefix: l.prefixFor('3.13.5') };
};

describe('resolveLayout', () => {
  it('CPY_HOME and CPY_CACHE_DIR given relative are read from the directory cpy runs in', () => {
    expect(paths({ HOME: '/home/u', CPY_HOME: 'py', CPY_CACHE_DIR: './cache' })).toEqual({
      stateDir: resolve('py', 'state'),
      binDir: resolve('py', 'bin'),
      cacheDir: resolve('cache', 'artifacts'),
      prefix: resolve('py', 'python-3.13.5'),
    });
  });

  it('a relative HOME or XDG_* is ignored (the XDG spec: such a path is invalid), never joined into relative paths', () => {
    expect(paths({ HOME: '/home/u', XDG_DATA_HOME: 'data', XDG_STATE_HOME: 'state', XDG_CACHE_HOME: 'cache' })).toEqual({
      stateDir: '/home/u/.local/state/cpy',
      binDir: '/home/u/.local/bin',
      cacheDir: '/home/u/.cache/cpy/artifacts',
      prefix: '/home/u/.local/share/cpy/python-3.13.5',
    });
    expect(paths({ HOME: 'relative' }).binDir).toBe(join(userInfo().homedir, '.local', 'bin'));

    // Absolute ones are taken; root's layout is the system's.
    expect(paths({ HOME: '/home/u', XDG_DATA_HOME: '/d', XDG_STATE_HOME: '/s', XDG_CACHE_HOME: '/c' })).toEqual({ stateDir: '/s/cpy', binDir: '/home/u/.local/bin', cacheDir: '/c/cpy/artifacts', prefix: '/d/cpy/python-3.13.5' });
    expect(paths({ HOME: '/root' }, 0)).toEqual({ stateDir: '/var/lib/cpy', binDir: '/usr/local/bin', cacheDir: '/root/.cache/cpy/artifacts', prefix: '/opt/python-3.13.5' });
  });
});

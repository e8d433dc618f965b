// This process's own HOME empty or relative: Node's homedir() is $HOME itself (it reads the
// process's environment, which a test cannot set: node:os is stood in for here). The layout then
// took it: the state recorded binDir "relhome/.local/bin", and the links pointed nowhere.
import { expect, it, jest } from '@jest/globals';
import * as real from 'node:os';

jest.unstable_mockModule('node:os', () => ({
  ...real,
  homedir: () => 'relhome',
  userInfo: () => ({ ...real.userInfo(), homedir: '/home/account' }),
}));
const { resolveLayout } = await import('../layout.js');

it("a HOME that is empty or relative, in this process's environment too: the account's home from its passwd entry", () => {
  for (const HOME of [undefined, '', 'relhome']) {
    const layout = resolveLayout({}, HOME === undefined ? {} : { HOME }, 1000);
    expect({ stateDir: layout.stateDir, binDir: layout.binDir, cacheDir: layout.cacheDir, prefix: layout.prefixFor('3.13.5') }).toEqual({
      stateDir: '/home/account/.local/state/cpy',
      binDir: '/home/account/.local/bin',
      cacheDir: '/home/account/.cache/cpy/artifacts',
      prefix: '/home/account/.local/share/cpy/python-3.13.5',
    });
  }
});

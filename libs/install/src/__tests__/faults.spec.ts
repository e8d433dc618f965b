import { describe, expect, it } from '@jest/globals';
import { recordFileSystemFault } from '../faults.js';

describe('recordFileSystemFault: a write the install record could not make, the tree in place', () => {
  it('names the state directory when the python3 names no path, and the directory it names when it does', () => {
    expect(recordFileSystemFault('OSError: [Errno 28] No space left on device', '/var/lib/cpy', null)).toMatchObject({
      code: 'CPY_INSTALL_DISK_FULL',
      message: 'cannot write /var/lib/cpy: no space left on its disk',
      hint: 'the install is in place, not fully recorded: free some space for /var/lib/cpy (df -h; df -i), then run the same command again to finish recording it',
    });
    // A link in the bin directory (os.rename's two paths: the second is the one written).
    expect(recordFileSystemFault("OSError: [Errno 30] Read-only file system: '/p/bin/python3' -> '/home/u/.local/bin/python3.tmp-ab12'", '/home/u/.local/state/cpy', null)).toMatchObject({
      code: 'CPY_INSTALL_NOT_WRITABLE',
      message: 'cannot write /home/u/.local/bin/python3.tmp-ab12: its file system is read-only',
      hint: 'the install is in place, not fully recorded: make /home/u/.local/bin writable, then run the same command again to finish recording it',
    });
    expect(recordFileSystemFault('Traceback: KeyError', '/var/lib/cpy', null)).toBeNull();
  });
});

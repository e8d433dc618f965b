import { describe, expect, it } from '@jest/globals';
import { parseReleaseTag, releaseTag } from '../tag.js';

describe('release tags', () => {
  it('name one release per build, as cpython-<version>-build<N>', () => {
    expect(releaseTag('3.13.5', 1)).toBe('cpython-3.13.5-build1');
    expect(parseReleaseTag('cpython-3.14.0rc2-build12')).toEqual({ version: '3.14.0rc2', line: '3.14', build: 12 });
  });

  it('ignore tags that are not cpy releases and refuse bad input', () => {
    expect(parseReleaseTag('v1.2.3')).toBeNull();
    expect(parseReleaseTag('cpython-3.13-build1')).toBeNull();
    expect(parseReleaseTag('cpython-3.13.5-build0')).toBeNull();
    expect(() => releaseTag('3.13.5; rm -rf /', 1)).toThrow(/not a CPython release version/);
    expect(() => releaseTag('3.13.5', 0)).toThrow(/positive integer/);
  });
});

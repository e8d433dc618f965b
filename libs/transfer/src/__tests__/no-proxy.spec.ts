import { describe, expect, it } from '@jest/globals';
import { bypassesProxy } from '../index.js';

// What curl 7.88 (Debian 12's, the Feature's install.sh) does with each, checked by hand against
// it (a loopback server telling a proxied request from a direct one), except where a row says not.
const cases: [url: string, noProxy: string, direct: boolean][] = [
  ['http://pkg.corp.example/', 'corp.example', true],
  ['http://pkg.corp.example/', '.corp.example', true],
  ['http://corp.example/', '.corp.example', true],
  ['http://notcorp.example/', 'corp.example', false],
  ['http://pkg.corp.example/', 'corp.example.', true],
  ['http://pkg.corp.example./', 'corp.example', true],
  ['http://PKG.Corp.Example/', 'CORP.example', true],
  ['https://mirror.corp.example/', 'localhost, mirror.corp.example\t127.0.0.1', true],
  ['http://localhost/', '127.0.0.1', false],
  ['http://10.1.2.3/', '10.0.0.0/8', true],
  ['http://10.1.2.3/', '10.9.9.9/8', true],
  ['http://10.1.2.3/', '10.1.2.3', true],
  ['http://10.1.2.3/', '10.1.2.3/0', true],
  ['http://10.1.2.4/', '10.1.2.3/0', false],
  ['http://10.1.2.3/', '10.1.0.0/33', false],
  ['http://10.1.2.3/', '10.1.0.0/x', false],
  ['http://10.1.2.3/', '2.3', false],
  ['http://10.1.2.3/', '11.0.0.0/8', false],
  ['http://10.1.2.3/', 'foo, 10.0.0.0/8 bar', true],
  ['http://[fd00::1]/', 'fd00::1', true],
  ['http://[fd00::1]/', 'fe80::/10', false],
  ['http://[::ffff:10.1.2.3]/', '10.0.0.0/8', false],
  ['http://a.example/', '*', true],
  ['http://a.example/', 'x,*', false],
  ['http://a.example/', '', false],
  ['http://a.example/', ' , ', false],
  // curl 7.88 takes neither of these three (its IPv6 ranges and bracketed entries match nothing):
  // ranges of both families are kept alike, and what undici read (*.domain, host:port) still reads.
  ['http://[fd00::1]/', 'fd00::/8', true],
  ['http://[fd00::1]/', '[fd00::1]', true],
  ['http://pkg.corp.example/', '*.corp.example', true],
  ['http://pkg.corp.example:8080/', 'pkg.corp.example:8080', true],
  ['http://pkg.corp.example/', 'pkg.corp.example:8080', false],
  ['https://pkg.corp.example/', 'pkg.corp.example:443', true],
  // undici read this one as the host ':' at port 1.
  ['http://[::1]:1/', '::1', true],
];

describe('bypassesProxy (NO_PROXY)', () => {
  it.each(cases)('%s under NO_PROXY=%j goes direct: %s', (url, noProxy, direct) => {
    expect(bypassesProxy(url, noProxy)).toBe(direct);
  });
});

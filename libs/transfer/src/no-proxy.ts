import { BlockList, isIPv4, isIPv6 } from 'node:net';

/**
 * Whether a request to `origin` goes around the proxy under NO_PROXY `noProxy`, as curl (7.86 and
 * later, the Feature's install.sh) decides it, so that both installers reach a host the same way:
 * - `*` alone: every host;
 * - entries are separated by commas or blanks; a leading and a trailing `.` are ignored;
 * - a host name matches an entry equal to it or a domain it is in (`corp.example` and
 *   `.corp.example` match `corp.example` and `pkg.corp.example`, not `notcorp.example`), without
 *   regard to case or to a trailing `.`;
 * - an IP address (`10.1.2.3`, `[fd00::1]`) matches only an address entry: the same address, or a
 *   CIDR range (`10.0.0.0/8`, `fd00::/8`) of its family. It never matches a name.
 * Two forms undici read, which curl does not, are kept so that what already went around the proxy
 * still does: `*.corp.example` (a domain, as `.corp.example`), and `host:port` (that host at that
 * port only). undici's own reading knew no ranges and no IPv6 address (`::1` was read as the host
 * `:` at port 1).
 */
export function bypassesProxy(origin: string | URL, noProxy: string): boolean {
  if (noProxy === '*') return true;
  const value = noProxy.trim();
  if (value === '') return false;
  const url = typeof origin === 'string' ? new URL(origin) : origin;
  const raw = url.hostname.toLowerCase();
  const bracketed = raw.startsWith('[') && raw.endsWith(']');
  const address = bracketed ? raw.slice(1, -1) : raw;
  const family = bracketed && isIPv6(address) ? 'ipv6' : isIPv4(address) ? 'ipv4' : null;
  const name = family ? address : address.replace(/\.$/, '');
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  for (const token of value.split(/[,\s]+/)) {
    if (token === '') continue;
    const entry = withPort(token);
    if (entry.port !== null && entry.port !== port) continue;
    if (family ? addressMatches(address, family, entry.host) : nameMatches(name, entry.host)) return true;
  }
  return false;
}

/** `host:port` read apart; an IPv6 address (`fd00::1`, `fd00::/8`) or a bracketed one without a port is all host. */
function withPort(token: string): { host: string; port: number | null } {
  const bracketed = /^\[([^\]]*)\](?::(\d+))?$/.exec(token);
  if (bracketed) return { host: bracketed[1] ?? '', port: bracketed[2] ? Number(bracketed[2]) : null };
  const hostPort = /^([^:]+):(\d+)$/.exec(token);
  if (hostPort) return { host: hostPort[1] ?? '', port: Number(hostPort[2]) };
  return { host: token, port: null };
}

function nameMatches(name: string, token: string): boolean {
  const domain = token.toLowerCase().replace(/\.$/, '').replace(/^\*?\./, '');
  if (domain === '') return false;
  return name === domain || name.endsWith(`.${domain}`);
}

function addressMatches(address: string, family: 'ipv4' | 'ipv6', token: string): boolean {
  const slash = token.indexOf('/');
  const base = slash === -1 ? token : token.slice(0, slash);
  if (family === 'ipv4' ? !isIPv4(base) : !isIPv6(base)) return false;
  const max = family === 'ipv4' ? 32 : 128;
  const bitsText = slash === -1 ? '' : token.slice(slash + 1);
  if (bitsText !== '' && !/^\d+$/.test(bitsText)) return false;
  // curl: no length, or 0, is the whole address; one longer than the address matches nothing.
  const bits = bitsText === '' || Number(bitsText) === 0 ? max : Number(bitsText);
  if (bits > max) return false;
  const range = new BlockList();
  range.addSubnet(base, bits, family);
  return range.check(address, family);
}

#!/usr/bin/env node
// A loopback HTTP server for the benchmarks that serves a directory's files at about RATE MB/s
// per response, as a download over a network comes (paced 64 KiB writes): an installer that
// unpacks while it downloads shows it here, which a loopback download (tens of ms) cannot.
//
//   node bench/paced-server.mjs DIR RATE      prints the URL of DIR once it listens
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { benchArgs } from './common.mjs';

const [dir, rateText] = benchArgs(import.meta.url).positionals;
const rate = Number(rateText);
if (!dir || !(rate > 0)) throw new Error('usage: paced-server.mjs DIR RATE (MB/s, above 0)');

const server = createServer((req, res) => {
  const path = join(dir, decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname));
  let size;
  try {
    size = statSync(path).size;
  } catch {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
  const start = Date.now();
  let sent = 0;
  const file = createReadStream(path, { highWaterMark: 64 * 1024 });
  file.on('data', (chunk) => {
    res.write(chunk);
    sent += chunk.length;
    const wait = start + (sent / (rate * 1e6)) * 1000 - Date.now();
    if (wait > 0) {
      file.pause();
      setTimeout(() => file.resume(), wait);
    }
  });
  file.on('end', () => res.end());
  file.on('error', () => res.destroy());
});
server.listen(0, '127.0.0.1', () => console.log(`http://127.0.0.1:${server.address().port}`));

import type { CliIO } from './io.js';

export interface ProgressEvent {
  readonly file: string;
  readonly received: number;
  readonly total: number | null;
}

export interface Progress {
  update(event: ProgressEvent): void;
  /** Ends the bar's line (on a terminal). */
  done(): void;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * A download progress bar on stderr. On a terminal it redraws one line, at
 * most 10 times a second; elsewhere (CI logs, pipes) it prints one line per
 * file when the file starts, and no bar, so logs stay readable.
 */
export function createProgress(io: CliIO, now: () => number = Date.now): Progress {
  const tty = Boolean(io.stderr.isTTY);
  let last = 0;
  let current: string | null = null;
  let drawn = false;
  return {
    update({ file, received, total }) {
      if (!tty) {
        if (current !== file) {
          current = file;
          io.stderr.write(`cpy downloading ${file}${total ? ` (${formatBytes(total)})` : ''}\n`);
        }
        return;
      }
      const t = now();
      const finished = total !== null && received >= total;
      if (!finished && t - last < 100 && current === file) return;
      last = t;
      current = file;
      const width = 30;
      const ratio = total ? Math.min(1, received / total) : 0;
      const bar = total ? `[${'#'.repeat(Math.round(ratio * width)).padEnd(width, '.')}] ${String(Math.floor(ratio * 100)).padStart(3)}%` : '';
      const size = total ? `${formatBytes(received)} / ${formatBytes(total)}` : formatBytes(received);
      io.stderr.write(`\r\u001b[2K${file}  ${bar}  ${size}`);
      drawn = true;
    },
    done() {
      if (tty && drawn) io.stderr.write('\n');
      drawn = false;
    },
  };
}

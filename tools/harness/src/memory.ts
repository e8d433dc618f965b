import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * The peak of live memory (array buffers + heap, above what was live before) while `work` runs,
 * sampled every `everyMs` with two garbage collections first, so that chunks already dropped and
 * waiting for a collection do not count: what a streaming test asserts is small, and what holding
 * a whole file shows as its size.
 */
export async function peakLiveMemory(work: () => Promise<unknown>, everyMs = 100): Promise<number> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 20));
    gc();
  }
  const base = process.memoryUsage();
  let peak = 0;
  const timer = setInterval(() => {
    // Twice: array buffers freed by one collection are swept by the next.
    gc();
    gc();
    const m = process.memoryUsage();
    peak = Math.max(peak, m.arrayBuffers - base.arrayBuffers + (m.heapUsed - base.heapUsed));
  }, everyMs);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return peak;
}

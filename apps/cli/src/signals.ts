/**
 * Ctrl-C (SIGINT) or SIGTERM, while a long command runs: the first asks it to stop (its `signal`
 * aborts, `stopping` is logged, `onStop` runs), a second Ctrl-C runs `force`. The command ends it
 * with `release()`, in a `finally`: the process then takes its signals as before.
 */
export function stopOnSignals(options: { log(line: string): void; stopping: string; force(): void; onStop?(): void }): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const onSignal = () => {
    options.log(options.stopping);
    controller.abort();
    options.onStop?.();
    process.once('SIGINT', options.force);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    release: () => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    },
  };
}

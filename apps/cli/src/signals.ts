/**
 * Ctrl-C (SIGINT), SIGTERM or a closed terminal (SIGHUP), while a long command runs: the first asks
 * it to stop (its `signal` aborts, `stopping` is logged, `onStop` runs), a second Ctrl-C runs
 * `force`. (A hangup stops it as SIGTERM does: what it started in a session of its own, which the
 * terminal's signals do not reach, a venv upgrade's pip, is stopped with it.) The command ends it
 * with `release()`, in a `finally`: the process then takes its signals as before.
 */
export function stopOnSignals(options: { log(line: string): void; stopping: string; force(): void; onStop?(signal: NodeJS.Signals): void }): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    options.log(options.stopping);
    controller.abort();
    options.onStop?.(signal);
    process.once('SIGINT', options.force);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);
  return {
    signal: controller.signal,
    release: () => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      process.removeListener('SIGHUP', onSignal);
      // The second Ctrl-C's, once a first came: a command that returns after it (a stopped
      // validation) must not exit at a later Ctrl-C with its force.
      process.removeListener('SIGINT', options.force);
    },
  };
}

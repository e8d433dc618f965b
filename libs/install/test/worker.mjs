// Runs installPython in its own process, as other tooling would (the built
// package), and prints the result or the error as JSON. With CPY_TEST_KILL_AT
// set to `download` or `extract`, it kills itself with SIGKILL halfway through
// that phase: an abrupt stop, like kill -9 or a container being torn down.
// eslint-disable-next-line @nx/enforce-module-boundaries -- the built package, imported the way other tooling imports it
import { installPython } from '@cpy/install';

const killAt = process.env.CPY_TEST_KILL_AT;
try {
  const result = await installPython(JSON.parse(process.argv[2]), {
    onEvent(event) {
      const half =
        (killAt === 'download' && event.type === 'download' && event.total && event.received > event.total / 2) ||
        (killAt === 'extract' && event.type === 'extract' && event.bytes > event.total / 2);
      if (half) process.kill(process.pid, 'SIGKILL');
    },
  });
  process.stdout.write(JSON.stringify(result));
} catch (error) {
  process.stdout.write(JSON.stringify({ error: error.code ?? 'UNKNOWN', message: error.message }));
  process.exitCode = 1;
}

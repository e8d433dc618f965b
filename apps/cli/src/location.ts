import { isAbsolute, resolve } from 'node:path';

/** A location as given (--from, --index...): URLs as they are, paths made absolute against the working directory. */
export function locate(cwd: string, location: string): string {
  return /^(https?|file):\/\//.test(location) || isAbsolute(location) ? location : resolve(cwd, location);
}

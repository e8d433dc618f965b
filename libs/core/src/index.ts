// @cpy/core: what every cpy library shares and nothing else: the one error shape (CpyError, with
// a stable code, what happened and what to do) and the one order of versions.
export { CpyError, isCpyError } from './errors.js';
export { compareDotted, compareVersions, parseVersion, pythonVersionSchema } from './version.js';
export type { PythonVersion } from './version.js';

export { checkBuildHost, DEFAULT_MIN_FREE_BYTES } from './doctor.js';
export type { BuildHostReport, CheckBuildHostOptions, CheckResult } from './doctor.js';
export { hostExec } from './exec.js';
export type { Exec, ExecOptions, ExecResult } from './exec.js';
export { parseOsRelease } from './os-release.js';
export type { OsInfo } from './os-release.js';
export { BUILD_REQUIREMENTS } from './requirements.js';
export type { Probe, Requirement } from './requirements.js';

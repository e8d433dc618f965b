export { compareGlibcVersions, detectHost, glibcSatisfies } from './host.js';
export type { DetectHostOptions, HostPlatform } from './host.js';

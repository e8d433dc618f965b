export { fixtureChecksums, fixturesDir, repoRoot } from './paths.js';
export { startPythonMirror } from './mirror.js';
export type { Fault, MirrorOptions, MirrorRequest, PythonMirror } from './mirror.js';
export {
  BASE_IMAGES,
  SETUP_SCRIPT,
  aptInstallScript,
  detectContainerEngine,
  requireBaseImage,
  requireContainerEngine,
  podmanDockerShim,
  startContainer,
} from './containers.js';
export type { BaseImage, ContainerEngine, EngineName, RunningContainer } from './containers.js';
export { startConnectProxy } from './proxy.js';
export type { ConnectProxy } from './proxy.js';
export { canMount, mountSmallDisk, smallDiskMountOptions } from './disk.js';
export type { SmallDisk, SmallDiskOptions } from './disk.js';
export { makeHostPythonArtifact, repackArtifact } from './artifact.js';
export { makeWheelhouse } from './wheelhouse.js';
export type { ExtraEntry, RepackOptions, TestArtifact } from './artifact.js';
export { startOciRegistry } from './registry.js';
export type { OciRegistry } from './registry.js';
export { startGitHubDouble } from './github.js';
export type { DoubleAsset, DoubleRelease, Exchange, Fault as GitHubFault, GitHubDouble, Route as GitHubRoute } from './github.js';
export { githubContract } from './openapi.js';
export { indexEntry, indexOf } from './index-fixtures.js';
export { errorOf, expectCode } from './errors.js';
export { runCpy, startCpy } from './cli.js';
export type { CpyProcess, CpyRun, CpyRunOptions } from './cli.js';
export { peakLiveMemory } from './memory.js';
export { runsNow, until } from './processes.js';

export {
  compareMarkdown,
  comparePythons,
  compareSeries,
  DEFAULT_RUNS,
  DEFAULT_THRESHOLD_PCT,
  DEFAULT_WARMUP,
  diffInventories,
  inventorySummary,
  INVENTORY_SOURCE,
  measureCells,
  publicModules,
  STARTUP_IMPORTS,
  summarize,
  WORKLOAD_SOURCE,
} from './compare.js';
export type { ComparedPython, CompareEvent, ComparePythonsOptions, CompareReport, InventoryComparison, Measure, ModuleInventory, Sample, Series, Side } from './compare.js';
export { compareWithUpstream, findOutdated, MAX_BUILD_AGE_DAYS } from './outdated.js';
export type { EndOfLifeLine, MissingRelease, OutdatedOptions, OutdatedReport, StaleBuild } from './outdated.js';
export { END_OF_LIFE, endOfLife } from './release-lines.js';
export { mirrorUrl, newestReleases, PYTHON_ORG } from './upstream.js';
export { listVenvs, readVenv, rollbackVenv, upgradeVenv } from './venv.js';
export type { Distribution, FailedDistribution, RollbackResult, SeenDistribution, UpgradeOptions, UpgradeResult, VenvEvent, VenvInfo, VenvOptions } from './venv.js';

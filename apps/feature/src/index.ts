// The Dev Container Feature `cpython-prebuilt`: its manifest is generated from
// @cpy/install's option schema (src/manifest.ts); install.sh is in src/cpython-prebuilt.
export { CONTAINER_PATH, DEFERRED_DIR, FEATURE_ID, FEATURE_OPTIONS, featureManifest, manifestText, ON_CREATE_COMMAND } from './manifest.js';
export type { FeatureManifest, FeatureOption, FeatureOptionName, ManifestOptions } from './manifest.js';

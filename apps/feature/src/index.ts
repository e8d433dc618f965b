// The Dev Container Feature `cpython-prebuilt`: its manifest is generated from
// @cpy/install's option schema (src/manifest.ts); install.sh is in src/cpython-prebuilt.
export { CONTAINER_PATH, FEATURE_ID, FEATURE_OPTIONS, featureManifest, manifestText } from './manifest.js';
export type { FeatureManifest, FeatureOption, FeatureOptionName } from './manifest.js';

import { join } from 'node:path';
import { repoRoot } from '@cpy/harness';

/** The Feature's folder: devcontainer-feature.json and install.sh. */
export const featureDir = () => join(repoRoot(), 'apps', 'feature', 'src', 'cpython-prebuilt');

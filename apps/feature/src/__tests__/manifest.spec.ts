import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { CRITICAL_IMPORTS, POSTINSTALL_ENTRY } from '@cpy/artifact';
import { installOptionsSchema, OPTION_PATTERNS } from '@cpy/install';
import { FEATURE_ID, FEATURE_OPTIONS, featureManifest, manifestText } from '../manifest.js';
import { featureSpecSchema } from './feature-spec.js';

const appRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const featureDir = join(appRoot, 'src', FEATURE_ID);
const committed = readFileSync(join(featureDir, 'devcontainer-feature.json'), 'utf8');
const installSh = readFileSync(join(featureDir, 'install.sh'), 'utf8');
const version = (JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8')) as { version: string }).version;

describe('devcontainer-feature.json', () => {
  it('is what the install option schema generates (run `nx run feature:generate` after changing it)', () => {
    expect(committed).toBe(manifestText(version));
  });

  it("validates against the Dev Containers spec's rules", () => {
    const parsed = featureSpecSchema.safeParse(JSON.parse(committed));
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
  });

  it('the spec rules do refuse what the spec refuses', () => {
    const m = JSON.parse(committed) as Record<string, unknown>;
    expect(featureSpecSchema.safeParse({ ...m, $schema: 'x' }).success).toBe(false);
    expect(featureSpecSchema.safeParse({ ...m, options: { a: { type: 'boolean', default: 'false' } } }).success).toBe(false);
    expect(featureSpecSchema.safeParse({ ...m, options: { a: { type: 'string' } } }).success).toBe(false);
    expect(featureSpecSchema.safeParse({ ...m, id: 'CPython' }).success).toBe(false);
  });

  it('exposes install options by the library names, types and descriptions; string defaults are empty (unset)', () => {
    const shape = installOptionsSchema.shape as Record<string, { description?: string }>;
    const options = featureManifest(version).options;
    expect(Object.keys(options)).toEqual(FEATURE_OPTIONS);
    for (const name of FEATURE_OPTIONS) {
      expect(shape[name]).toBeDefined();
      expect(options[name].description).toBe(shape[name]!.description);
      if (options[name].type === 'string') expect(options[name].default).toBe('');
    }
    expect(options.skipValidation).toMatchObject({ type: 'boolean', default: false });
    // A minimal image lacks libssl and libsqlite3: the Feature installs them unless told not to.
    expect(options.installSystemDeps).toMatchObject({ type: 'boolean', default: true });
  });

  it('puts the python3 links first on PATH, never python3 through the `current` link', () => {
    expect(featureManifest(version).containerEnv['PATH']).toBe('/usr/local/bin:/var/lib/cpy/current/bin:${PATH}');
  });
});

describe('install.sh agrees with the library', () => {
  it('reads every option, by the upper-cased name the CLI gives it', () => {
    for (const name of FEATURE_OPTIONS) expect(installSh).toContain(`${name.toUpperCase()}=\${${name.toUpperCase()}:-`);
  });

  it('checks the same critical modules', () => {
    expect(/^CRITICAL_IMPORTS='([^']*)'$/m.exec(installSh)?.[1]?.split(' ')).toEqual([...CRITICAL_IMPORTS]);
  });

  it("relocates and checks with the artifact's own post-install script, as the library does", () => {
    expect(/^POSTINSTALL=(\S+)$/m.exec(installSh)?.[1]).toBe(POSTINSTALL_ENTRY);
    expect(installSh).toMatch(/"\$1\/\$POSTINSTALL" relocate --from/);
    expect(installSh).toMatch(/"\$1\/\$POSTINSTALL" check --version/);
  });

  it('uses the same value patterns', () => {
    expect(/^URL_RE='([^']*)'$/m.exec(installSh)?.[1]).toBe(OPTION_PATTERNS.url.source.replace(/\\\//g, '/'));
    expect(/^PATH_RE='([^']*)'$/m.exec(installSh)?.[1]).toBe(OPTION_PATTERNS.path.source);
  });

  it('is a POSIX sh script', () => {
    expect(installSh.split('\n')[0]).toBe('#!/bin/sh');
  });
});

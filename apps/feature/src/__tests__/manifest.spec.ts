import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { CRITICAL_IMPORTS, FINGERPRINT_RE, POSTINSTALL_ENTRY, POSTINSTALL_SOURCE, SIGNERS_OPTION_RE } from '@cpy/artifact';
import { installOptionsSchema, OPTION_PATTERNS, STATE_SCRIPT, versionRequestSchema } from '@cpy/install';
import * as z from 'zod';
import { CARRIED_SCRIPTS, DEFERRED_DIR, FEATURE_ID, FEATURE_OPTIONS, featureManifest, manifestText, ON_CREATE_COMMAND, withCarriedScript } from '../manifest.js';
import { featureSpecSchema } from './feature-spec.js';

const appRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const featureDir = join(appRoot, 'src', FEATURE_ID);
const committed = readFileSync(join(featureDir, 'devcontainer-feature.json'), 'utf8');
const installSh = readFileSync(join(featureDir, 'install.sh'), 'utf8');
const version = (JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8')) as { version: string }).version;

const committedIndexUrl = (JSON.parse(committed) as { options: { indexUrl?: { default?: string } } }).options.indexUrl?.default;

describe("install.sh's install record and checks", () => {
  it("are @cpy/install's cpy_state.py and @cpy/artifact's postinstall.py, copied whole (run `nx run feature:generate` after changing them)", () => {
    for (const [delimiter, path, defined] of [
      [CARRIED_SCRIPTS.state, STATE_SCRIPT, 'def record(a):'],
      [CARRIED_SCRIPTS.checks, POSTINSTALL_SOURCE, 'def check('],
    ] as const) {
      expect(installSh).toBe(withCarriedScript(installSh, delimiter, readFileSync(path, 'utf8')));
      // The copy is there at all, and in place of nothing else.
      expect(installSh).toContain(readFileSync(path, 'utf8'));
      expect(withCarriedScript(installSh, delimiter, '# changed\n')).not.toContain(defined);
    }
    expect(withCarriedScript("cat >x <<'cpy_state_py' || fail\nold\ncpy_state_py\nrest\n", 'cpy_state_py', 'new\n')).toBe("cat >x <<'cpy_state_py' || fail\nnew\ncpy_state_py\nrest\n");
    expect(() => withCarriedScript("cat >x <<'cpy_state_py'\nold\n", 'cpy_state_py', 'new\n')).toThrow('no cpy_state_py lines');
    expect(() => withCarriedScript("cat >x <<'cpy_state_py'\nold\ncpy_state_py\n", 'cpy_state_py', 'a\ncpy_state_py\nb\n')).toThrow('would end');
  });
});

describe('devcontainer-feature.json', () => {
  it('is what the install option schema generates (run `nx run feature:generate` after changing it)', () => {
    // An organisation's copy may have been generated with --default-index-url.
    expect(committed).toBe(manifestText(version, committedIndexUrl ? { defaultIndexUrl: committedIndexUrl } : {}));
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
    // The descriptions the library gives its options (zod's global registry, where .describe() and @cpy/install's described() put them).
    const shape = installOptionsSchema.shape as Record<string, z.core.$ZodType>;
    const options = featureManifest(version).options;
    expect(Object.keys(options)).toEqual(FEATURE_OPTIONS);
    for (const name of FEATURE_OPTIONS) {
      expect(shape[name]).toBeDefined();
      expect(options[name].description).toBe(z.globalRegistry.get(shape[name]!)?.description);
      expect(options[name].description).toBeTruthy();
      if (options[name].type === 'string') expect(options[name].default).toBe('');
    }
    expect(options.skipValidation).toMatchObject({ type: 'boolean', default: false });
    // A minimal image lacks libssl and libsqlite3: the Feature installs them unless told not to.
    expect(options.installSystemDeps).toMatchObject({ type: 'boolean', default: true });
    // The version request resolved with an index; Tk only when asked for.
    expect(FEATURE_OPTIONS).toEqual(expect.arrayContaining(['version', 'indexUrl', 'artifactUrl', 'installTk']));
    expect(options.indexUrl).toMatchObject({ type: 'string', default: '' });
    expect(options.installTk).toMatchObject({ type: 'boolean', default: false });
  });

  it('an organisation copy sets its own default index (--default-index-url); a value the shell could expand is refused', () => {
    const url = 'https://github.com/acme/python/releases/download/cpy-index/index.json';
    const m = featureManifest(version, { defaultIndexUrl: url });
    expect(m.options.indexUrl).toMatchObject({ type: 'string', default: url });
    expect(featureSpecSchema.safeParse(m).success).toBe(true);
    expect(() => featureManifest(version, { defaultIndexUrl: 'https://x/$(id)/index.json' })).toThrow(/must be an http\(s\) or file URL/);
    expect(() => featureManifest(version, { defaultIndexUrl: 'relative/index.json' })).toThrow(/absolute path/);
  });

  it('declares the onCreateCommand that runs an install deferred to the mounted workspace, and does nothing otherwise', () => {
    expect(featureManifest(version).onCreateCommand).toBe(ON_CREATE_COMMAND);
    expect(ON_CREATE_COMMAND).toBe(`[ ! -f ${DEFERRED_DIR}/deferred.env ] || /bin/sh ${DEFERRED_DIR}/install.sh --deferred`);
    // Nothing deferred (this host has no such file): it succeeds at once, printing nothing.
    expect(execFileSync('/bin/sh', ['-c', ON_CREATE_COMMAND.replaceAll(DEFERRED_DIR, '/nonexistent/cpy-feature')], { encoding: 'utf8' })).toBe('');
  });

  it('puts the python3 links first on PATH, never python3 through the `current` link', () => {
    expect(featureManifest(version).containerEnv['PATH']).toBe('/usr/local/bin:/var/lib/cpy/current/bin:${PATH}');
  });

  it("points pkg-config at the current install first (its search path held the system's python3.pc only)", () => {
    expect(featureManifest(version).containerEnv['PKG_CONFIG_PATH']).toBe('/var/lib/cpy/current/lib/pkgconfig:${PKG_CONFIG_PATH}');
  });
});

describe('install.sh agrees with the library', () => {
  it('reads every option, by the upper-cased name the CLI gives it', () => {
    for (const name of FEATURE_OPTIONS) expect(installSh).toContain(`${name.toUpperCase()}=\${${name.toUpperCase()}:-`);
  });

  it('checks the same critical modules', () => {
    expect(/^CRITICAL_IMPORTS='([^']*)'$/m.exec(installSh)?.[1]?.split(' ')).toEqual([...CRITICAL_IMPORTS]);
  });

  it("relocates with the artifact's own post-install script and checks with its own copy of cpy's, as the library does", () => {
    expect(/^POSTINSTALL=(\S+)$/m.exec(installSh)?.[1]).toBe(POSTINSTALL_ENTRY);
    expect(installSh).toMatch(/"\$1\/\$POSTINSTALL" relocate --from/);
    expect(installSh).toMatch(/"\$work\/cpy-checks\.py" check --version/);
    expect(installSh).not.toMatch(/\$POSTINSTALL" check/);
  });

  it('uses the same value patterns', () => {
    expect(/^URL_RE='([^']*)'$/m.exec(installSh)?.[1]).toBe(OPTION_PATTERNS.url.source.replace(/\\\//g, '/'));
    expect(/^PATH_RE='([^']*)'$/m.exec(installSh)?.[1]).toBe(OPTION_PATTERNS.path.source);
    expect(/^SIGNERS_RE='([^']*)'$/m.exec(installSh)?.[1]).toBe(SIGNERS_OPTION_RE.source);
    expect(/^FINGERPRINT_RE='([^']*)'$/m.exec(installSh)?.[1]).toBe(FINGERPRINT_RE.source);
  });

  it('accepts the same version requests (3, 3.13, 3.13.5, latest, 3.14.0rc2) and refuses the rest', () => {
    const re = /^REQUEST_RE='([^']*)'$/m.exec(installSh)?.[1] ?? 'REQUEST_RE is missing';
    const samples = ['3', '3.13', '3.13.5', 'latest', '3.14.0rc2', '3.14.0a1', '3.14.0b3', '0.0.0', '3.13.', '3.13.5.1', '03.13', 'Latest', '3.14rc2', '3.1000', 'v3.13', '3.13.5rc', ''];
    for (const sample of samples) {
      let shell = true;
      try {
        execFileSync('grep', ['-Eq', re], { input: `${sample}\n` });
      } catch {
        shell = false;
      }
      expect([sample, shell]).toEqual([sample, versionRequestSchema.safeParse(sample).success]);
    }
  });

  it('keeps what it defers where the onCreateCommand looks', () => {
    expect(/^SHARE_DIR=(\S+)$/m.exec(installSh)?.[1]).toBe(DEFERRED_DIR);
    expect(installSh).toMatch(/^DEFERRED_ENV=\$SHARE_DIR\/deferred\.env$/m);
  });

  it('is a POSIX sh script', () => {
    expect(installSh.split('\n')[0]).toBe('#!/bin/sh');
  });
});

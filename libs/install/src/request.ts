import { parseVersion } from '@cpy/core';
import * as z from 'zod/mini';

/**
 * What a user asks for: `latest`, `3`, `3.13`, `3.13.5`, or a pre-release by name (`3.14.0rc2`).
 * The pyenv/uv/setup-python convention: a partial version means its newest final release.
 */
export const VERSION_REQUEST_RE = /^(latest|(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})((a|b|rc)(0|[1-9]\d{0,2}))?)?)?)$/;

export const versionRequestSchema = z.string().check(z.regex(VERSION_REQUEST_RE, 'must be a CPython version (3.13.5, 3.14.0rc2), a release line (3.13, 3), or latest'));

/**
 * What names one installed version (cpy uninstall): a version, or a release line of two numbers
 * (3.13). `3` and `latest` name no one version to remove: a usage error, before anything is read.
 */
export const installedVersionSchema = z.string().check(z.regex(/^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})((a|b|rc)(0|[1-9]\d{0,2}))?)?$/, 'must be an installed version (3.13.5) or its release line (3.13)'));

export interface VersionRequest {
  readonly text: string;
  /** A full version (3.13.5, 3.14.0rc2): only that version matches. */
  readonly exact: boolean;
  readonly parts: readonly number[];
}

export function parseVersionRequest(text: string): VersionRequest {
  if (text === 'latest') return { text, exact: false, parts: [] };
  const full = parseVersion(text);
  if (full) return { text, exact: true, parts: [full.major, full.minor, full.micro] };
  return { text, exact: false, parts: text.split('.').map(Number) };
}

/** Whether `version` answers the request: the same version, or a final release that starts with the request's parts. */
export function matchesRequest(version: string, request: VersionRequest): boolean {
  if (request.exact) return version === request.text;
  const v = parseVersion(version);
  if (!v || v.pre) return false;
  const parts = [v.major, v.minor, v.micro];
  return request.parts.every((p, i) => parts[i] === p);
}

/** The request as people say it: `CPython 3.13`, `the latest CPython`. */
export function describeRequest(request: VersionRequest): string {
  return request.text === 'latest' ? 'the latest CPython' : `CPython ${request.text}`;
}

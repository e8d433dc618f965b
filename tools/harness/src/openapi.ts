import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Exchange } from './github.js';

/** https://docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api and rate limits. */
const GENERIC_ERRORS = new Set([401, 403, 429, 500, 502, 503]);

interface Operation {
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

/**
 * GitHub's official OpenAPI description (@octokit/openapi, api.github.com),
 * used to check what the GitHub double received and answered, so the double
 * cannot drift from the real API: the operation exists, the status is one it
 * documents, and the JSON bodies match their schemas.
 */
export function githubContract() {
  const spec = createRequire(import.meta.url)('@octokit/openapi/generated/api.github.com.json') as {
    paths: Record<string, Record<string, Operation>>;
    components: unknown;
  };
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: false });
  ajv.addSchema({ $id: 'gh', components: spec.components });
  const compiled = new Map<string, ValidateFunction>();
  const validator = (key: string, schema: unknown) => {
    let v = compiled.get(key);
    if (!v) {
      v = ajv.compile(JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"gh#/components/')) as object);
      compiled.set(key, v);
    }
    return v;
  };
  // A parameter is one path segment, except where GitHub's own paths carry slashes (`git/refs/{ref}`: `tags/v1`).
  const templates = Object.keys(spec.paths).map((p) => ({ p, re: new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`), loose: new RegExp(`^${p.replace(/\{[^}]+\}/g, '.+')}$`) }));

  return {
    /** What is wrong with one exchange against the description; empty when it conforms. */
    check(x: Exchange): string[] {
      const what = `${x.method} ${x.path} -> ${x.status}`;
      // Loosely, the template with the most literal text: `/repos/{owner}/{repo}` matches any such path.
      const literal = (p: string) => p.replace(/\{[^}]+\}/g, '').length;
      const template = (templates.find((t) => t.re.test(x.path)) ?? templates.filter((t) => t.loose.test(x.path)).sort((a, b) => literal(b.p) - literal(a.p))[0])?.p;
      const op = template ? spec.paths[template]?.[x.method.toLowerCase()] : undefined;
      if (!template || !op) return [`${what}: no such operation in GitHub's API`];
      const problems: string[] = [];
      const requestSchema = op.requestBody?.content?.['application/json']?.schema;
      if (requestSchema && x.requestJson !== null && x.requestJson !== undefined) {
        const v = validator(`${template} ${x.method} request`, requestSchema);
        if (!v(x.requestJson)) problems.push(`${what}: request body: ${ajv.errorsText(v.errors)}`);
      }
      // Errors any endpoint can answer (bad credentials, rate limits, outages) are documented once, not per operation.
      if (!op.responses?.[String(x.status)] && GENERIC_ERRORS.has(x.status)) {
        if (x.responseJson && typeof x.responseJson === 'object') {
          const v = validator('basic-error', { $ref: '#/components/schemas/basic-error' });
          if (!v(x.responseJson)) problems.push(`${what}: error body: ${ajv.errorsText(v.errors)}`);
        }
        return problems;
      }
      const response = op.responses?.[String(x.status)];
      if (!response) return [...problems, `${what}: status ${x.status} is not documented for this operation (${Object.keys(op.responses ?? {}).join(', ')})`];
      const responseSchema = response.content?.['application/json']?.schema;
      if (responseSchema && x.responseJson !== undefined) {
        const v = validator(`${template} ${x.method} ${x.status}`, responseSchema);
        if (!v(x.responseJson)) problems.push(`${what}: response body: ${ajv.errorsText(v.errors)}`);
      }
      return problems;
    },
  };
}

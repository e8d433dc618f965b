import * as z from 'zod';

/**
 * The rules of the Dev Containers spec's devContainerFeature.schema.json (draft-07,
 * devcontainers/spec schemas/), restated as a zod schema because the JSON file is not
 * on any registry these machines reach: unknown top-level keys are refused, options are
 * booleans with a boolean default, or strings with a string default and either
 * `proposals` or (required) `enum`; mounts are bind or volume. Plus what the CLI and the
 * spec's prose require: id, version (semver) and name; an id of [a-z0-9] with single
 * separators.
 */
const command = z.union([z.string(), z.array(z.string()), z.record(z.string(), z.union([z.string(), z.array(z.string())]))]);
const booleanOption = z.object({ type: z.literal('boolean'), default: z.boolean(), description: z.string().optional() }).strict();
const stringOption = z
  .object({ type: z.literal('string'), default: z.string(), description: z.string().optional(), proposals: z.array(z.string()).optional() })
  .strict();
const enumOption = z.object({ type: z.literal('string'), default: z.string(), description: z.string().optional(), enum: z.array(z.string()) }).strict();

export const featureSpecSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9]+([._-][a-z0-9]+)*$/),
    version: z.string().regex(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/),
    name: z.string().min(1),
    description: z.string().optional(),
    documentationURL: z.string().optional(),
    licenseURL: z.string().optional(),
    keywords: z.array(z.string()).optional(),
    options: z.record(z.string(), z.union([booleanOption, enumOption, stringOption])).optional(),
    containerEnv: z.record(z.string(), z.string()).optional(),
    privileged: z.boolean().optional(),
    init: z.boolean().optional(),
    capAdd: z.array(z.string()).optional(),
    securityOpt: z.array(z.string()).optional(),
    entrypoint: z.string().optional(),
    mounts: z.array(z.object({ type: z.enum(['bind', 'volume']), source: z.string(), target: z.string() }).strict()).optional(),
    customizations: z.record(z.string(), z.unknown()).optional(),
    dependsOn: z.record(z.string(), z.unknown()).optional(),
    installsAfter: z.array(z.string()).optional(),
    legacyIds: z.array(z.string()).optional(),
    deprecated: z.boolean().optional(),
    onCreateCommand: command.optional(),
    updateContentCommand: command.optional(),
    postCreateCommand: command.optional(),
    postStartCommand: command.optional(),
    postAttachCommand: command.optional(),
  })
  .strict();

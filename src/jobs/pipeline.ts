/**
 * The pipeline file (`.raibid.yaml` at the root of a repository): which pool runs the repository's
 * jobs, on which branches, and the steps. The API reads it at the pushed commit to choose the pool and
 * to apply the branch filters; the agent reads it from the checkout to run the steps. Without a file
 * (or without `steps`), the agent runs the default pipeline for what the repository contains.
 *
 *   # yaml-language-server: $schema=<raibid-ci>/raibid-pipeline.schema.json
 *   pool: rust
 *   branches: [main, "release/*"]
 *   env: { RUST_BACKTRACE: "1" }
 *   timeout: 20m
 *   image: false
 *   steps:
 *     - name: test
 *       command: cargo test --locked
 *       timeout: 10m
 */
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { durationSeconds } from '../config/quantity.js';

export const DEFAULT_PIPELINE_FILE = '.raibid.yaml';

const durationString = z.string().refine(
  (s) => {
    try {
      return durationSeconds(s) > 0;
    } catch {
      return false;
    }
  },
  { error: 'expected a duration such as "90s", "10m" or "1h"' },
);
const envMap = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'expected an environment variable name' }), z.union([z.string(), z.number(), z.boolean()]).transform(String));

export const pipelineStepSchema = z.strictObject({
  name: z.string().regex(/^[\w.-][\w .-]{0,62}$/, { error: 'expected a step name of letters, digits, " ", ".", "_" or "-" (at most 63)' }).describe('Step name, shown in logs and results.'),
  command: z.string().min(1).describe('Shell command (run with sh -c in the checkout).'),
  timeout: durationString.optional().describe('Step timeout; the job timeout still applies.'),
  env: envMap.optional().describe('Extra environment of this step.'),
  /** Run the step even when an earlier one failed. */
  always: z.boolean().optional().describe('Run even when an earlier step failed (clean-up, reports).'),
});

export const pipelineSchema = z
  .strictObject({
    pool: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/, { error: 'expected a pool name' }).optional().describe('Pool that runs this repository\'s jobs. Default: the API\'s default pool.'),
    branches: z.array(z.string().min(1)).min(1).optional().describe('Branches that run CI ("*" matches within one path segment, "**" across them). Default: every branch.'),
    pullRequests: z.boolean().default(true).describe('Run for pull requests (opened, synchronized, reopened).'),
    env: envMap.optional().describe('Environment of every step.'),
    timeout: durationString.optional().describe('Job timeout; never longer than the pool\'s.'),
    image: z
      .union([
        z.boolean(),
        z.strictObject({
          dockerfile: z.string().default('Dockerfile').describe('Dockerfile path, relative to context.'),
          context: z.string().default('.').describe('Build context folder.'),
          push: z.boolean().default(true).describe('Push to the registry (false: build only).'),
        }),
      ])
      .optional()
      .describe('Build an image with BuildKit: true, false, or settings. Default: when a Dockerfile exists.'),
    steps: z.array(pipelineStepSchema).min(1).optional().describe('Steps, run in order. Default: the default pipeline for the repository.'),
  })
  .describe('raibid-ci pipeline file (.raibid.yaml in a repository).');

export type Pipeline = z.output<typeof pipelineSchema>;
export type PipelineStep = z.output<typeof pipelineStepSchema>;

export type PipelineParse = { readonly ok: true; readonly pipeline: Pipeline } | { readonly ok: false; readonly problems: readonly string[] };

/** Parses a pipeline file's text, listing every problem with its key path. */
export function parsePipeline(text: string, file = DEFAULT_PIPELINE_FILE): PipelineParse {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) return { ok: false, problems: doc.errors.map((e) => `${file}: line ${e.linePos?.[0].line ?? '?'}: ${e.message.split('\n')[0]}`) };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 50 }) ?? {};
  } catch (e) {
    return { ok: false, problems: [`${file}: ${(e as Error).message.split('\n')[0]}`] };
  }
  const r = pipelineSchema.safeParse(value);
  const problems = r.success ? [] : r.error.issues.map((i) => `${file}: ${i.path.length ? i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(top level)'}: ${i.message}`);
  // Duplicate names are read from the raw steps, so they are listed along with the schema's problems.
  const raw = (value as { steps?: unknown }).steps;
  const names = new Set<string>();
  if (Array.isArray(raw))
    raw.forEach((s: unknown, i) => {
      const name = (s as { name?: unknown } | null)?.name;
      if (typeof name !== 'string') return;
      if (names.has(name)) problems.push(`${file}: steps[${i}].name: duplicate step name ${JSON.stringify(name)}`);
      names.add(name);
    });
  if (!r.success || problems.length) return { ok: false, problems };
  return { ok: true, pipeline: r.data };
}

/** Whether a branch matches one of the patterns (`*` within a segment, `**` across segments). */
export function branchMatches(branch: string, patterns: readonly string[] | undefined): boolean {
  if (!patterns) return true;
  return patterns.some((p) => {
    const re = p
      .split('**')
      .map((part) => part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*'))
      .join('.*');
    return new RegExp(`^${re}$`).test(branch);
  });
}

/** The JSON Schema of the pipeline file (written by synth as raibid-pipeline.schema.json). */
export function pipelineJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(pipelineSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

/**
 * The steps a job runs: the pipeline file's, or the default pipeline for what the checkout contains.
 *
 * Default pipelines:
 * - Cargo project (Cargo.toml): `cargo fmt --check`, `cargo clippy --all-targets -- -D warnings`,
 *   `cargo build`, `cargo nextest run` (or `cargo test` without nextest), `cargo audit` (with a
 *   Cargo.lock and cargo-audit installed);
 * - npm project (package.json): `npm ci` (or `npm install` without a lockfile), `npm test`.
 * A step whose tool the image lacks is skipped, not failed: the job says which tool was missing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { durationSeconds } from '../../config/quantity.js';
import { DEFAULT_PIPELINE_FILE, parsePipeline, type Pipeline } from '../../jobs/pipeline.js';

export interface PlannedStep {
  readonly name: string;
  readonly command: string;
  readonly timeoutMs?: number;
  readonly env: Record<string, string>;
  readonly always: boolean;
  /** Programs the step needs on PATH; it is skipped (with the reason) when one is missing. */
  readonly requires: readonly string[];
  /** The image build step (run by image.ts, not by a shell command). */
  readonly image?: { readonly dockerfile: string; readonly context: string; readonly push: boolean };
}

export interface Plan {
  readonly source: string;
  readonly steps: readonly PlannedStep[];
  readonly timeoutMs?: number;
  readonly env: Record<string, string>;
}

export type PlanResult = { readonly ok: true; readonly plan: Plan } | { readonly ok: false; readonly reason: string };

const step = (name: string, command: string, requires: string[]): PlannedStep => ({ name, command, env: {}, always: false, requires });

/** The default pipeline for a checkout, or undefined when nothing is recognised. */
export function defaultSteps(dir: string, has: (program: string) => boolean): { source: string; steps: PlannedStep[] } | undefined {
  if (existsSync(join(dir, 'Cargo.toml'))) {
    const steps = [
      step('fmt', 'cargo fmt --all --check', ['cargo', 'cargo-fmt']),
      step('clippy', 'cargo clippy --all-targets -- -D warnings', ['cargo', 'cargo-clippy']),
      step('build', 'cargo build --all-targets', ['cargo']),
      has('cargo-nextest') ? step('test', 'cargo nextest run --no-tests=pass', ['cargo', 'cargo-nextest']) : step('test', 'cargo test', ['cargo']),
    ];
    if (existsSync(join(dir, 'Cargo.lock'))) steps.push(step('audit', 'cargo audit', ['cargo', 'cargo-audit']));
    return { source: 'default pipeline (Cargo.toml)', steps };
  }
  if (existsSync(join(dir, 'package.json'))) {
    const lock = existsSync(join(dir, 'package-lock.json')) || existsSync(join(dir, 'npm-shrinkwrap.json'));
    return { source: 'default pipeline (package.json)', steps: [step('install', lock ? 'npm ci' : 'npm install', ['npm']), step('test', 'npm test', ['npm'])] };
  }
  return undefined;
}

/** Reads the pipeline file (if any) and returns the steps to run. */
export function planJob(dir: string, opts: { readonly pipelineFile?: string; readonly has: (program: string) => boolean; readonly buildImages: boolean }): PlanResult {
  const file = opts.pipelineFile ?? DEFAULT_PIPELINE_FILE;
  let pipeline: Pipeline | undefined;
  if (existsSync(join(dir, file))) {
    const parsed = parsePipeline(readFileSync(join(dir, file), 'utf8'), file);
    if (!parsed.ok) return { ok: false, reason: `invalid ${file}: ${parsed.problems.join('; ')}` };
    pipeline = parsed.pipeline;
  }
  let source: string;
  let steps: PlannedStep[];
  if (pipeline?.steps) {
    source = file;
    steps = pipeline.steps.map((s) => ({ name: s.name, command: s.command, timeoutMs: s.timeout ? durationSeconds(s.timeout) * 1000 : undefined, env: s.env ?? {}, always: s.always ?? false, requires: [] }));
  } else {
    const d = defaultSteps(dir, opts.has);
    if (!d && !(pipeline?.image || existsSync(join(dir, 'Dockerfile')))) return { ok: false, reason: `nothing to run: no steps in ${file}, and no Cargo.toml or package.json for a default pipeline` };
    source = pipeline ? `${file} with the ${d?.source ?? 'image build only'}` : (d?.source ?? 'image build only');
    steps = d?.steps ?? [];
  }
  const image = pipeline?.image;
  const wantsImage = image === undefined ? existsSync(join(dir, 'Dockerfile')) : image !== false;
  if (wantsImage && opts.buildImages) {
    const settings = typeof image === 'object' ? image : { dockerfile: 'Dockerfile', context: '.', push: true };
    steps.push({ name: 'image', command: '', env: {}, always: false, requires: ['buildctl'], image: settings });
  }
  return { ok: true, plan: { source, steps, timeoutMs: pipeline?.timeout ? durationSeconds(pipeline.timeout) * 1000 : undefined, env: pipeline?.env ?? {} } };
}

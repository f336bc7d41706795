/**
 * Builds a folder the way Flux's kustomize-controller will, with `kubectl kustomize`, offline.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseYaml } from './documents.js';

/** The kubectl binary: $KUBECTL, else the one on PATH. */
export function kubectlBinary(): string {
  return process.env.KUBECTL ?? 'kubectl';
}

export interface KustomizeResult {
  readonly ok: boolean;
  /** The built objects (when ok). */
  readonly objects: unknown[];
  /** kubectl's error output (when not ok). */
  readonly error: string;
}

/** Runs `kubectl kustomize <folder>` and parses its output. */
export function kustomizeBuild(folder: string): KustomizeResult {
  if (!existsSync(join(folder, 'kustomization.yaml'))) return { ok: false, objects: [], error: `${folder} has no kustomization.yaml` };
  const run = spawnSync(kubectlBinary(), ['kustomize', folder], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.error) return { ok: false, objects: [], error: `cannot run ${kubectlBinary()}: ${run.error.message}` };
  if (run.status !== 0) return { ok: false, objects: [], error: run.stderr.trim() || `kubectl kustomize exited ${run.status}` };
  return { ok: true, objects: parseYaml(run.stdout, folder), error: '' };
}

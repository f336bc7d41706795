/**
 * Drift: how the committed generated files differ from a fresh synth.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { readdirSync } from 'node:fs';

export interface Drift {
  readonly path: string;
  /** missing: synth would write it; stale: synth would delete it; changed: synth would rewrite it. */
  readonly problem: 'missing' | 'stale' | 'changed';
}

function filesUnder(root: string, entry: string): string[] {
  const p = join(root, entry);
  if (!existsSync(p)) return [];
  if (!statSync(p).isDirectory()) return [entry];
  const out: string[] = [];
  const visit = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) visit(full);
      else out.push(relative(root, full));
    }
  };
  visit(p);
  return out;
}

/** Compares the generated roots under `root` with `expected` (relative path → text). */
export function findDrift(root: string, expected: ReadonlyMap<string, string>, roots: readonly string[]): Drift[] {
  const drift: Drift[] = [];
  const present = new Set(roots.flatMap((r) => filesUnder(root, r)));
  for (const [path, text] of expected) {
    if (!present.has(path)) drift.push({ path, problem: 'missing' });
    else if (readFileSync(join(root, path), 'utf8') !== text) drift.push({ path, problem: 'changed' });
  }
  for (const path of present) if (!expected.has(path)) drift.push({ path, problem: 'stale' });
  return drift.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** The message the drift test fails with. */
export function describeDrift(drift: readonly Drift[]): string {
  return `the committed generated files differ from a fresh synth — run \`npm run synth\` and commit the result:\n${drift.map((d) => `  ${d.problem}: ${d.path}`).join('\n')}`;
}

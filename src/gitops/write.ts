/**
 * Writes rendered files so that a failed synth changes nothing: everything goes to a temporary folder
 * next to the output first, then each generated root is swapped in. Files an earlier synth wrote that
 * the new one does not are gone afterwards (whole roots are replaced).
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * @param outDir repository root to write into
 * @param files relative path → text
 * @param roots top-level entries synth owns (folders or files); each is replaced as a whole
 */
export function writeTree(outDir: string, files: ReadonlyMap<string, string>, roots: readonly string[]): void {
  for (const path of files.keys()) {
    const top = path.split('/')[0];
    if (!roots.includes(top)) throw new Error(`internal: ${path} is outside the generated roots ${roots.join(', ')}`);
  }
  mkdirSync(outDir, { recursive: true });
  const stamp = `${process.pid}-${Date.now()}`;
  const staging = join(outDir, `.raibid-synth-${stamp}`);
  const retired = join(outDir, `.raibid-retired-${stamp}`);
  try {
    for (const [path, text] of files) {
      const target = join(staging, path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, text);
    }
    mkdirSync(retired);
    for (const root of roots) {
      const live = join(outDir, root);
      const fresh = join(staging, root);
      if (existsSync(live)) renameSync(live, join(retired, root));
      if (existsSync(fresh)) renameSync(fresh, live);
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
    rmSync(retired, { recursive: true, force: true });
  }
}

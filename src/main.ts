/**
 * npm run synth: reads raibid.yaml (or --config PATH / $RAIBID_CONFIG), synthesizes the stack and
 * writes the Flux repository (clusters/, infrastructure/, apps/), dist/, CAPACITY.md and
 * raibid.schema.json. On any error nothing is written and the exit code is 1.
 *
 *   --out DIR   write under DIR instead of the current folder
 */
import { resolve } from 'node:path';
import { ConfigError, configPath, loadConfig } from './config/loader.js';
import { synthesize } from './synth.js';
import { GENERATED_ROOTS } from './gitops/render.js';
import { writeTree } from './gitops/write.js';

function outDir(argv: readonly string[]): string {
  const i = argv.indexOf('--out');
  return resolve(i >= 0 && argv[i + 1] ? argv[i + 1] : '.');
}

function main(): number {
  const argv = process.argv.slice(2);
  try {
    const config = loadConfig(configPath(argv));
    const { files, summary } = synthesize(config);
    writeTree(outDir(argv), files, GENERATED_ROOTS);
    for (const line of summary) console.log(line);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) console.error(err.message);
    else console.error(`synth failed: ${err instanceof Error ? err.message : String(err)}`);
    console.error('No output file was changed.');
    return 1;
  }
}

process.exitCode = main();

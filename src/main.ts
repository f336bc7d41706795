/**
 * npm run synth [--config PATH] [--out DIR]: writes the Flux repository (clusters/, infrastructure/,
 * apps/), dist/, CAPACITY.md and raibid.schema.json. Exit code 1, and no file changed, on any error.
 */
import { runSynth } from './cli.js';

process.exitCode = runSynth(process.argv.slice(2));

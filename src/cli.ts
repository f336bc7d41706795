/**
 * The synth command as a function, so tests can run it in-process:
 * reads raibid.yaml (or --config PATH / $RAIBID_CONFIG), synthesizes, and writes every generated file
 * under --out DIR (default: the current folder). On any error nothing is written.
 */
import { resolve } from 'node:path';
import { ConfigError, configPath, readConfigText } from './config/loader.js';
import { synthesizeText } from './synth.js';
import { GENERATED_ROOTS } from './gitops/render.js';
import { writeTree } from './gitops/write.js';

export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const consoleIo: Io = { out: (l) => console.log(l), err: (l) => console.error(l) };

/** Runs synth; returns the process exit code. */
export function runSynth(argv: readonly string[], io: Io = consoleIo, env: NodeJS.ProcessEnv = process.env): number {
  try {
    const i = argv.indexOf('--out');
    const out = resolve(i >= 0 && argv[i + 1] ? argv[i + 1] : '.');
    const path = configPath(argv, env);
    const { files, summary } = path === undefined ? synthesizeText('', '(defaults)') : synthesizeText(readConfigText(path), path);
    writeTree(out, files, GENERATED_ROOTS);
    for (const line of summary) io.out(line);
    return 0;
  } catch (err) {
    io.err(err instanceof ConfigError ? err.message : `synth failed: ${err instanceof Error ? err.message : String(err)}`);
    io.err('No output file was changed.');
    return 1;
  }
}

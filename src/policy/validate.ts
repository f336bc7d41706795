/**
 * npm run validate [PATH…]: runs the validation gate over generated YAML. With no path, the Flux tree
 * of the current folder (clusters/, infrastructure/, apps/). Exit code 1 when anything is found.
 */
import { resolve } from 'node:path';
import { configPath, loadConfig } from '../config/loader.js';
import { formatFinding } from './finding.js';
import { runGate } from './gate.js';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const paths = argv.filter((a, i) => !a.startsWith('--') && argv[i - 1] !== '--config');
  const config = loadConfig(configPath(argv));
  const findings = await runGate({ config, repoRoot: process.cwd(), paths: paths.length ? paths.map((p) => resolve(p)) : undefined });
  for (const f of findings) console.error(formatFinding(f));
  console.log(findings.length === 0 ? 'validate: no problems found' : `validate: ${findings.length} problem(s)`);
  return findings.length === 0 ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`validate failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);

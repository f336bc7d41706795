/**
 * npm run bench: times synth + validation (schema, policy, kustomize) for the default config and for a
 * large one (50 agent pools in mixed modes). Several runs each; prints the medians and their ratio.
 *
 *   npm run bench -- --runs 7
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseConfig } from '../src/config/loader.js';
import { synthesize } from '../src/synth.js';
import { writeTree } from '../src/gitops/write.js';
import { GENERATED_ROOTS } from '../src/gitops/render.js';
import { runGate } from '../src/policy/gate.js';
import { largeConfig } from './configs.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function once(yaml: string): Promise<{ synth: number; validate: number; objects: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'raibid-bench-'));
  try {
    const t0 = performance.now();
    const config = parseConfig(yaml, 'bench.yaml');
    const { files } = synthesize(config);
    writeTree(dir, files, GENERATED_ROOTS);
    const t1 = performance.now();
    const findings = await runGate({ config, repoRoot: dir });
    const t2 = performance.now();
    if (findings.length > 0) throw new Error(`bench config does not pass the gate: ${findings.length} finding(s), first: ${findings[0].message}`);
    const objects = [...files.keys()].filter((p) => p.endsWith('.yaml') && !p.endsWith('kustomization.yaml') && !p.startsWith('dist/')).length;
    return { synth: t1 - t0, validate: t2 - t1, objects };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measure(label: string, yaml: string, runs: number) {
  await once(yaml); // warm-up: module loading and the TypeScript program behind the schema check
  const results = [];
  for (let i = 0; i < runs; i++) results.push(await once(yaml));
  const synth = median(results.map((r) => r.synth));
  const validate = median(results.map((r) => r.validate));
  console.log(`${label.padEnd(16)} ${String(results[0].objects).padStart(5)} objects  synth ${synth.toFixed(0).padStart(6)} ms  validate ${validate.toFixed(0).padStart(6)} ms  total ${(synth + validate).toFixed(0).padStart(6)} ms  (median of ${runs})`);
  return synth + validate;
}

async function main() {
  const i = process.argv.indexOf('--runs');
  const runs = i >= 0 ? Number(process.argv[i + 1]) : 5;
  const small = await measure('default config', '', runs);
  const large = await measure('50 agent pools', largeConfig(), runs);
  console.log(`ratio 50 pools / default: ${(large / small).toFixed(2)}×`);
}

await main();

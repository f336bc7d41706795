import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSynth } from '../src/cli.js';
import { synthesize } from '../src/synth.js';
import { GENERATED_HEADER } from '../src/gitops/render.js';
import { config, removeTemp, synthFiles, synthToTemp } from './helpers.js';

const quiet = { out: () => {}, err: () => {} };

describe('synth', () => {
  it('is deterministic byte for byte', () => {
    const a = synthesize(config()).files;
    const b = synthesize(config()).files;
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [k, v] of a) expect(b.get(k), k).toBe(v);
  });

  it('lays out the Flux repository with a kustomization.yaml in every folder', () => {
    const files = [...synthFiles().keys()];
    expect(files).toContain('clusters/dgx-spark/kustomization.yaml');
    for (const layer of ['infrastructure/controllers', 'infrastructure/configs', 'apps']) expect(files).toContain(`${layer}/kustomization.yaml`);
    const folders = new Set(files.filter((f) => /^(clusters|infrastructure|apps)\//.test(f)).map((f) => f.slice(0, f.lastIndexOf('/'))));
    for (const folder of folders) expect(files, folder).toContain(`${folder}/kustomization.yaml`);
  });

  it('starts every generated YAML file with the generated header', () => {
    for (const [path, text] of synthFiles()) if (path.endsWith('.yaml')) expect(text.startsWith(`${GENERATED_HEADER}\n`), path).toBe(true);
  });

  it('uses no cdk8s hash suffixes in object names or file names', () => {
    for (const path of synthFiles().keys()) expect(path, path).not.toMatch(/-c8[0-9a-f]{6}\b/);
    for (const [path, text] of synthFiles()) expect(text, path).not.toMatch(/name: \S+-c8[0-9a-f]{6}\s/);
  });

  it('names the cluster folder after the configured cluster', () => {
    expect([...synthFiles('cluster:\n  name: lab\n').keys()].some((p) => p.startsWith('clusters/lab/'))).toBe(true);
  });
});

describe('writing the output', () => {
  let dir: string;
  beforeAll(() => {
    dir = synthToTemp();
  });
  afterAll(() => removeTemp(dir));

  it('removes files an earlier synth wrote and this one does not, and leaves other files alone', () => {
    writeFileSync(join(dir, 'apps', 'deployment-renamed.yaml'), 'stale\n');
    mkdirSync(join(dir, 'src'), { recursive: true });
    writeFileSync(join(dir, 'src', 'keep.ts'), 'export {};\n');
    expect(runSynth(['--out', dir], quiet, {})).toBe(0);
    expect(existsSync(join(dir, 'apps', 'deployment-renamed.yaml'))).toBe(false);
    expect(readFileSync(join(dir, 'src', 'keep.ts'), 'utf8')).toBe('export {};\n');
  });

  it('leaves no temporary folders behind', () => {
    expect(runSynth(['--out', dir], quiet, {})).toBe(0);
    expect(spawnSync('ls', ['-a', dir], { encoding: 'utf8' }).stdout).not.toMatch(/\.raibid-(synth|retired)-/);
  });
});

describe('npm run synth (the real command)', () => {
  let dir: string;
  beforeAll(() => {
    dir = synthToTemp();
  });
  afterAll(() => removeTemp(dir));

  it('exits 0 and prints a summary', () => {
    const run = spawnSync('npx', ['tsx', 'src/main.ts', '--out', dir], { encoding: 'utf8', env: { ...process.env, RAIBID_CONFIG: '' } });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^synthesized \d+ objects for cluster dgx-spark/m);
  });

  it('exits 1 on an invalid config and says nothing changed', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'node:\n  arch: sparc\n');
    const run = spawnSync('npx', ['tsx', 'src/main.ts', '--config', bad, '--out', dir], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`${bad}: node.arch: expected one of "arm64", "amd64", got "sparc"`);
    expect(run.stderr).toContain('No output file was changed.');
  });
});

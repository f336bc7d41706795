/**
 * Generated configs: random mutations of valid raibid.yaml files (seeded, so a failure reproduces). Each
 * mutation is either refused with every problem naming a key path (or a line of the file), never with a
 * raw exception, or it synthesizes to a tree that passes the gate's policy checks (the whole gate,
 * schemas and kustomize builds included, runs on a sample: its first run loads every schema, ~10 s).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, inspectConfig, parseConfig } from '../src/config/loader.js';
import { raibidSchema } from '../src/config/schema.js';
import { synthesizeText, type SynthResult } from '../src/synth.js';
import { checkPolicies } from '../src/policy/rules/index.js';
import { runGate } from '../src/policy/gate.js';
import { isKustomizeConfig, parseYaml, type LoadedDocument } from '../src/policy/documents.js';
import { formatFinding } from '../src/policy/finding.js';
import { writeTree } from '../src/gitops/write.js';
import { GENERATED_ROOTS } from '../src/gitops/render.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SEED = 0x5eed14;
const MUTATIONS = 200;
/** One refused mutation in this many also runs the whole synth path (a synth takes ~0.2 s; the config checks alone ~3 ms). */
const REFUSED_SYNTH_EVERY = 12;
/** Accepted mutations also checked with the whole gate (kustomize builds take seconds each). */
const FULL_GATE_SAMPLE = 1;

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASES: readonly string[] = [
  '',
  [
    'cluster:',
    '  nodeAddress: 192.168.1.50',
    'agents:',
    '  pools:',
    '    - name: rust',
    '      stream: ci-jobs',
    '    - name: lint',
    '      mode: pooled',
    '      slots: 2',
    '      minReplicas: 1',
    '      maxReplicas: 2',
    '      cpu: "1"',
    '      cpuLimit: "2"',
    '      memory: 2Gi',
    '    - name: once',
    '      mode: direct',
    '      maxReplicas: 1',
    'mirrors:',
    '  sources:',
    '    - from: github.com/example/tool',
    '    - from: github.com/example',
    '      include: ["^lib-"]',
    '',
  ].join('\n'),
];

/** Values a careless or hostile user might write anywhere. */
const NASTY: readonly unknown[] = [
  0, -1, 1, 1.5, 1e308, 65536, 6443, 10250, 80, 2222, '0', '-1', '0s', '0Gi', '0m', '1e400', '9'.repeat(400), `${'9'.repeat(400)}Gi`, `${'9'.repeat(40)}d`,
  '', ' ', 'a'.repeat(300), 'kube-system', 'default', 'flux-system', 'ci', 'Upper_Case', '../etc', 'main; rm -rf /', '$(reboot)', 'a..b', '@{-1}', 'HEAD',
  'name::tag', 'redis:latest', 'redis', 'ftp://x', 'http://', '* * * *', '61 * * * *', '10.42.0.0/16', '10.0.0.0/33', '999.1.1.1', 'raibid-admin', 'admin@dgx.local',
  true, false, null, [], {}, ['x'], { x: 1 }, '1Pi', '2Pi', '1Ki', '100m', '1.5Gi', 'auto',
];

type Json = Record<string, unknown> | unknown[];

/** Every path to a value in a plain object (leaves and containers). */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (at.length > 0) out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

function setAt(root: Json, path: readonly (string | number)[], value: unknown): void {
  let cur = root as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (value === undefined && !Array.isArray(cur)) delete cur[last];
  else cur[last] = value;
}

/** One mutated config text, and what was done, for the failure message. */
function mutate(random: () => number, base: string): { text: string; what: string } {
  // Start from the full config with every default written out, so every key can be hit.
  const full = JSON.parse(JSON.stringify(raibidSchema.parse(base ? (parseYaml(base, 'base')[0] ?? {}) : {}))) as Json;
  const all = paths(full);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const what: string[] = [];
  for (let n = 1 + Math.floor(random() * 2); n > 0; n--) {
    const path = pick(all);
    const roll = random();
    const value = roll < 0.08 ? undefined : roll < 0.12 ? { bogus: 1 } : pick(NASTY);
    setAt(full, path, value);
    what.push(`${path.join('.')} = ${JSON.stringify(value)?.slice(0, 40)}`);
  }
  return { text: stringify(full), what: what.join('; ') };
}

/** A problem line: `<key path>: …`, `line N: …` or `(top level): …`. */
const KEY_LINE = /^(line \d+|\(top level\)|[A-Za-z][\w-]*(?:\.[\w-]+|\[\d+\])*(?:…[^:]*)?): \S/;

function docsOf(result: SynthResult): LoadedDocument[] {
  const docs: LoadedDocument[] = [];
  for (const [file, text] of result.files) {
    if (!file.endsWith('.yaml') || !/^(clusters|infrastructure|apps)\//.test(file)) continue;
    parseYaml(text, file).forEach((doc, i) => docs.push({ where: `${file}#${i}`, file, doc }));
  }
  return docs;
}

describe(`generated configs (${MUTATIONS} seeded mutations of valid configs)`, () => {
  const random = prng(SEED);
  const accepted: { text: string; result: SynthResult }[] = [];
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  /** synth's answer to a text: the result, or the problems of the ConfigError (any other exception fails the test). */
  const synth = (text: string, what: string): SynthResult | readonly string[] => {
    try {
      return synthesizeText(text, 'raibid.yaml');
    } catch (e) {
      expect(e, `${what} threw a raw ${(e as Error).name}: ${(e as Error).message}\n${(e as Error).stack}`).toBeInstanceOf(ConfigError);
      return (e as ConfigError).problems;
    }
  };

  it('refuses each with every problem naming a key, or synthesizes a tree that passes the policy checks', () => {
    let refused = 0;
    let synthesized = 0;
    for (let i = 0; i < MUTATIONS; i++) {
      const { text, what } = mutate(random, BASES[i % BASES.length]);
      const label = `mutation ${i} (${what})`;
      const inspected = inspectConfig(text);
      // Refused configs go through the whole synth path (capacity included) one time in REFUSED_SYNTH_EVERY.
      if (inspected.problems.length > 0 && refused++ % REFUSED_SYNTH_EVERY !== 0) {
        for (const p of inspected.problems) expect(p, label).toMatch(KEY_LINE);
        continue;
      }
      synthesized++;
      const out = synth(text, label);
      if (Array.isArray(out)) {
        expect(out.length, label).toBeGreaterThan(0);
        for (const p of out) expect(p, label).toMatch(KEY_LINE);
        continue;
      }
      const result = out as SynthResult;
      const docs = docsOf(result).filter((d) => !isKustomizeConfig(d.doc));
      expect(checkPolicies(docs, parseConfig(text)).map(formatFinding), `${label} was accepted but its tree fails the policy checks`).toEqual([]);
      accepted.push({ text, result });
    }
    // The mutations must exercise both outcomes, or the test proves little.
    expect(refused).toBeGreaterThan(MUTATIONS / 4);
    expect(accepted.length).toBeGreaterThan(5);
    expect(synthesized).toBeLessThan(MUTATIONS);
  }, 60_000);

  it('passes the whole gate (schemas and kustomize builds included) on a sample of the accepted ones', async () => {
    for (const { text, result } of accepted.slice(-FULL_GATE_SAMPLE)) {
      const dir = mkdtempSync(join(tmpdir(), 'raibid-mutation-'));
      dirs.push(dir);
      writeTree(dir, result.files, GENERATED_ROOTS);
      expect((await runGate({ config: parseConfig(text), repoRoot: dir })).map(formatFinding), text).toEqual([]);
    }
  }, 60_000);
});

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configPath, defaultConfig, parseConfig } from '../src/config/loader.js';
import { runSynth } from '../src/cli.js';
import { synthesizeText } from '../src/synth.js';
import { yamlFiles } from '../src/policy/documents.js';
import { imageSource } from '../src/images/inputs.js';
import { configProblems, removeTemp, synthToTemp } from './helpers.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'invalid-config');

function treeHash(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of yamlFiles(dir)) out.set(f, createHash('sha256').update(readFileSync(f)).digest('hex'));
  for (const f of ['CAPACITY.md', 'raibid.schema.json']) {
    try {
      out.set(f, createHash('sha256').update(readFileSync(join(dir, f))).digest('hex'));
    } catch {
      /* not generated yet */
    }
  }
  return out;
}

const problems = configProblems;

describe('config defaults (the DGX Spark)', () => {
  const c = defaultConfig();
  it('names the cluster dgx-spark on dgx.local', () => {
    expect([c.cluster.name, c.cluster.domain]).toEqual(['dgx-spark', 'dgx.local']);
  });
  it('describes an arm64 node with 20 cores and 128 GiB', () => {
    expect([c.node.arch, c.node.cpu, c.node.memory]).toEqual(['arm64', 20, '128Gi']);
  });
  it('holds back a system and a kube reservation', () => {
    expect([c.node.systemReserved, c.node.kubeReserved]).toEqual([
      { cpu: '1', memory: '4Gi' },
      { cpu: '1', memory: '2Gi' },
    ]);
  });
  it('uses the ci, infrastructure and monitoring namespaces', () => {
    expect(c.namespaces).toMatchObject({ ci: 'ci', infrastructure: 'infrastructure', monitoring: 'monitoring' });
  });
  it('has one ephemeral rust pool on ci-jobs / ci-workers with 2 CPU and 4 GiB', () => {
    expect(c.agents.pools).toHaveLength(1);
    expect(c.agents.pools[0]).toMatchObject({ name: 'rust', mode: 'ephemeral', stream: 'ci-jobs', group: 'ci-workers', cpu: '2', memory: '4Gi', timeout: '30m' });
  });
  it('runs the images raibid-ci builds, from the admin\'s namespace of the in-cluster registry, tagged with their content', () => {
    expect(c.agents.pools[0].image).toBe(`gitea.dgx.local/raibid-admin/agent-rust:${imageSource('agent-rust').tag}`);
    expect(c.agents.pools[0].toolchain).toBe('rust');
    expect(c.api.image).toBe(`gitea.dgx.local/raibid-admin/raibid-api:${imageSource('raibid-api').tag}`);
    expect(c.images.built.map((i) => i.ref)).toEqual([c.api.image, c.agents.pools[0].image]);
  });
  it('builds only the images some workload runs, each once', () => {
    const own = parseConfig('api:\n  image: registry.example/ci/api:1.0.0\nagents:\n  pools:\n    - name: a\n    - name: b\n    - name: c\n      image: registry.example/ci/agent:2.0.0\n');
    expect(own.images.built.map((i) => i.name)).toEqual(['agent-rust']);
    expect(own.agents.pools.map((p) => p.toolchain)).toEqual(['rust', 'rust', undefined]);
  });
  it('derives the stream of a pool from its name when unset', () => {
    expect(parseConfig('agents:\n  pools:\n    - name: go\n').agents.pools[0].stream).toBe('ci-go');
  });
});

describe('config validation', () => {
  it('fails on every problem at once, each with its key path, the value and what is allowed', () => {
    const text = 'agents:\n  pools:\n    - name: rust\n      maxReplicas: ten\n      bogus: 1\nredis:\n  storage: lots\n';
    expect(() => parseConfig(text)).toThrowErrorMatchingSnapshot();
  });

  it('fails on an unknown key and lists the keys allowed there', () => {
    expect(problems('cluster:\n  domian: x\n')).toEqual(['cluster.domian: unknown key (allowed here: name, domain, nodeAddress)']);
  });

  it('fails on a pool that names both its own image and a toolchain', () => {
    expect(problems('agents:\n  pools:\n    - name: rust\n      image: registry.example/ci/agent:1.2.0\n      toolchain: rust\n')).toEqual([
      'agents.pools[0].toolchain: "rust" names an image raibid-ci builds, but image is set too ("registry.example/ci/agent:1.2.0"); keep one of them',
    ]);
  });

  it('fails on the default images without BuildKit, which builds them', () => {
    expect(problems('buildkit:\n  enabled: false\n')).toEqual([
      'buildkit.enabled: false, but api, agents.pools[0] run an image raibid-ci builds in the cluster with BuildKit; enable buildkit, or set api.image, agents.pools[0].image to images you build and push yourself',
    ]);
  });

  it('fails on an images namespace shared with the agents or BuildKit', () => {
    expect(problems('namespaces:\n  images: ci\n')).toEqual([
      'namespaces.images: "ci" is also namespaces.ci; each role needs a namespace of its own, since the Pod Security level, labels and network policies are per namespace (namespaces.images: the image builds, which hold the package token; namespaces.ci: agents and the API)',
    ]);
  });

  it('fails on a contradiction: an agent larger than the node', () => {
    expect(problems('agents:\n  pools:\n    - name: big\n      memory: 200Gi\n')[0]).toMatch(/^agents\.pools\[0\]\.memory: one agent requests "200Gi" but the node has only \S+ plannable \(node\.memory less 10%, reservations and eviction\)/);
  });

  it('reads --config, then $RAIBID_CONFIG, then ./raibid.yaml', () => {
    expect(configPath(['--config', 'a.yaml'], { RAIBID_CONFIG: 'b.yaml' })).toBe('a.yaml');
    expect(configPath(['--config=c.yaml'], {})).toBe('c.yaml');
    expect(configPath([], { RAIBID_CONFIG: 'b.yaml' })).toBe('b.yaml');
  });
});

describe('the README\'s example of a refused config', () => {
  it('is what synth prints for 69-every-problem-in-one-run.yaml', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const example = /```\n(raibid\.yaml is invalid \(\d+ problems?\):\n(?: {2}raibid\.yaml: .+\n)+)```/.exec(readme)?.[1];
    expect(example, 'README.md shows an example of a refused config').toBeTruthy();
    const fixture = readFileSync(join(FIXTURES, '69-every-problem-in-one-run.yaml'), 'utf8');
    let actual = '';
    try {
      synthesizeText(fixture, 'raibid.yaml');
    } catch (e) {
      actual = (e as Error).message;
    }
    const lines = example!.trimEnd().split('\n');
    expect(actual.split('\n').slice(0, lines.length).length).toBe(lines.length);
    actual
      .split('\n')
      .slice(0, lines.length)
      // "…" in the README stands for any text (numbers that follow the platform's requests, the rest of a long line).
      .forEach((line, i) => expect(line).toMatch(new RegExp(`^${lines[i].replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/…/g, '.*')}`)));
  });
});

describe('invalid config corpus (test/fixtures/invalid-config)', () => {
  const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml')).sort();
  let out: string;
  let before: Map<string, string>;

  beforeAll(() => {
    out = synthToTemp();
    writeFileSync(join(out, 'apps', 'marker.yaml'), '# an earlier file that a failed synth must not remove\n');
    before = treeHash(out);
  });
  afterAll(() => removeTemp(out));

  it('has at least 20 fixtures', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(20);
  });

  for (const fixture of fixtures) {
    it(`fails on ${fixture}, naming the key, and changes no output file`, () => {
      const path = join(FIXTURES, fixture);
      const text = readFileSync(path, 'utf8');
      const expected = [...text.matchAll(/^# expect: (.+)$/gm)].map((m) => m[1]);
      expect(expected.length, `${fixture} needs a "# expect: <key path>: <start of the message>" line`).toBeGreaterThan(0);
      const errors: string[] = [];
      const code = runSynth(['--config', path, '--out', out], { out: () => {}, err: (l) => errors.push(l) });
      expect(code).toBe(1);
      const message = errors.join('\n');
      // Every expected problem, in this one run, each on a line of its own that starts with its key.
      for (const e of expected) expect(message).toContain(`${path}: ${e}`);
      expect(message).toContain('No output file was changed.');
      expect(message).not.toMatch(/\n\s+at \S+ \(/); // no stack trace
      // No value is echoed in full when it is huge (the fixtures' longest value is 500 characters).
      for (const line of message.split('\n')) expect(line.length, line.slice(0, 120)).toBeLessThan(700);
      expect(treeHash(out)).toEqual(before);
    });
  }
});

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGate } from '../src/policy/gate.js';
import { formatFinding } from '../src/policy/finding.js';
import { config, removeTemp, synthToTemp } from './helpers.js';
import { largeConfig } from '../bench/configs.js';

const MANY_POOLS = `agents:\n  pools:\n${Array.from({ length: 12 }, (_, i) => `    - name: pool${i}\n      mode: ${['ephemeral', 'pooled', 'direct'][i % 3]}\n      cpu: "1"\n      memory: 2Gi\n      maxReplicas: 1\n`).join('')}`;

describe('validation gate on the synthesized tree', () => {
  for (const [label, yaml] of [
    ['the default config', ''],
    ['a many-pool config in mixed modes', MANY_POOLS],
    ['the 50-pool benchmark config', largeConfig()],
  ] as const) {
    describe(label, () => {
      let dir: string;
      beforeAll(() => {
        dir = synthToTemp(yaml);
      });
      afterAll(() => removeTemp(dir));

      it('passes schema, policy and kustomize checks with no findings', async () => {
        const findings = await runGate({ config: config(yaml), repoRoot: dir });
        expect(findings.map(formatFinding)).toEqual([]);
      });
    });
  }
});

describe('npm run validate on part of a tree', () => {
  let dir: string;
  beforeAll(() => {
    dir = synthToTemp();
  });
  afterAll(() => removeTemp(dir));

  it('checks only the given folder, with the rest of the tree as context', async () => {
    const findings = await runGate({ config: config(), repoRoot: dir, paths: [join(dir, 'apps/agents')] });
    expect(findings.map(formatFinding)).toEqual([]);
  });

  it('exits 1 and names the object, path and rule when the folder is broken', () => {
    const file = join(dir, 'apps/agents/scaledjob-agent-rust.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('backoffLimit: 0', 'backoffLimit: 0\n    backofLimit: 1'));
    const tsx = join(import.meta.dirname, '../node_modules/.bin/tsx');
    const run = spawnSync(tsx, [join(import.meta.dirname, '../src/policy/validate.ts'), 'apps/agents'], { cwd: dir, encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('apps/agents/scaledjob-agent-rust.yaml#0: ScaledJob/agent-rust: spec.jobTargetRef.backofLimit: unknown field "backofLimit"');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGate } from '../src/policy/gate.js';
import { formatFinding } from '../src/policy/finding.js';
import { config, removeTemp, synthToTemp } from './helpers.js';

const MANY_POOLS = `agents:\n  pools:\n${Array.from({ length: 12 }, (_, i) => `    - name: pool${i}\n      mode: ${['ephemeral', 'pooled', 'direct'][i % 3]}\n      cpu: "1"\n      memory: 2Gi\n      maxReplicas: 1\n`).join('')}`;

describe('validation gate on the synthesized tree', () => {
  for (const [label, yaml] of [
    ['the default config', ''],
    ['a many-pool config in mixed modes', MANY_POOLS],
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

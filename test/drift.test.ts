import { existsSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/loader.js';
import { synthesize } from '../src/synth.js';
import { describeDrift, findDrift } from '../src/gitops/drift.js';
import { GENERATED_HEADER, GENERATED_ROOTS } from '../src/gitops/render.js';
import { removeTemp, synthFiles, synthToTemp } from './helpers.js';

const REPO = join(import.meta.dirname, '..');

describe('committed Flux tree', () => {
  it('is exactly what a fresh synth produces (otherwise: run npm run synth and commit)', () => {
    const own = join(REPO, 'raibid.yaml');
    const config = loadConfig(existsSync(own) ? own : undefined);
    const drift = findDrift(REPO, synthesize(config).files, GENERATED_ROOTS);
    if (drift.length > 0) throw new Error(describeDrift(drift));
  });
});

describe('drift detection', () => {
  let dir: string;
  beforeAll(() => {
    dir = synthToTemp();
  });
  afterAll(() => removeTemp(dir));

  it('finds nothing in a fresh synth', () => {
    expect(findDrift(dir, synthFiles(), GENERATED_ROOTS)).toEqual([]);
  });

  it('fails on a stale committed file, a changed one and a missing one', () => {
    writeFileSync(join(dir, 'apps', 'deployment-old.yaml'), `${GENERATED_HEADER}\nkind: Deployment\n`);
    writeFileSync(join(dir, 'clusters/dgx-spark/kustomization-apps.yaml'), `${GENERATED_HEADER}\n# edited\n`);
    rmSync(join(dir, 'infrastructure/controllers/namespaces/namespace-ci.yaml'));
    const drift = findDrift(dir, synthFiles(), GENERATED_ROOTS);
    expect(drift).toEqual([
      { path: 'apps/deployment-old.yaml', problem: 'stale' },
      { path: 'clusters/dgx-spark/kustomization-apps.yaml', problem: 'changed' },
      { path: 'infrastructure/controllers/namespaces/namespace-ci.yaml', problem: 'missing' },
    ]);
    expect(describeDrift(drift)).toMatch(/^the committed generated files differ from a fresh synth — run `npm run synth`/);
  });
});

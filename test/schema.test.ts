import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateSchema } from '../src/policy/schema.js';
import { kindCatalogue } from '../src/policy/kinds.js';
import { runGate } from '../src/policy/gate.js';
import { GENERATED_HEADER } from '../src/gitops/render.js';
import { config, removeTemp, synthToTemp } from './helpers.js';

const deployment = () => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'ci' },
  spec: {
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27.3', ports: [{ containerPort: 8080 }] }] } },
  },
});

const messages = async (doc: unknown) => (await validateSchema(doc, 'test')).map((f) => `${f.path}: ${f.message}`);

describe('strict schema validation', () => {
  it('knows the core, Flux and KEDA kinds', () => {
    const kinds = kindCatalogue();
    for (const k of ['apps/v1/Deployment', 'v1/ConfigMap', 'kustomize.toolkit.fluxcd.io/v1/Kustomization', 'helm.toolkit.fluxcd.io/v2/HelmRelease', 'keda.sh/v1alpha1/ScaledJob', 'keda.sh/v1alpha1/TriggerAuthentication']) {
      expect(kinds.has(k), k).toBe(true);
    }
  });

  it('accepts a valid object', async () => {
    expect(await messages(deployment())).toEqual([]);
  });

  it('fails on a misspelled field at any depth, naming the allowed ones', async () => {
    const d = deployment() as any;
    d.spec.template.spec.containers[0].imagePullPolicyy = 'Always';
    const [first] = await messages(d);
    expect(first).toMatch(/^spec\.template\.spec\.containers\[0\]\.imagePullPolicyy: unknown field "imagePullPolicyy" \(allowed: .*imagePullPolicy.*\)$/);
  });

  it('fails on a wrong type', async () => {
    const d = deployment() as any;
    d.spec.template.spec.containers[0].ports[0].containerPort = '8080';
    expect(await messages(d)).toEqual(['spec.template.spec.containers[0].ports[0].containerPort: expected a number, got string "8080"']);
  });

  it('fails on a value outside an enum', async () => {
    const d = deployment() as any;
    d.spec.template.spec.containers[0].imagePullPolicy = 'Sometimes';
    expect(await messages(d)).toEqual(['spec.template.spec.containers[0].imagePullPolicy: expected one of "Always", "IfNotPresent", "Never", got string "Sometimes"']);
  });

  it('fails on a container without an image', async () => {
    const d = deployment() as any;
    delete d.spec.template.spec.containers[0].image;
    expect(await messages(d)).toEqual(['spec.template.spec.containers[0].image: required field is missing']);
  });

  it('fails on a missing required field', async () => {
    const d = deployment() as any;
    delete d.spec.selector;
    expect(await messages(d)).toContain('spec.selector: required field is missing');
  });

  it('fails on an unknown kind instead of skipping it', async () => {
    expect(await messages({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })).toEqual([
      'kind: unknown apiVersion/kind "example.com/v1/Widget": not a kind of Kubernetes, Flux or KEDA known to the validator',
    ]);
  });

  it('fails on an unknown field in a Flux object', async () => {
    const k = { apiVersion: 'kustomize.toolkit.fluxcd.io/v1', kind: 'Kustomization', metadata: { name: 'x' }, spec: { interval: '1m', prune: true, sourceRef: { kind: 'GitRepository', name: 'x' }, dependOn: [] } };
    expect((await messages(k))[0]).toMatch(/^spec\.dependOn: unknown field "dependOn"/);
  });

  it('accepts anything inside free-form JSON (Helm values) but not beside it', async () => {
    const release = (extra: Record<string, unknown>) => ({
      apiVersion: 'helm.toolkit.fluxcd.io/v2',
      kind: 'HelmRelease',
      metadata: { name: 'keda' },
      spec: { interval: '10m', chart: { spec: { chart: 'keda', sourceRef: { kind: 'HelmRepository', name: 'kedacore' } } }, values: { any: { nested: ['thing', 1] } }, ...extra },
    });
    expect(await messages(release({}))).toEqual([]);
    expect((await messages(release({ value: {} })))[0]).toMatch(/^spec\.value: unknown field "value"/);
  });

  it('fails on an unknown field in a KEDA trigger', async () => {
    const s = { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledJob', metadata: { name: 's' }, spec: { jobTargetRef: { template: { spec: { containers: [{ name: 'a', image: 'a:1' }] } } }, triggers: [{ type: 'redis-streams', metadata: { stream: 'x' }, authenticationRef: { name: 'a' }, secret: 'x' }] } };
    expect((await messages(s))[0]).toMatch(/^spec\.triggers\[0\]\.secret: unknown field "secret"/);
  });
});

describe('validation gate on a broken tree', () => {
  let dir: string;
  beforeAll(() => {
    dir = synthToTemp();
  });
  afterAll(() => removeTemp(dir));
  const gate = async () => (await runGate({ config: config(), repoRoot: dir })).map((f) => `${f.rule} ${f.where}`);

  it('fails on a broken kustomization', async () => {
    const file = join(dir, 'infrastructure/controllers/namespaces/kustomization.yaml');
    const before = readFileSync(file, 'utf8');
    writeFileSync(file, before.replace('- namespace-ci.yaml', '- namespace-cii.yaml'));
    try {
      const found = await gate();
      expect(found.some((f) => f.startsWith('kustomize-build clusters/dgx-spark/kustomization-infra-controllers.yaml'))).toBe(true);
    } finally {
      writeFileSync(file, before);
    }
  });

  it('fails on a hand-edited file without the generated header', async () => {
    const file = join(dir, 'infrastructure/controllers/namespaces/namespace-ci.yaml');
    const before = readFileSync(file, 'utf8');
    writeFileSync(file, before.replace(`${GENERATED_HEADER}\n`, ''));
    try {
      expect(await gate()).toContain('generated-header infrastructure/controllers/namespaces/namespace-ci.yaml');
    } finally {
      writeFileSync(file, before);
    }
  });

  it('passes again once repaired', async () => {
    expect((await gate()).filter((f) => !f.startsWith('exception-unused'))).toEqual([]);
  });
});

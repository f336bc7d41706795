/**
 * The secret contract: the Secrets (namespace, name, keys) the synthesized manifests refer to are
 * exactly the Secrets the Pulumi bootstrap creates. No reference without a Secret (a pod stuck in
 * CreateContainerConfigError), no Secret nobody reads (a credential lying around).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeSnapshot, installMocks, type Registered, settle, unwrapSecrets, writeKeyFile } from './bootstrap-harness.js';
import { allObjects, config, removeTemp, synthToTemp } from './helpers.js';
import { secretReferences, type SecretReference } from './secret-references.js';
import { SECRETS, secretNamespace } from '../src/secrets/catalog.js';
import { BOOTSTRAP_BUNDLE } from '../src/gitops/render.js';
import { parseYaml } from '../src/policy/documents.js';

const c = config();
let resources: Registered[];
let dir: string;
let keyDir: string;

/** (namespace, name) → keys, for every Secret the bootstrap program creates. */
function createdSecrets(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const r of resources.filter((x) => x.type === 'kubernetes:core/v1:Secret')) {
    const { metadata, stringData, data } = unwrapSecrets(r.inputs) as { metadata: { name: string; namespace: string }; stringData?: object; data?: object };
    out.set(`${metadata.namespace}/${metadata.name}`, new Set([...Object.keys(stringData ?? {}), ...Object.keys(data ?? {})]));
  }
  return out;
}

function referencedSecrets(): SecretReference[] {
  const bundle = parseYaml(readFileSync(join(dir, BOOTSTRAP_BUNDLE), 'utf8'), BOOTSTRAP_BUNDLE) as Record<string, unknown>[];
  return secretReferences([...allObjects(), ...bundle], c.namespaces.keda);
}

beforeAll(async () => {
  resources = await installMocks();
  dir = synthToTemp();
  keyDir = mkdtempSync(join(tmpdir(), 'raibid-key-'));
  pulumi.runtime.setAllConfig({ 'raibid-ci:host': '192.168.1.50', 'raibid-ci:sshUser': 'ubuntu', 'raibid-ci:sshKeyPath': writeKeyFile(keyDir) });
  const program = await import('../src/bootstrap/program.js');
  // The real synth output, read the way `pulumi up` reads it.
  program.runBootstrap(program.loadInputs({ root: dir, snapshot: fakeSnapshot }));
  await settle();
});

afterAll(() => {
  removeTemp(dir);
  rmSync(keyDir, { recursive: true, force: true });
});

describe('secret contract', () => {
  it('creates every Secret and key the synthesized manifests refer to', () => {
    const created = createdSecrets();
    const missing = referencedSecrets()
      .filter((r) => {
        const keys = created.get(`${r.namespace}/${r.name}`);
        return !keys || (r.key !== '*' && !keys.has(r.key));
      })
      .map((r) => `${r.namespace}/${r.name}[${r.key}] (${r.where})`);
    expect(missing).toEqual([]);
  });

  it('creates no Secret or key that nothing refers to', () => {
    const refs = referencedSecrets();
    const extra: string[] = [];
    for (const [id, keys] of createdSecrets()) {
      for (const key of keys) {
        if (!refs.some((r) => `${r.namespace}/${r.name}` === id && (r.key === key || r.key === '*'))) extra.push(`${id}[${key}]`);
      }
    }
    expect(extra.sort()).toEqual([]);
  });

  it('creates the GitHub token Secret of the mirrors even without the stack setting (empty, a secret)', async () => {
    const r = resources.find((x) => x.type === 'kubernetes:core/v1:Secret' && (x.inputs.metadata as { name?: string })?.name === 'github-mirror');
    expect(r).toBeDefined();
    expect((unwrapSecrets(r!.inputs) as { stringData: Record<string, string> }).stringData).toEqual({ token: '' });
  });

  it('creates exactly the catalogue, each Secret in its namespace', () => {
    const expected = new Map(SECRETS.map((s) => [`${secretNamespace(c, s)}/${s.name}`, new Set(Object.keys(s.keys))]));
    expect(createdSecrets()).toEqual(expected);
  });
});

describe('secret reference scanner', () => {
  const pod = (spec: object) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'ci' }, spec: { template: { spec } } });

  it('finds references of every form', () => {
    const objs = [
      pod({
        imagePullSecrets: [{ name: 'pull' }],
        containers: [{ name: 'c', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'env', key: 'a' } } }], envFrom: [{ secretRef: { name: 'envfrom' } }] }],
        volumes: [
          { name: 'v1', secret: { secretName: 'whole' } },
          { name: 'v2', secret: { secretName: 'some', items: [{ key: 'k1', path: 'p' }] } },
          { name: 'v3', projected: { sources: [{ secret: { name: 'proj', items: [{ key: 'k2', path: 'q' }] } }, { secret: { name: 'projall' } }] } },
        ],
      }),
      { apiVersion: 'keda.sh/v1alpha1', kind: 'TriggerAuthentication', metadata: { name: 't', namespace: 'ci' }, spec: { secretTargetRef: [{ parameter: 'password', name: 'redis-keda', key: 'password' }] } },
      { apiVersion: 'keda.sh/v1alpha1', kind: 'ClusterTriggerAuthentication', metadata: { name: 'ct' }, spec: { secretTargetRef: [{ parameter: 'username', name: 'cluster-keda', key: 'username' }] } },
      { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'GitRepository', metadata: { name: 'g', namespace: 'flux-system' }, spec: { secretRef: { name: 'git' } } },
      { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'HelmRepository', metadata: { name: 'h', namespace: 'flux-system' }, spec: { secretRef: { name: 'helm' } } },
      { apiVersion: 'helm.toolkit.fluxcd.io/v2', kind: 'HelmRelease', metadata: { name: 'r', namespace: 'keda' }, spec: { valuesFrom: [{ kind: 'Secret', name: 'values' }, { kind: 'ConfigMap', name: 'cm' }] } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sa', namespace: 'ci' }, secrets: [{ name: 'sa-token' }] },
      { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'i', namespace: 'ci' }, spec: { tls: [{ secretName: 'tls' }] } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'not-a-ref', namespace: 'ci' }, data: { secret: 'x' } },
    ];
    expect(secretReferences(objs, 'keda').map((r) => `${r.namespace}/${r.name}[${r.key}]`)).toEqual([
      'ci/pull[*]',
      'ci/env[a]',
      'ci/envfrom[*]',
      'ci/whole[*]',
      'ci/some[k1]',
      'ci/proj[k2]',
      'ci/projall[*]',
      'ci/redis-keda[password]',
      'keda/cluster-keda[username]',
      'flux-system/git[*]',
      'flux-system/helm[*]',
      'keda/values[values.yaml]',
      'ci/sa-token[*]',
      'ci/tls[*]',
    ]);
  });
});

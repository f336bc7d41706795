import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { LOCAL_STORAGE_PATH } from '../src/bootstrap/k3s-config.js';
import { Storage } from '../src/storage/storage.js';
import { FLUX_PRUNE_ANNOTATION } from '../src/storage/retained-claim.js';
import type { Requests } from '../src/storage/hardened-workload.js';
import { platformRequestLines } from '../src/capacity/collect.js';
import { FIXED_LINES, type RequestLine } from '../src/capacity/requests.js';
import { allObjects, config, findObject, objectsUnder, synthFiles, type K8sObject, synthError } from './helpers.js';

const objs = objectsUnder('infrastructure/controllers/storage/');
const retain = findObject(objs, 'StorageClass', 'raibid-retain');

/** The message of the error synthesizing `yaml` throws. */
/** Every claim of the tree, with the StatefulSet claim templates (named `<sts>/<template>`). */
function claims(yaml = ''): K8sObject[] {
  const all = allObjects(yaml);
  return [
    ...all.filter((o) => o.kind === 'PersistentVolumeClaim'),
    ...all.filter((o) => o.kind === 'StatefulSet').flatMap((s) => (s.spec.volumeClaimTemplates ?? []).map((t: K8sObject) => ({ ...t, kind: 'PersistentVolumeClaim', metadata: { ...t.metadata, name: `${s.metadata.name}/${t.metadata.name}`, namespace: s.metadata.namespace } }))),
  ];
}

describe('storage', () => {
  it('creates the Retain class on k3s local-path', () => {
    expect(retain.provisioner).toBe('rancher.io/local-path');
    expect(retain.reclaimPolicy).toBe('Retain');
  });

  it('binds volumes where the pod lands and never grows them', () => {
    expect(retain.volumeBindingMode).toBe('WaitForFirstConsumer');
    expect(retain.allowVolumeExpansion).toBe(false);
  });

  it('exempts the class from Flux pruning', () => {
    expect(retain.metadata.annotations).toEqual({ [FLUX_PRUNE_ANNOTATION]: 'disabled' });
  });

  it('is applied by bootstrap before Flux, in the controllers layer', () => {
    expect(synthFiles().get('dist/bootstrap.k8s.yaml')).toContain('name: raibid-retain');
  });

  it('follows storage.retainClass', () => {
    const renamed = objectsUnder('infrastructure/controllers/storage/', 'storage:\n  retainClass: keep-forever\n');
    expect(renamed.map((o) => o.metadata.name)).toEqual(['keep-forever']);
  });

  it('requests nothing', () => {
    const storage = buildApp(config()).node.findChild('storage') as Storage;
    expect(storage.requests).toEqual({ cpuMillis: 0, memoryBytes: 0 });
  });

  it('fails when the Retain class is the cache class', () => {
    expect(synthError('storage:\n  retainClass: local-path\n')).toContain(
      'raibid.yaml: storage.retainClass: "local-path" is also storage.cacheClass: stateful data needs its own Retain class; rename one of them',
    );
  });

  it('fails on a stateful size that is not a whole number of GiB', () => {
    expect(synthError('redis:\n  storage: 1536Mi\n')).toContain('raibid.yaml: redis.storage: expected a whole number of GiB, at least 1, such as "10Gi" or "1Ti", got "1536Mi"');
  });

  it('matches the snapshot', () => {
    expect(objs).toMatchSnapshot();
  });
});

describe('stateful claims (every config the platform can take)', () => {
  const configs = ['', 'storage:\n  retainClass: keep-forever\n', 'namespaces:\n  infrastructure: platform\ngitea:\n  storage: 200Gi\n'];

  it('are exactly the Gitea, PostgreSQL and Redis data claims, with the configured sizes', () => {
    const stateful = claims().filter((c) => c.metadata.namespace === 'infrastructure');
    expect(stateful.map((c) => [c.metadata.name, c.spec.resources.requests.storage]).sort()).toEqual([
      ['gitea-data', '100Gi'],
      ['gitea-postgres-data', '20Gi'],
      ['redis-data', '10Gi'],
    ]);
    const bigger = claims('namespaces:\n  infrastructure: platform\ngitea:\n  storage: 200Gi\n');
    expect(findObject(bigger, 'PersistentVolumeClaim', 'gitea-data', 'platform').spec.resources.requests.storage).toBe('200Gi');
  });

  for (const yaml of configs) {
    it(`are on the Retain class and never pruned by Flux (${yaml ? JSON.stringify(yaml) : 'defaults'})`, () => {
      const c = config(yaml);
      const stateful = claims(yaml).filter((o) => o.metadata.namespace === c.namespaces.infrastructure || o.spec.storageClassName === c.storage.retainClass);
      expect(stateful.length).toBe(3);
      for (const claim of stateful) {
        expect(claim.spec.storageClassName, claim.metadata.name).toBe(c.storage.retainClass);
        expect(claim.metadata.annotations?.[FLUX_PRUNE_ANNOTATION], claim.metadata.name).toBe('disabled');
      }
      const cls = findObject(allObjects(yaml), 'StorageClass', c.storage.retainClass);
      expect(cls.reclaimPolicy).toBe('Retain');
    });
  }

  it('are explicit objects with explicit names, never StatefulSet claim templates', () => {
    expect(allObjects().filter((o) => o.kind === 'StatefulSet' && o.spec.volumeClaimTemplates)).toEqual([]);
  });
});

describe('platform requests', () => {
  const app = buildApp(config());
  const lines = [...platformRequestLines(app), ...FIXED_LINES];
  const total = (pick: (l: RequestLine) => number) => lines.reduce((sum, l) => sum + l.count * pick(l), 0);

  it('stay within 2.5 CPU and 6 GiB for everything that is not an agent', () => {
    expect(total((l) => l.cpuMillis)).toBeLessThanOrEqual(2500);
    expect(total((l) => l.memoryBytes)).toBeLessThanOrEqual(6 * 2 ** 30);
  });

  it('agree with what each platform component says it requests', () => {
    const of = (chart: string) => lines.filter((l) => l.source === chart).reduce((a, l) => ({ cpuMillis: a.cpuMillis + l.count * l.cpuMillis, memoryBytes: a.memoryBytes + l.count * l.memoryBytes }), { cpuMillis: 0, memoryBytes: 0 });
    for (const id of ['storage', 'scheduling', 'keda', 'gitea', 'redis', 'dns']) {
      expect((app.node.findChild(id) as unknown as { requests: Requests }).requests, id).toEqual(of(id));
    }
  });
});

describe('where volumes live', () => {
  const root = join(import.meta.dirname, '..');
  const texts = [
    ...readdirSync(join(root, 'src', 'storage')).map((f) => join('src', 'storage', f)),
    'docs/bootstrap.md',
    'README.md',
  ].map((f) => [f, readFileSync(join(root, f), 'utf8')] as const);

  it('names only the path bootstrap gives the local-path provisioner (k3s default-local-storage-path)', () => {
    const named = texts.flatMap(([f, text]) => [...text.matchAll(/\/var\/lib\/[\w./-]*storage\b/g)].map((m) => `${f}: ${m[0]}`));
    expect(named.filter((n) => n.startsWith('src/storage/')).length).toBeGreaterThanOrEqual(1);
    for (const n of named) expect(n.slice(n.indexOf(': ') + 2), n).toBe(LOCAL_STORAGE_PATH);
  });

  it('never binds a claim to a named volume: a new cluster gets new, empty volumes (docs/bootstrap.md, pulumi destroy)', () => {
    const all = claims('agents:\n  pools:\n    - name: p\n      mode: pooled\n');
    expect(all.length).toBeGreaterThanOrEqual(3);
    for (const c of all) expect(c.spec.volumeName, c.metadata.name).toBeUndefined();
    expect(readFileSync(join(root, 'docs', 'bootstrap.md'), 'utf8')).toContain('A new bootstrap does not see them.');
  });
});

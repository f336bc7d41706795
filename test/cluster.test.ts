import { describe, expect, it } from 'vitest';
import { kedaHealthExprs } from '../src/gitops/cluster.js';
import { MIXED_POOLS, findObject, objectsUnder } from './helpers.js';

const MIXED = MIXED_POOLS;
describe('clusters/<name>: the Flux entry point', () => {
  const objs = objectsUnder('clusters/dgx-spark/');
  const ks = (name: string) => findObject(objs, 'Kustomization', name, 'flux-system').spec;

  it('syncs from the flux-system GitRepository on the in-cluster Gitea', () => {
    expect(findObject(objs, 'GitRepository', 'flux-system', 'flux-system').spec).toMatchObject({
      url: 'http://gitea-http.infrastructure.svc.cluster.local:3000/raibid/raibid-ci.git',
      ref: { branch: 'main' },
      secretRef: { name: 'flux-system' },
    });
    expect(ks('flux-system')).toMatchObject({ path: './clusters/dgx-spark', prune: true, sourceRef: { kind: 'GitRepository', name: 'flux-system' } });
  });

  it('orders the layers controllers → configs → images → apps', () => {
    expect(ks('infra-controllers').dependsOn).toBeUndefined();
    expect(ks('infra-configs').dependsOn).toEqual([{ name: 'infra-controllers' }]);
    expect(ks('infra-images').dependsOn).toEqual([{ name: 'infra-configs' }]);
    expect(ks('apps').dependsOn).toEqual([{ name: 'infra-images' }]);
    expect(ks('infra-images').path).toBe('./infrastructure/images');
  });

  it('gives the images layer time for its builds and recreates a build Job whose spec changed', () => {
    expect(ks('infra-images')).toMatchObject({ wait: true, force: true, timeout: '65m' });
    const custom = objectsUnder('clusters/dgx-spark/', 'images:\n  buildTimeout: 2h\nflux:\n  timeout: 90s\n').find((o) => o.metadata.name === 'infra-images')!.spec;
    expect(custom.timeout).toBe('7290s');
    for (const name of ['infra-controllers', 'infra-configs', 'apps']) expect(ks(name).force).toBeUndefined();
  });

  it('prunes, and sets interval, retryInterval and timeout from the config', () => {
    for (const name of ['infra-controllers', 'infra-configs', 'apps']) {
      expect(ks(name)).toMatchObject({ prune: true, interval: '10m', retryInterval: '1m', timeout: '5m' });
    }
    expect(ks('infra-images')).toMatchObject({ prune: true, interval: '10m', retryInterval: '1m' });
    expect(objectsUnder('clusters/dgx-spark/', 'flux:\n  interval: 2m\n').find((o) => o.metadata.name === 'apps')?.spec.interval).toBe('2m');
  });

  it('waits for every object of the infrastructure layers', () => {
    expect([ks('infra-controllers').wait, ks('infra-configs').wait, ks('infra-images').wait]).toEqual([true, true, true]);
  });

  it('health-checks the workloads and scalers of apps, not its build-cache claims', () => {
    const apps = objectsUnder('clusters/dgx-spark/', MIXED).find((o) => o.metadata.name === 'apps')!.spec;
    expect(apps.wait).toBe(false);
    expect(apps.healthChecks.map((h: { kind: string; name: string }) => `${h.kind}/${h.name}`).sort()).toEqual([
      'Deployment/agent-lint',
      'Deployment/raibid-api',
      'ScaledJob/agent-rust',
      'ScaledObject/agent-lint',
    ]);
  });

  it('requires the Ready condition of the KEDA scalers it health-checks (kstatus passes them without status)', () => {
    const ready = (s: string) => `status.conditions.exists(e, e.type == 'Ready' && e.status == '${s}')`;
    const apps = objectsUnder('clusters/dgx-spark/', MIXED).find((o) => o.metadata.name === 'apps')!.spec;
    expect(apps.healthCheckExprs).toEqual([
      { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledJob', current: ready('True'), failed: ready('False') },
      { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', current: ready('True'), failed: ready('False') },
    ]);
    expect(ks('apps').healthCheckExprs).toEqual([{ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledJob', current: ready('True'), failed: ready('False') }]);
    expect(kedaHealthExprs([{ apiVersion: 'apps/v1', kind: 'Deployment' }])).toBeUndefined();
  });

  it('matches the snapshot', () => {
    expect(objs).toMatchSnapshot();
  });
});

import { describe, expect, it } from 'vitest';
import { findObject, objectsUnder } from './helpers.js';

const MIXED = `agents:
  pools:
    - name: rust
      stream: ci-jobs
    - name: lint
      mode: pooled
      slots: 4
      cpu: "1"
      memory: 2Gi
      maxReplicas: 2
    - name: deploy
      mode: direct
      cpu: 500m
      memory: 1Gi
      maxReplicas: 2
`;

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

  it('orders the layers controllers → configs → apps', () => {
    expect(ks('infra-controllers').dependsOn).toBeUndefined();
    expect(ks('infra-configs').dependsOn).toEqual([{ name: 'infra-controllers' }]);
    expect(ks('apps').dependsOn).toEqual([{ name: 'infra-configs' }]);
  });

  it('prunes, and sets interval, retryInterval and timeout from the config', () => {
    for (const name of ['infra-controllers', 'infra-configs', 'apps']) {
      expect(ks(name)).toMatchObject({ prune: true, interval: '10m', retryInterval: '1m', timeout: '5m' });
    }
    expect(objectsUnder('clusters/dgx-spark/', 'flux:\n  interval: 2m\n').find((o) => o.metadata.name === 'apps')?.spec.interval).toBe('2m');
  });

  it('waits for every object of the infrastructure layers', () => {
    expect([ks('infra-controllers').wait, ks('infra-configs').wait]).toEqual([true, true]);
  });

  it('health-checks the workloads and scalers of apps, not its build-cache claims', () => {
    const apps = objectsUnder('clusters/dgx-spark/', MIXED).find((o) => o.metadata.name === 'apps')!.spec;
    expect(apps.wait).toBe(false);
    expect(apps.healthChecks.map((h: { kind: string; name: string }) => `${h.kind}/${h.name}`).sort()).toEqual([
      'Deployment/agent-lint',
      'Deployment/buildkitd',
      'Deployment/raibid-api',
      'ScaledJob/agent-rust',
      'ScaledObject/agent-lint',
    ]);
  });

  it('matches the snapshot', () => {
    expect(objs).toMatchSnapshot();
  });
});

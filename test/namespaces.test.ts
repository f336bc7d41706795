import { describe, expect, it } from 'vitest';
import { allObjects, findObject, objectsUnder } from './helpers.js';

describe('namespaces', () => {
  const objs = objectsUnder('infrastructure/controllers/namespaces/');

  it('creates the configured namespaces', () => {
    expect(objs.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name).sort()).toEqual(['buildkit', 'ci', 'images', 'infrastructure', 'keda', 'monitoring']);
  });

  it('enforces the restricted Pod Security profile, pinned to a version', () => {
    const ci = findObject(objs, 'Namespace', 'ci');
    expect(ci.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': 'v1.33',
    });
  });

  it('gives the BuildKit namespace its allowlisted exception and nothing else', () => {
    const levels = objs.filter((o) => o.kind === 'Namespace').map((o) => [o.metadata.name, o.metadata.labels?.['pod-security.kubernetes.io/enforce']]);
    expect(levels.filter(([, l]) => l !== 'restricted')).toEqual([['buildkit', 'privileged']]);
  });

  it('follows renamed namespaces', () => {
    const renamed = objectsUnder('infrastructure/controllers/namespaces/', 'namespaces:\n  ci: builds\n');
    expect(renamed.some((o) => o.kind === 'Namespace' && o.metadata.name === 'builds')).toBe(true);
    expect(renamed.some((o) => o.kind === 'Namespace' && o.metadata.name === 'ci')).toBe(false);
  });

  it('puts default deny and DNS egress in every owned namespace', () => {
    for (const ns of ['infrastructure', 'ci', 'monitoring', 'keda', 'buildkit']) {
      expect(findObject(allObjects(), 'NetworkPolicy', 'default-deny', ns).spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
      expect(findObject(allObjects(), 'NetworkPolicy', 'allow-dns', ns).spec.egress[0].ports).toContainEqual({ protocol: 'UDP', port: 53 });
    }
  });

  it('matches the snapshot', () => {
    expect(objs).toMatchSnapshot();
  });
});

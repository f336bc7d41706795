import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { K3S_VERSION } from '../src/bootstrap/versions.js';
import { KEDA_MIN_VERSION } from '../src/versions.js';
import { Keda } from '../src/keda/keda.js';
import { config, findObject, objectsUnder, synthError } from './helpers.js';

const objs = objectsUnder('infrastructure/controllers/keda/');
const release = findObject(objs, 'HelmRelease', 'keda', 'keda');
const values = (yaml = '') => findObject(objectsUnder('infrastructure/controllers/keda/', yaml), 'HelmRelease', 'keda', 'keda').spec.values;
const policy = (name: string) => findObject(objs, 'NetworkPolicy', name, 'keda').spec;
/** Where the API server may be without cluster.nodeAddress: the LAN ranges (10/8 minus the cluster's). */
const NODE = [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.42.0.0/16', '10.43.0.0/16'] } }, { ipBlock: { cidr: '172.16.0.0/12' } }, { ipBlock: { cidr: '192.168.0.0/16' } }];

describe('KEDA', () => {
  it('comes from the kedacore chart repository', () => {
    expect(findObject(objs, 'HelmRepository', 'kedacore', 'keda').spec.url).toBe('https://kedacore.github.io/charts');
  });

  it('is a helm.toolkit.fluxcd.io/v2 release pinned to chart 2.20.2', () => {
    expect(release.apiVersion).toBe('helm.toolkit.fluxcd.io/v2');
    expect(release.spec.chart.spec).toEqual({ chart: 'keda', version: '2.20.2', sourceRef: { kind: 'HelmRepository', name: 'kedacore' }, interval: '1h' });
  });

  it('remediates failed installs and upgrades', () => {
    expect(release.spec.install.remediation).toEqual({ retries: 3 });
    expect(release.spec.upgrade.remediation).toEqual({ retries: 3, remediateLastFailure: true, strategy: 'rollback' });
  });

  it('installs and upgrades its CRDs', () => {
    expect(release.spec.install.crds).toBe('CreateReplace');
    expect(release.spec.upgrade.crds).toBe('CreateReplace');
    expect(values().crds.install).toBe(true);
  });

  it('keeps its CRDs (and every ScaledJob) when the release is uninstalled or renamed', () => {
    // kedacore/keda templates its CRDs (templates/crds/), so Helm deletes them with the release unless kept.
    expect(values().crds).toEqual({ install: true, additionalAnnotations: { 'helm.sh/resource-policy': 'keep' } });
  });

  it('runs its three pods in the platform PriorityClass', () => {
    expect(values().priorityClassName).toBe('raibid-platform');
  });

  it('keeps its values inline, so a config change is one diff of the HelmRelease', () => {
    expect(release.spec.valuesFrom).toBeUndefined();
    expect(objs.some((o) => o.kind === 'ConfigMap')).toBe(false);
  });

  it('sets requests and memory limits on all three deployments', () => {
    expect(values().resources).toEqual({
      operator: { requests: { cpu: '100m', memory: '100Mi' }, limits: { memory: '512Mi' } },
      metricServer: { requests: { cpu: '100m', memory: '100Mi' }, limits: { memory: '256Mi' } },
      webhooks: { requests: { cpu: '100m', memory: '100Mi' }, limits: { memory: '256Mi' } },
    });
  });

  it('follows keda.resources, including a CPU limit when one is set', () => {
    const v = values('keda:\n  resources:\n    operator:\n      cpu: 250m\n      memory: 200Mi\n      memoryLimit: 1Gi\n      cpuLimit: "1"\n');
    expect(v.resources.operator).toEqual({ requests: { cpu: '250m', memory: '200Mi' }, limits: { memory: '1Gi', cpu: '1000m' } });
  });

  it('pulls pinned images only when absent and keeps the chart network policies off', () => {
    expect(values().image).toEqual({ pullPolicy: 'IfNotPresent' });
    expect(values().networkPolicy).toEqual({ enabled: false });
  });

  it('exposes the requests of its pods', () => {
    const keda = buildApp(config()).node.findChild('keda') as Keda;
    expect(keda.requests).toEqual({ cpuMillis: 300, memoryBytes: 300 * 2 ** 20 });
  });

  it('lets the operator reach Redis and the API server, and only the metrics server reach the operator', () => {
    const p = policy('keda-operator');
    expect(p.egress).toContainEqual({
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'infrastructure' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'redis', 'app.kubernetes.io/part-of': 'raibid-ci' } } }],
      ports: [{ protocol: 'TCP', port: 6379 }],
    });
    expect(p.egress).toContainEqual({ to: NODE, ports: [{ protocol: 'TCP', port: 6443 }] });
    expect(p.egress).toContainEqual({ to: [{ ipBlock: { cidr: '10.43.0.1/32' } }], ports: [{ protocol: 'TCP', port: 443 }] });
    expect(p.ingress).toEqual([
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'keda' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'keda-operator-metrics-apiserver' } } }], ports: [{ protocol: 'TCP', port: 9666 }] },
    ]);
  });

  it('leaves the API server calling the metrics server and the webhooks to the local-node rule: no ingress rule', () => {
    for (const name of ['keda-metrics-apiserver', 'keda-admission-webhooks']) {
      expect(policy(name).ingress).toBeUndefined();
      expect(policy(name).policyTypes).toEqual(['Egress']);
    }
    const pinned = findObject(objectsUnder('infrastructure/controllers/keda/', 'cluster:\n  nodeAddress: 192.168.1.50\n'), 'NetworkPolicy', 'keda-admission-webhooks');
    expect(pinned.spec.egress[0].to).toEqual([{ ipBlock: { cidr: '192.168.1.50/32' } }]);
  });

  it('follows keda.chartVersion and namespaces.keda', () => {
    const other = objectsUnder('infrastructure/controllers/keda/', 'keda:\n  chartVersion: 2.21.0\nnamespaces:\n  keda: autoscaling\n');
    expect(findObject(other, 'HelmRelease', 'keda', 'autoscaling').spec.chart.spec.version).toBe('2.21.0');
  });

  it('fails on a chart older than 2.20.1', () => {
    expect(synthError('keda:\n  chartVersion: 2.19.0\n')).toContain('raibid.yaml: keda.chartVersion: "2.19.0" is older than 2.20.1; use 2.20.1 or newer');
  });

  it('fails on a memory limit below the request', () => {
    expect(synthError('keda:\n  resources:\n    webhooks:\n      memory: 512Mi\n      memoryLimit: 256Mi\n')).toContain('raibid.yaml: keda.resources.webhooks.memoryLimit: "256Mi" is below the memory request "512Mi"; set it ≥ memory');
    expect(synthError('keda:\n  resources:\n    operator:\n      cpu: 500m\n      cpuLimit: 200m\n')).toContain('raibid.yaml: keda.resources.operator.cpuLimit: "200m" is below the CPU request "500m"; set it ≥ cpu');
  });

  it('matches the snapshot', () => {
    expect(objs).toMatchSnapshot();
  });
});

describe('KEDA and k3s versions', () => {
  /** KEDA's documented matrix: KEDA minor → the Kubernetes minors it is tested on (first, last). */
  const matrix = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'keda', 'kubernetes-compatibility.json'), 'utf8')) as { source: string; tested: Record<string, [string, string]> };
  /** `1.35` of `v1.35.5+k3s1`, `2.20` of `2.20.2` (a KEDA chart's minor is KEDA's minor). */
  const minor = (v: string) => /^v?(\d+\.\d+)\.\d+/.exec(v)![1];
  const n = (m: string) => Number(m.split('.')[1]);
  /** Whether KEDA documents version `keda` as tested on the Kubernetes of `k8s`. */
  const tested = (keda: string, k8s: string) => {
    const range = matrix.tested[minor(keda)];
    return range !== undefined && minor(k8s).startsWith('1.') && n(range[0]) <= n(minor(k8s)) && n(minor(k8s)) <= n(range[1]);
  };

  it('keeps the matrix with its source', () => {
    expect(matrix.source).toMatch(/^KEDA documentation, .*https:\/\/keda\.sh\/docs\/[\d.]+\/operate\/cluster\/#kubernetes-compatibility/);
    expect(matrix.tested['2.20']).toEqual(['1.33', '1.35']);
  });

  it('pins a KEDA chart and a k3s release that KEDA documents as tested together', () => {
    const keda = config().keda.chartVersion;
    expect(K3S_VERSION).toMatch(/^v1\.\d+\.\d+\+k3s\d+$/);
    expect(tested(keda, K3S_VERSION), `KEDA ${keda} is tested on Kubernetes ${matrix.tested[minor(keda)]?.join(' to ') ?? 'nothing yet'}, k3s ${K3S_VERSION} is Kubernetes ${minor(K3S_VERSION)}`).toBe(true);
    // The oldest chart keda.chartVersion accepts is within the matrix too.
    expect(tested(KEDA_MIN_VERSION, K3S_VERSION)).toBe(true);
  });

  it('tells a tested pair from one outside the matrix', () => {
    expect(tested('2.20.2', 'v1.35.5+k3s1')).toBe(true);
    expect(tested('2.20.2', 'v1.33.0+k3s1')).toBe(true);
    expect(tested('2.20.2', 'v1.36.3+k3s1')).toBe(false);
    expect(tested('2.20.2', 'v1.32.9+k3s1')).toBe(false);
    expect(tested('2.21.0', 'v1.35.5+k3s1')).toBe(false);
  });
});

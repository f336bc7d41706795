/**
 * KEDA (controllers layer, namespace `namespaces.keda`), installed by Flux from the kedacore Helm chart:
 * a `HelmRepository` and a `HelmRelease` pinned to `keda.chartVersion`, plus the NetworkPolicies of the
 * three KEDA pods on top of the namespace's default deny.
 *
 * - CRDs: the chart renders them from `templates/crds/` when `crds.install` is true, so every Helm install
 *   and upgrade applies them; `install.crds` / `upgrade.crds: CreateReplace` also covers a chart that moves
 *   them to `crds/`. The controllers layer waits for the release, so ScaledJobs in `apps` find their CRDs.
 *   Templated CRDs are release objects, so `helm uninstall` (or a renamed HelmRelease) would delete them
 *   and, with them, every ScaledJob and ScaledObject; `crds.additionalAnnotations` puts
 *   `helm.sh/resource-policy: keep` on each, so Helm leaves them in place.
 * - Priority: `priorityClassName` is the platform class (src/scheduling/priority-classes.ts) on all three pods.
 * - Remediation: a failed install is uninstalled and retried; a failed upgrade is rolled back and retried.
 * - Resources: requests and memory limits from `keda.resources`; the chart's CPU limit (1 core) stays
 *   unless `cpuLimit` is set.
 * - Values: inline in the HelmRelease (`spec.values`), so a change in raibid.yaml is one reviewable diff.
 * - Drift detection stays off: the operator itself patches the caBundle of its webhook and APIService.
 * @see https://github.com/kedacore/charts/blob/main/keda/values.yaml
 * @see https://fluxcd.io/flux/components/helm/helmreleases/
 */
import type { Construct } from 'constructs';
import type { IHelmRelease } from '@kubernetes-models/flux-cd/helm.toolkit.fluxcd.io/v2/HelmRelease';
import type { IHelmRepository } from '@kubernetes-models/flux-cd/source.toolkit.fluxcd.io/v1/HelmRepository';
import { ComponentChart, manifest, type ComponentChartProps } from '../gitops/component.js';
import { componentLabels } from '../labels.js';
import { bytes, cpuMillis, formatBytes } from '../config/quantity.js';
import type { Resources } from '../config/types.js';
import { allowTraffic } from '../network/policy.js';
import { REDIS_PORT } from '../endpoints.js';
import { requestsOf, sumRequests, type Requests } from '../storage/hardened-workload.js';
import { REDIS_POD_LABELS } from '../redis/labels.js';
import { PLATFORM_PRIORITY_CLASS } from '../scheduling/priority-classes.js';

/** Helm's annotation that keeps an object when its release is uninstalled. */
export const HELM_RESOURCE_POLICY = 'helm.sh/resource-policy';
export const HELM_KEEP = 'keep';
/** The kedacore chart repository. */
export const KEDA_CHART_REPOSITORY = 'https://kedacore.github.io/charts';
/** Oldest chart (= KEDA) version accepted (checked with the config, src/config/contradictions.ts). */
export { KEDA_MIN_VERSION } from '../versions.js';
/** Helm release name; the chart names its deployments after fixed names, not the release. */
export const KEDA_RELEASE = 'keda';

/** Pod labels the chart puts on each KEDA deployment (`app.kubernetes.io/name`; the other labels are shared). */
export const KEDA_OPERATOR_PODS = { 'app.kubernetes.io/name': 'keda-operator' } as const;
export const KEDA_METRICS_SERVER_PODS = { 'app.kubernetes.io/name': 'keda-operator-metrics-apiserver' } as const;
export const KEDA_WEBHOOK_PODS = { 'app.kubernetes.io/name': 'keda-admission-webhooks' } as const;
/** gRPC port the metrics server fetches metrics from the operator on. */
export const KEDA_OPERATOR_GRPC_PORT = 9666;

/** Chart resources for one KEDA deployment (limits ≥ requests is checked with the config). */
function chartResources(r: Resources): Record<string, unknown> {
  return {
    requests: { cpu: `${cpuMillis(r.cpu)}m`, memory: formatBytes(bytes(r.memory)) },
    limits: { memory: formatBytes(bytes(r.memoryLimit)), ...(r.cpuLimit !== undefined ? { cpu: `${cpuMillis(r.cpuLimit)}m` } : {}) },
  };
}

export class Keda extends ComponentChart {
  /** Chart (= KEDA) version. */
  readonly chartVersion: string;
  /** Helm values passed to the chart. */
  readonly values: Readonly<Record<string, unknown>>;
  /** Requests of the operator, metrics server and webhooks together. */
  readonly requests: Requests;

  constructor(scope: Construct, id: string, props: Omit<ComponentChartProps, 'layer' | 'bootstrap'>) {
    super(scope, id, { ...props, layer: 'controllers', bootstrap: false });
    const c = props.config;
    const namespace = c.namespaces.keda;
    this.chartVersion = c.keda.chartVersion;
    const r = c.keda.resources;
    this.values = {
      // Keep the CRDs when the release is uninstalled or renamed: deleting a CRD deletes every ScaledJob
      // and ScaledObject with it (the chart templates its CRDs, so Helm would remove them).
      crds: { install: true, additionalAnnotations: { [HELM_RESOURCE_POLICY]: HELM_KEEP } },
      // The autoscaler is platform: evicted after the agents it scales, never before.
      priorityClassName: PLATFORM_PRIORITY_CLASS,
      // Tags are pinned by the chart version; re-pulling them at every start only adds a registry dependency.
      image: { pullPolicy: 'IfNotPresent' },
      resources: {
        operator: chartResources(r.operator),
        metricServer: chartResources(r.metricsServer),
        webhooks: chartResources(r.webhooks),
      },
      // The chart's own policies would allow the operator to reach every pod; ours below are exact.
      networkPolicy: { enabled: false },
    };
    this.requests = sumRequests(requestsOf(r.operator), requestsOf(r.metricsServer), requestsOf(r.webhooks));

    const labels = componentLabels('keda', 'autoscaler');
    const interval = c.flux.interval;
    manifest<IHelmRepository>(this, 'repository', {
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'HelmRepository',
      metadata: { name: 'kedacore', namespace: namespace, labels },
      spec: { url: KEDA_CHART_REPOSITORY, interval: '1h', timeout: '60s' },
    });
    manifest<IHelmRelease>(this, 'release', {
      apiVersion: 'helm.toolkit.fluxcd.io/v2',
      kind: 'HelmRelease',
      metadata: { name: KEDA_RELEASE, namespace: namespace, labels },
      spec: {
        interval,
        timeout: c.flux.timeout,
        releaseName: KEDA_RELEASE,
        chart: { spec: { chart: 'keda', version: this.chartVersion, sourceRef: { kind: 'HelmRepository', name: 'kedacore' }, interval: '1h' } },
        install: { crds: 'CreateReplace', remediation: { retries: 3 } },
        upgrade: { crds: 'CreateReplace', cleanupOnFail: true, remediation: { retries: 3, remediateLastFailure: true, strategy: 'rollback' } },
        values: { ...this.values },
      },
    });

    // The apiServer peer brings its own ports (kubernetes Service 443, node apiServerPort).
    const apiServer = { peers: [{ apiServer: true as const }], ports: [] };
    allowTraffic(this, 'policy-operator', {
      config: c,
      name: 'keda-operator',
      namespace: namespace,
      pods: KEDA_OPERATOR_PODS,
      ingress: [{ peers: [{ namespace: namespace, pods: KEDA_METRICS_SERVER_PODS }], ports: [KEDA_OPERATOR_GRPC_PORT] }],
      egress: [apiServer, { peers: [{ namespace: c.namespaces.infrastructure, pods: REDIS_POD_LABELS }], ports: [REDIS_PORT] }],
    });
    allowTraffic(this, 'policy-metrics-server', {
      config: c,
      name: 'keda-metrics-apiserver',
      namespace: namespace,
      pods: KEDA_METRICS_SERVER_PODS,
      // No ingress rule for the API server calling the metrics API or the webhooks: it runs on the node,
      // and traffic from the pod's own node is always admitted (src/network/policy.ts, the apiServer peer).
      egress: [apiServer, { peers: [{ namespace: namespace, pods: KEDA_OPERATOR_PODS }], ports: [KEDA_OPERATOR_GRPC_PORT] }],
    });
    allowTraffic(this, 'policy-webhooks', {
      config: c,
      name: 'keda-admission-webhooks',
      namespace: namespace,
      pods: KEDA_WEBHOOK_PODS,
      egress: [apiServer],
    });
  }
}

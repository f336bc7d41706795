/**
 * clusters/<name>/: the Flux entry point. The GitRepository and root Kustomization that bootstrap
 * creates (`flux-system`), and one Kustomization per layer, ordered controllers → configs → images → apps:
 * the apps are applied only once the images they run are built and pushed.
 */
import { ApiObject, Chart, Lazy } from 'cdk8s';
import type { Construct } from 'constructs';
import type { IKustomization } from '@kubernetes-models/flux-cd/kustomize.toolkit.fluxcd.io/v1/Kustomization';
import type { IGitRepository } from '@kubernetes-models/flux-cd/source.toolkit.fluxcd.io/v1/GitRepository';
import type { RaibidConfig } from '../config/resolve.js';
import { durationSeconds } from '../config/quantity.js';
import { gitopsRepoUrl } from '../endpoints.js';
import { ComponentChart, LAYERS, LAYER_PATHS, manifest, type Layer } from './component.js';

type HealthChecks = NonNullable<NonNullable<IKustomization['spec']>['healthChecks']>;
type HealthCheckExprs = NonNullable<NonNullable<IKustomization['spec']>['healthCheckExprs']>;

/** Namespace of the Flux controllers and of the objects below. */
export const FLUX_NAMESPACE = 'flux-system';
/** Name of the GitRepository, the root Kustomization and the credentials Secret (Flux bootstrap's convention). */
export const FLUX_SOURCE = 'flux-system';

/** Flux Kustomization names of the layers. */
export const LAYER_KUSTOMIZATIONS: Readonly<Record<Layer, string>> = {
  controllers: 'infra-controllers',
  configs: 'infra-configs',
  images: 'infra-images',
  apps: 'apps',
};

const CLUSTER = Symbol.for('raibid-ci.ClusterChart');

export interface ClusterChartProps {
  readonly config: RaibidConfig;
}

/** The Flux objects of clusters/<name>/. */
export class ClusterChart extends Chart {
  /** cdk8s's Chart overrides `instanceof` to match any chart, so charts are told apart by a brand. */
  static isClusterChart(x: unknown): x is ClusterChart {
    return typeof x === 'object' && x !== null && (x as { [CLUSTER]?: boolean })[CLUSTER] === true;
  }

  protected readonly [CLUSTER] = true;

  readonly folder: string;

  constructor(scope: Construct, id: string, props: ClusterChartProps) {
    super(scope, id, { disableResourceNameHashes: true });
    const c = props.config;
    this.folder = `clusters/${c.cluster.name}`;
    const labels = { 'app.kubernetes.io/part-of': 'raibid-ci', 'app.kubernetes.io/managed-by': 'raibid-ci' };

    manifest<IGitRepository>(this, 'source', {
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'GitRepository',
      metadata: { name: FLUX_SOURCE, namespace: FLUX_NAMESPACE, labels },
      spec: {
        interval: '1m',
        url: gitopsRepoUrl(c),
        ref: { branch: c.flux.branch },
        secretRef: { name: FLUX_SOURCE },
        timeout: '60s',
      },
    });
    manifest<IKustomization>(this, 'root', {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: FLUX_SOURCE, namespace: FLUX_NAMESPACE, labels },
      spec: {
        interval: c.flux.interval,
        retryInterval: c.flux.retryInterval,
        timeout: c.flux.timeout,
        path: `./${this.folder}`,
        prune: true,
        wait: false,
        sourceRef: { kind: 'GitRepository', name: FLUX_SOURCE },
      },
    });
    LAYERS.forEach((layer, i) => {
      manifest<IKustomization>(this, layer, {
        apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
        kind: 'Kustomization',
        metadata: { name: LAYER_KUSTOMIZATIONS[layer], namespace: FLUX_NAMESPACE, labels },
        spec: {
          ...(i > 0 ? { dependsOn: [{ name: LAYER_KUSTOMIZATIONS[LAYERS[i - 1]] }] } : {}),
          interval: c.flux.interval,
          retryInterval: c.flux.retryInterval,
          timeout: layer === 'images' ? imagesLayerTimeout(c) : c.flux.timeout,
          path: `./${LAYER_PATHS[layer]}`,
          prune: true,
          // Infrastructure layers are Ready only when every object they applied is healthy, so the next
          // layer waits for them; for the images layer that means every build Job has completed. The
          // apps layer holds build-cache claims that bind only when a build first mounts them
          // (local-path binds on first consumer), so it checks its workloads instead.
          ...(layer === 'apps'
            ? {
                wait: false,
                healthChecks: Lazy.any({ produce: () => this.workloadsOf(layer) }) as unknown as HealthChecks,
                healthCheckExprs: Lazy.any({ produce: () => kedaHealthExprs(this.workloadsOf(layer)) }) as unknown as HealthCheckExprs,
              }
            : { wait: true }),
          // A build Job's spec is immutable: when it changes under the same name (a new BuildKit image,
          // say), Flux deletes and recreates the Job, which finds its tag pushed and finishes at once.
          ...(layer === 'images' ? { force: true } : {}),
          sourceRef: { kind: 'GitRepository', name: FLUX_SOURCE },
        },
      });
    });
  }

  /** Health-check references of the workloads (and KEDA scalers) of a layer, in output order. */
  private workloadsOf(layer: Layer): { apiVersion: string; kind: string; name: string; namespace?: string }[] {
    const charts = this.node.root.node.children.filter((c): c is ComponentChart => ComponentChart.isComponentChart(c) && c.layer === layer);
    return charts.flatMap((chart) =>
      chart.node
        .findAll()
        .filter((c): c is ApiObject => ApiObject.isApiObject(c) && HEALTH_CHECKED_KINDS.has(c.kind))
        .map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) })),
    );
  }
}

/** Kinds whose readiness the apps layer reports. */
const HEALTH_CHECKED_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ScaledJob', 'ScaledObject']);

/** KEDA kinds whose health is their `Ready` condition (healthCheckExprs). */
export const KEDA_READY_KINDS: readonly string[] = ['ScaledJob', 'ScaledObject'];

/**
 * CEL health expressions for the KEDA objects among health checks: kstatus counts a ScaledJob or
 * ScaledObject without conditions as healthy, so Flux would report the apps Ready before KEDA has
 * accepted the scaler. Current requires `Ready` True, Failed is `Ready` False; an object without
 * `status.conditions` makes the expression fail to evaluate, which Flux treats as not yet healthy
 * (it keeps waiting, up to the Kustomization's timeout).
 * @see https://fluxcd.io/flux/components/kustomize/kustomizations/#health-check-expressions
 */
export function kedaHealthExprs(checks: readonly { apiVersion: string; kind: string }[]): HealthCheckExprs | undefined {
  const ready = (status: 'True' | 'False') => `status.conditions.exists(e, e.type == 'Ready' && e.status == '${status}')`;
  const exprs = KEDA_READY_KINDS.flatMap((kind) => {
    const check = checks.find((k) => k.kind === kind);
    return check ? [{ apiVersion: check.apiVersion, kind, current: ready('True'), failed: ready('False') }] : [];
  });
  return exprs.length ? exprs : undefined;
}

/**
 * Timeout of the images layer: the longest build (`images.buildTimeout`, the Jobs' deadline) plus the
 * usual apply time (`flux.timeout`), so a slow first build is not reported as a failure.
 */
export function imagesLayerTimeout(c: RaibidConfig): string {
  const s = durationSeconds(c.images.buildTimeout) + durationSeconds(c.flux.timeout);
  return s % 3600 === 0 ? `${s / 3600}h` : s % 60 === 0 ? `${s / 60}m` : `${s}s`;
}

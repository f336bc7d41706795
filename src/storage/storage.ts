/**
 * StorageClasses (controllers layer; bootstrap applies it before Flux, because Gitea's claims need it).
 *
 * `storage.retainClass` (default `raibid-retain`): k3s's local-path provisioner with
 * `reclaimPolicy: Retain`. Gitea, PostgreSQL and Redis claim from it through {@link RetainedClaim}; if a
 * claim is ever deleted, its PersistentVolume and its directory stay, and the data can be re-bound by
 * hand. The directories are under /var/lib/raibid/storage: the provisioner's path, which bootstrap sets
 * with k3s's `default-local-storage-path` (LOCAL_STORAGE_PATH in src/bootstrap/k3s-config.ts). Disposable build caches use `storage.cacheClass` (k3s's default
 * `local-path`, reclaimPolicy Delete), which k3s itself creates.
 *
 * The class also carries the Flux prune exemption: StorageClass fields are immutable, and a prune
 * followed by a re-create is exactly the kind of churn stateful data must never see.
 * @see https://github.com/rancher/local-path-provisioner#storage-classes
 */
import type { Construct } from 'constructs';
import type { IStorageClass } from 'kubernetes-models/storage.k8s.io/v1/StorageClass';
import { ComponentChart, manifest, type ComponentChartProps } from '../gitops/component.js';
import { componentLabels } from '../labels.js';
import { FLUX_PRUNE_ANNOTATION, FLUX_PRUNE_DISABLED } from './retained-claim.js';
import { NO_REQUESTS, type Requests } from './hardened-workload.js';

/** The provisioner k3s bundles. */
export const LOCAL_PATH_PROVISIONER = 'rancher.io/local-path';

export class Storage extends ComponentChart {
  /** Name of the Retain StorageClass. */
  readonly retainClass: string;
  /** Requests of this component's pods: none, it only declares a class. */
  readonly requests: Requests = NO_REQUESTS;

  constructor(scope: Construct, id: string, props: Omit<ComponentChartProps, 'layer' | 'bootstrap'>) {
    super(scope, id, { ...props, layer: 'controllers', bootstrap: true });
    const c = props.config;
    this.retainClass = c.storage.retainClass;
    // storage.retainClass ≠ storage.cacheClass is checked with the config (src/config/contradictions.ts).

    manifest<IStorageClass>(this, 'retain', {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: {
        name: this.retainClass,
        labels: componentLabels(this.retainClass, 'storage'),
        annotations: { [FLUX_PRUNE_ANNOTATION]: FLUX_PRUNE_DISABLED },
      },
      provisioner: LOCAL_PATH_PROVISIONER,
      reclaimPolicy: 'Retain',
      // Bind where the pod lands (a local volume is on one node).
      volumeBindingMode: 'WaitForFirstConsumer',
      // local-path cannot grow a volume; sizes are bookkeeping, not quotas.
      allowVolumeExpansion: false,
    });
  }
}

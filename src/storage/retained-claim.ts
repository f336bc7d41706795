/**
 * A PersistentVolumeClaim for data that must outlive everything else: repositories, the Gitea database,
 * queued jobs. Two protections, both always on:
 *
 * - `storageClassName` is the Retain class (`storage.retainClass`), so deleting the claim keeps the volume
 *   and its directory on the node (the PersistentVolume goes to `Released`, not away);
 * - `kustomize.toolkit.fluxcd.io/prune: disabled`, so Flux never garbage-collects the claim, even when it
 *   disappears from git (a renamed component, a bad commit).
 *
 * The claim name is explicit and never derived from the construct path: renaming a construct must not
 * rename (that is, replace) a claim.
 * @see https://fluxcd.io/flux/components/kustomize/kustomizations/#prune
 * @see https://kubernetes.io/docs/concepts/storage/persistent-volumes/#retain
 */
import { Size } from 'cdk8s';
import { PersistentVolumeAccessMode, PersistentVolumeClaim, PersistentVolumeMode } from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import type { RaibidConfig } from '../config/resolve.js';
import { bytes } from '../config/quantity.js';

/** The Flux annotation that exempts an object from garbage collection. */
export const FLUX_PRUNE_ANNOTATION = 'kustomize.toolkit.fluxcd.io/prune';
/** Its value that disables pruning (written exactly like this: older Flux compares case-sensitively). */
export const FLUX_PRUNE_DISABLED = 'disabled';

export interface RetainedClaimProps {
  readonly config: RaibidConfig;
  /** Claim name; part of the contract (a new name is a new, empty volume). */
  readonly name: string;
  readonly namespace: string;
  /** Requested size, a whole number of GiB (`"100Gi"`, `"1Ti"`). */
  readonly size: string;
  /** The raibid.yaml key the size comes from, named in error messages (e.g. `gitea.storage`). */
  readonly sizeKey: string;
  /** Labels of the claim. @default - none */
  readonly labels?: Readonly<Record<string, string>>;
}

/** Whole GiB in `q`, or an error naming the config key. */
export function wholeGibibytes(q: string, key: string): number {
  const n = bytes(q) / 2 ** 30;
  if (!Number.isInteger(n) || n < 1) throw new Error(`'${key}' (${JSON.stringify(q)}) must be a whole number of GiB, at least 1, such as "10Gi" or "1Ti"`);
  return n;
}

/** A ReadWriteOnce claim on the Retain class that Flux never prunes. */
export class RetainedClaim extends PersistentVolumeClaim {
  /** Size in GiB. */
  readonly sizeGibibytes: number;

  constructor(scope: Construct, id: string, props: RetainedClaimProps) {
    const sizeGibibytes = wholeGibibytes(props.size, props.sizeKey);
    super(scope, id, {
      metadata: {
        name: props.name,
        namespace: props.namespace,
        labels: { ...props.labels },
        annotations: { [FLUX_PRUNE_ANNOTATION]: FLUX_PRUNE_DISABLED },
      },
      storageClassName: props.config.storage.retainClass,
      accessModes: [PersistentVolumeAccessMode.READ_WRITE_ONCE],
      volumeMode: PersistentVolumeMode.FILE_SYSTEM,
      storage: Size.gibibytes(sizeGibibytes),
    });
    this.sizeGibibytes = sizeGibibytes;
  }
}

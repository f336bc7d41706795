/**
 * Steps 5a and 6a: the synthesized objects, applied in two groups around the Secrets.
 *
 *   Namespaces  namespaces and storage classes of the bundle, plus flux-system (by name only) for the
 *               Flux Secret and the Flux Operator
 *   Platform    everything else of the bundle (Gitea, PostgreSQL); Deployments and StatefulSets are
 *               awaited until ready
 *
 * Each object is its own Kubernetes resource (a v1 ConfigGroup given the parsed objects), so a
 * changed manifest updates exactly that object. Every one is applied under BOOTSTRAP_FIELD_MANAGER, whose
 * fields Flux takes over at its first reconciliation (ownership.ts).
 */
import * as pulumi from '@pulumi/pulumi';
import * as k8s from '@pulumi/kubernetes';
import type { RaibidConfig } from '../config/resolve.js';
import type { Manifest } from '../gitops/render.js';
import { FLUX_NAMESPACE } from '../gitops/cluster.js';
import type { After } from './deps.js';
import { BOOTSTRAP_FIELD_MANAGER, FIELD_MANAGER_ANNOTATION } from './ownership.js';

/** The object applied under the bootstrap's field manager, which Flux overrides (ownership.ts). */
export function withBootstrapManager<T extends Manifest>(obj: T, extra: Record<string, string> = {}): T {
  const copy = structuredClone(obj);
  const meta = copy.metadata as { annotations?: Record<string, string> };
  meta.annotations = { ...meta.annotations, ...extra, [FIELD_MANAGER_ANNOTATION]: BOOTSTRAP_FIELD_MANAGER };
  return copy;
}

/**
 * The objects as a ConfigGroup whose children carry the provider and the dependencies. PersistentVolumeClaims
 * are never deleted by Pulumi (`retainOnDelete`): their data outlives `pulumi destroy`.
 * @returns the group, and its children (which it creates asynchronously) for later steps to wait for
 */
export function applyManifests(name: string, objs: readonly Manifest[], provider: k8s.Provider, after: After, parent: pulumi.Resource): { group: k8s.yaml.ConfigGroup; created: pulumi.Output<pulumi.Resource[]> } {
  const group = new k8s.yaml.ConfigGroup(
    name,
    {
      // Copies (the ConfigGroup's transformations may not touch the caller's objects), each applied
      // under the field manager Flux takes over.
      objs: objs.map((o) => withBootstrapManager(o)),
      resourcePrefix: name,
      transformations: [
        (obj: Manifest, opts: pulumi.CustomResourceOptions) => {
          opts.provider = provider;
          opts.dependsOn = after;
          if (obj.kind === 'PersistentVolumeClaim') opts.retainOnDelete = true;
        },
      ],
    },
    { parent, provider, dependsOn: after },
  );
  return { group, created: group.resources.apply((r) => Object.values(r)) };
}

export interface NamespacesArgs {
  readonly config: RaibidConfig;
  /** Namespace and StorageClass objects of the bundle. */
  readonly objects: readonly Manifest[];
  readonly provider: k8s.Provider;
  readonly after: After;
}

export class Namespaces extends pulumi.ComponentResource {
  readonly objects: k8s.yaml.ConfigGroup;
  /**
   * flux-system: holds the Flux Operator, the controllers and the flux-system Secret. Created by name
   * only: the Flux Operator applies its labels (ownership.ts), so no field of it has two owners.
   */
  readonly fluxNamespace: k8s.core.v1.Namespace;
  /** Every object this step creates. */
  readonly created: pulumi.Output<pulumi.Resource[]>;

  constructor(name: string, args: NamespacesArgs, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:Namespaces', name, {}, opts);
    const applied = applyManifests(`${name}-objects`, args.objects, args.provider, args.after, this);
    this.objects = applied.group;
    this.fluxNamespace = new k8s.core.v1.Namespace(
      `${name}-${FLUX_NAMESPACE}`,
      { metadata: { name: FLUX_NAMESPACE } },
      { parent: this, provider: args.provider, dependsOn: args.after },
    );
    this.created = applied.created.apply((r) => [...r, this.fluxNamespace]);
    this.registerOutputs({});
  }
}

export interface PlatformArgs {
  /** Bundle objects other than namespaces and storage classes. */
  readonly objects: readonly Manifest[];
  readonly provider: k8s.Provider;
  /** Namespaces and Secrets. */
  readonly after: After;
}

export class Platform extends pulumi.ComponentResource {
  readonly objects: k8s.yaml.ConfigGroup;
  /** Every object this step creates. */
  readonly created: pulumi.Output<pulumi.Resource[]>;

  constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:Platform', name, {}, opts);
    const applied = applyManifests(`${name}-objects`, args.objects, args.provider, args.after, this);
    this.objects = applied.group;
    this.created = applied.created;
    this.registerOutputs({});
  }
}

/**
 * Step 7: Flux.
 *
 *   Flux       the Flux Operator (Helm chart) and a FluxInstance **without** `spec.sync`: the operator
 *              installs the controllers at FLUX_VERSION and nothing else
 *   FluxSync   the flux-system GitRepository and root Kustomization exactly as synthesized into
 *              clusters/<name>/; Flux reconciles that folder, which contains both, and adopts them
 *
 * Leaving `sync` out of the FluxInstance matters: with it, the operator would create its own
 * flux-system GitRepository and Kustomization and fight the synthesized ones over the same names.
 * @see https://fluxcd.control-plane.io/operator/fluxinstance/
 */
import * as pulumi from '@pulumi/pulumi';
import * as k8s from '@pulumi/kubernetes';
import { FLUX_NAMESPACE } from '../gitops/cluster.js';
import type { Manifest } from '../gitops/render.js';
import type { After } from './deps.js';
import { fluxInstancePatches } from './ownership.js';
import { withBootstrapManager } from './platform.js';
import { FLUX_OPERATOR_CHART, FLUX_OPERATOR_VERSION, FLUX_REGISTRY, FLUX_VERSION } from './versions.js';

/** Flux controllers installed; helm-controller runs the KEDA HelmRelease. */
export const FLUX_COMPONENTS = ['source-controller', 'kustomize-controller', 'helm-controller', 'notification-controller'] as const;

/** Annotation that makes Pulumi wait for a custom resource's Ready condition. */
export const WAIT_READY = { 'pulumi.com/waitFor': 'condition=Ready' } as const;

export interface FluxArgs {
  readonly provider: k8s.Provider;
  /** The repository push and the flux-system Secret. */
  readonly after: After;
}

export class Flux extends pulumi.ComponentResource {
  readonly operator: k8s.helm.v3.Release;
  readonly instance: k8s.apiextensions.CustomResource;

  constructor(name: string, args: FluxArgs, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:Flux', name, {}, opts);
    this.operator = new k8s.helm.v3.Release(
      `${name}-operator`,
      {
        name: 'flux-operator',
        chart: FLUX_OPERATOR_CHART,
        version: FLUX_OPERATOR_VERSION,
        namespace: FLUX_NAMESPACE,
        createNamespace: false,
        atomic: true,
        timeout: 600,
        // The status web UI is not needed for a GitOps-only cluster; it stays off (one fewer listener).
        values: { installCRDs: true, web: { enabled: false } },
      },
      { parent: this, provider: args.provider, dependsOn: args.after },
    );
    this.instance = new k8s.apiextensions.CustomResource(
      `${name}-instance`,
      {
        apiVersion: 'fluxcd.controlplane.io/v1',
        kind: 'FluxInstance',
        // The operator accepts exactly one FluxInstance, named flux, in its own namespace.
        metadata: { name: 'flux', namespace: FLUX_NAMESPACE, annotations: { ...WAIT_READY } },
        spec: {
          distribution: { version: FLUX_VERSION, registry: FLUX_REGISTRY },
          components: [...FLUX_COMPONENTS],
          cluster: { type: 'kubernetes', size: 'small', multitenant: false, networkPolicy: true, domain: 'cluster.local' },
          // kustomize-controller takes the bootstrap's fields over; the flux-system labels (ownership.ts).
          kustomize: { patches: fluxInstancePatches() },
        },
      },
      { parent: this, provider: args.provider, dependsOn: [this.operator], customTimeouts: { create: '10m', update: '10m' } },
    );
    this.registerOutputs({ version: FLUX_VERSION });
  }
}

export interface FluxSyncArgs {
  /** GitRepository and root Kustomization from clusters/<name>/, in that order. */
  readonly objects: readonly Manifest[];
  readonly provider: k8s.Provider;
  /** The FluxInstance and the flux-system Secret. */
  readonly after: After;
}

export class FluxSync extends pulumi.ComponentResource {
  readonly source: k8s.apiextensions.CustomResource;
  readonly root: k8s.apiextensions.CustomResource;

  constructor(name: string, args: FluxSyncArgs, opts?: pulumi.ComponentResourceOptions) {
    super('raibid:bootstrap:FluxSync', name, {}, opts);
    const [source, root] = args.objects;
    // Pulumi waits for Ready; the bootstrap's field manager, which Flux takes over (ownership.ts).
    const withWait = (o: Manifest) => withBootstrapManager(o, WAIT_READY);
    // Ready once Flux fetched the repository with the token: proves URL, credentials and network path.
    this.source = new k8s.apiextensions.CustomResource(`${name}-source`, withWait(source), {
      parent: this,
      provider: args.provider,
      dependsOn: args.after,
      customTimeouts: { create: '10m', update: '10m' },
    });
    // Ready once clusters/<name>/ is applied; the layers then reconcile in order on their own.
    this.root = new k8s.apiextensions.CustomResource(`${name}-root`, withWait(root), {
      parent: this,
      provider: args.provider,
      dependsOn: [this.source],
      customTimeouts: { create: '15m', update: '15m' },
    });
    this.registerOutputs({});
  }
}

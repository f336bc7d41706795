/**
 * One owner per object: Flux.
 *
 * Bootstrap has to apply the bundle (namespaces, storage classes, Gitea, PostgreSQL) and the Flux sync
 * objects before Flux runs, and Flux applies the very same objects from git afterwards. With two
 * server-side-apply managers on one object, a field removed in git stays on the live object as long as
 * the other manager still claims it. The handover uses Flux's own mechanism:
 *
 * - Pulumi applies every such object under one fixed field manager, BOOTSTRAP_FIELD_MANAGER (the
 *   `pulumi.com/patchFieldManager` annotation; without it the provider picks `pulumi-kubernetes-<random>`).
 * - kustomize-controller runs with `--override-manager=<BOOTSTRAP_FIELD_MANAGER>` (a FluxInstance
 *   kustomize patch). At every apply it removes that manager's Apply and Update entries from the
 *   object's managedFields (as it does for `kubectl`), so from its first reconciliation on Flux is the
 *   only manager, and a field deleted in git is deleted from the object.
 * - Later `pulumi up` runs apply the same inputs (the pinned bootstrap commit, repo-snapshot.ts), so
 *   Pulumi sends nothing and takes nothing back. Should it apply again (a new bootstrap commit), Flux
 *   takes the fields back at its next reconciliation.
 *
 * The flux-system Namespace has one owner too: the Flux Operator applies it with the distribution
 * (labels `pod-security.kubernetes.io/warn*`), so bootstrap does not declare its labels. Pulumi creates
 * it by name only (the Flux Secret and the operator need it first) and the labels bootstrap wants come
 * in through the same FluxInstance patches, applied by the operator.
 *
 * @see https://github.com/fluxcd/kustomize-controller/blob/main/docs/spec/v1/kustomizations.md (--override-manager)
 * @see https://fluxcd.control-plane.io/operator/fluxinstance/#kustomize-patches
 */
import { stringify } from 'yaml';
import { FLUX_NAMESPACE } from '../gitops/cluster.js';
import { componentLabels } from '../labels.js';
import { podSecurityLabels } from '../namespaces/namespaces.js';

/** The field manager Pulumi applies the bundle and the sync objects under. */
export const BOOTSTRAP_FIELD_MANAGER = 'raibid-bootstrap';

/** The annotation that sets it, per object. */
export const FIELD_MANAGER_ANNOTATION = 'pulumi.com/patchFieldManager';

/** The kustomize-controller flag that hands the bootstrap's fields to Flux. */
export const OVERRIDE_MANAGER_ARG = `--override-manager=${BOOTSTRAP_FIELD_MANAGER}`;

/** Labels of the flux-system Namespace (set by the Flux Operator through a patch). */
export function fluxNamespaceLabels(): Record<string, string> {
  return { ...componentLabels(FLUX_NAMESPACE, 'namespace'), ...podSecurityLabels('restricted') };
}

/** `spec.kustomize.patches` of the FluxInstance. */
export function fluxInstancePatches(): { target: Record<string, string>; patch: string }[] {
  return [
    {
      target: { kind: 'Deployment', name: 'kustomize-controller' },
      patch: stringify([{ op: 'add', path: '/spec/template/spec/containers/0/args/-', value: OVERRIDE_MANAGER_ARG }]),
    },
    {
      target: { kind: 'Namespace', name: FLUX_NAMESPACE },
      patch: stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: FLUX_NAMESPACE, labels: fluxNamespaceLabels() } }),
    },
  ];
}

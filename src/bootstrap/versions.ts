/**
 * Versions the bootstrap installs. Pinned exactly: a re-run installs the same bits, and a change here is
 * a reviewed upgrade (the k3s install re-runs when K3S_VERSION changes; the Helm release and the
 * FluxInstance update in place).
 */

/**
 * k3s release (`INSTALL_K3S_VERSION`): Kubernetes 1.35, the newest minor KEDA documents the pinned chart
 * (`keda.chartVersion`, KEDA 2.20) as tested on (1.33–1.35; test/fixtures/keda/ keeps that matrix, and
 * test/keda.test.ts fails when a bump of either leaves it). Each release ships arm64 and amd64 binaries.
 * @see https://docs.k3s.io/release-notes/v1.35.X
 * @see https://keda.sh/docs/2.21/operate/cluster/#kubernetes-compatibility
 */
export const K3S_VERSION = 'v1.35.5+k3s1';

/**
 * The install script of exactly that release (raw file at the git tag, not the moving get.k3s.io), so the
 * script and the binary it installs always match.
 */
export const K3S_INSTALL_SCRIPT_URL = `https://raw.githubusercontent.com/k3s-io/k3s/${encodeURIComponent(K3S_VERSION)}/install.sh`;

/**
 * Flux distribution the FluxInstance installs (`spec.distribution.version`), an exact version rather
 * than a range so the operator never upgrades Flux on its own.
 * @see https://github.com/fluxcd/flux2/releases
 */
export const FLUX_VERSION = '2.9.4';

/** Registry of the upstream Flux controller images (`spec.distribution.registry`). */
export const FLUX_REGISTRY = 'ghcr.io/fluxcd';

/** OCI Helm chart of the Flux Operator. */
export const FLUX_OPERATOR_CHART = 'oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator';

/**
 * Flux Operator chart version (the chart version equals the operator's app version).
 * @see https://github.com/controlplaneio-fluxcd/flux-operator/releases
 */
export const FLUX_OPERATOR_VERSION = '0.58.1';

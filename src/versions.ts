/** Pinned versions that are not per-image config knobs. */

/** Pod Security Standards version every namespace's labels pin (never "latest"). */
export const POD_SECURITY_VERSION = 'v1.33';

/** Oldest KEDA chart (= KEDA) accepted for `keda.chartVersion`. */
export const KEDA_MIN_VERSION = '2.20.1';

/** Oldest Redis accepted: KEDA's lag-based scaling reads `lag` from XINFO GROUPS (7.0+); 7.2 is the oldest supported line. */
export const REDIS_MIN_VERSION: readonly [number, number] = [7, 2];

/** Pinned versions that are not per-image config knobs. */

/** Pod Security Standards version every namespace's labels pin (never "latest"). */
export const POD_SECURITY_VERSION = 'v1.33';

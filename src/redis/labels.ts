/** Labels of the Redis pods, shared with the policies of the components that reach Redis. */
import { selectorLabels } from '../labels.js';

/** Name of the Redis workload (its `app.kubernetes.io/name`). */
export const REDIS_APP = 'redis';
/** The labels Redis pods are selected by (Service, StatefulSet, NetworkPolicies). */
export const REDIS_POD_LABELS: Readonly<Record<string, string>> = selectorLabels(REDIS_APP);

/** The labels every raibid-ci object carries, after the Kubernetes recommended labels. */
export const PART_OF = 'raibid-ci';

/** Standard labels for one component. */
export function componentLabels(name: string, component: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': PART_OF,
    'app.kubernetes.io/managed-by': 'raibid-ci',
  };
}

/** The labels a workload selects its pods by: a stable subset of componentLabels. */
export function selectorLabels(name: string): Record<string, string> {
  return { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': PART_OF };
}

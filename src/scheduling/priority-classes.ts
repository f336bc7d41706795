/**
 * PriorityClasses (controllers layer; bootstrap applies it before Flux, because Gitea's pods name one).
 *
 * Why: under node memory pressure the kubelet evicts first the pods whose usage exceeds their requests,
 * then by pod priority. Without classes every pod has priority 0, and a burst of agents could push the
 * kubelet into evicting Gitea, PostgreSQL or Redis — the pods every agent depends on. With these classes:
 *
 *   - {@link PLATFORM_PRIORITY_CLASS} (Gitea, PostgreSQL, Redis, BuildKit, the API): high value; the
 *     scheduler may preempt agent pods to place a platform pod, and the kubelet evicts agents first.
 *   - {@link AGENT_PRIORITY_CLASS} (agent Jobs): low value with `preemptionPolicy: Never`, so a pending
 *     agent waits for room instead of preempting another agent or the platform.
 *
 * PriorityClass is cluster-scoped (no namespace). Neither class is `globalDefault`: a pod without a class
 * keeps priority 0 and ranks below both.
 * @see https://kubernetes.io/docs/concepts/scheduling-eviction/pod-priority-preemption/
 * @see https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/#pod-selection-for-kubelet-eviction
 */
import type { Construct } from 'constructs';
import type { IPriorityClass } from 'kubernetes-models/scheduling.k8s.io/v1/PriorityClass';
import { ComponentChart, manifest, type ComponentChartProps } from '../gitops/component.js';
import { componentLabels } from '../labels.js';
import { NO_REQUESTS, type Requests } from '../storage/hardened-workload.js';

/** Class of the platform pods: Gitea, PostgreSQL, Redis, BuildKit, the API. */
export const PLATFORM_PRIORITY_CLASS = 'raibid-platform';
/** Class of the agent pods. */
export const AGENT_PRIORITY_CLASS = 'raibid-agents';

/** Priority value of {@link PLATFORM_PRIORITY_CLASS}; far below the system classes (2,000,000,000+). */
export const PLATFORM_PRIORITY = 100_000;
/** Priority value of {@link AGENT_PRIORITY_CLASS}; above 0, the value of pods without a class. */
export const AGENT_PRIORITY = 1_000;

export class Scheduling extends ComponentChart {
  /** Name of the platform class. */
  readonly platformClass = PLATFORM_PRIORITY_CLASS;
  /** Name of the agent class. */
  readonly agentClass = AGENT_PRIORITY_CLASS;
  /** Requests of this component's pods: none, it only declares classes. */
  readonly requests: Requests = NO_REQUESTS;

  constructor(scope: Construct, id: string, props: Omit<ComponentChartProps, 'layer' | 'bootstrap'>) {
    super(scope, id, { ...props, layer: 'controllers', bootstrap: true });

    manifest<IPriorityClass>(this, 'platform', {
      apiVersion: 'scheduling.k8s.io/v1',
      kind: 'PriorityClass',
      metadata: { name: PLATFORM_PRIORITY_CLASS, labels: componentLabels(PLATFORM_PRIORITY_CLASS, 'scheduling') },
      value: PLATFORM_PRIORITY,
      preemptionPolicy: 'PreemptLowerPriority',
      globalDefault: false,
      description: 'raibid-ci platform (Gitea, PostgreSQL, Redis, BuildKit, API): scheduled and kept before agents; may preempt agent pods.',
    });

    manifest<IPriorityClass>(this, 'agents', {
      apiVersion: 'scheduling.k8s.io/v1',
      kind: 'PriorityClass',
      metadata: { name: AGENT_PRIORITY_CLASS, labels: componentLabels(AGENT_PRIORITY_CLASS, 'scheduling') },
      value: AGENT_PRIORITY,
      // A pending agent waits for room; it never preempts another agent or the platform.
      preemptionPolicy: 'Never',
      globalDefault: false,
      description: 'raibid-ci CI agents: evicted before the platform under node pressure; never preempt other pods.',
    });
  }
}

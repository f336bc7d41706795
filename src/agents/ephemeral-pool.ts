/**
 * Ephemeral pool: a KEDA ScaledJob starts one Job (one agent pod, one build) per queued entry and
 * scales to zero.
 *
 * - Scales on the consumer group's **lag** (entries not yet delivered to any agent), `lagCount: "1"`:
 *   one entry, one Job. A started agent takes its entry off the lag at once (XREADGROUP), so lag never
 *   counts running builds.
 * - `accurate` strategy: new Jobs = lag − Jobs not yet running (capped by maxReplicaCount − running),
 *   the right arithmetic for a queue that excludes in-flight work. `pendingPodConditions` makes a Job
 *   count as "not yet running" until its pod is scheduled and Ready, and an agent turns Ready only
 *   once it has claimed its entry (readiness probe `/claimed`, see agent-pod.ts): a Job is pending
 *   exactly while its entry is still in the lag, so a queued job never starts twice.
 * - A surplus Job (its entry was claimed by an agent started earlier) finds nothing and exits 0
 *   after `idleExitSeconds`, freeing its share of the node.
 * - `rollout.strategy: gradual`: a changed ScaledJob (any GitOps commit touching it) leaves running
 *   Jobs alone instead of deleting them.
 * @see https://keda.sh/docs/2.20/reference/scaledjob-spec/
 */
import { Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import type { IScaledJob } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledJob';
import { manifest } from '../gitops/component.js';
import { agentLabels, agentPodTemplate, idleExitSeconds, oneShotDeadlineSeconds, type PoolConstructProps } from './agent-pod.js';
import { redisStreamsTrigger } from './redis-trigger.js';

export interface EphemeralPoolProps extends PoolConstructProps {
  /**
   * Finished Jobs kept for their logs.
   * @default 5 successful, 10 failed
   */
  readonly successfulJobsHistoryLimit?: number;
  readonly failedJobsHistoryLimit?: number;
  /**
   * Pod conditions that must all be True before a Job stops counting as pending.
   * @default ['PodScheduled', 'Ready']
   */
  readonly pendingPodConditions?: readonly string[];
  /**
   * Seconds an agent waits for an entry before it exits 0 (RAIBID_IDLE_EXIT_SECONDS).
   * @default 60
   */
  readonly idleExitSeconds?: number;
}

/** The ScaledJob of one ephemeral pool. */
export class EphemeralPool extends Construct {
  readonly name: string;
  readonly activeDeadlineSeconds: number;
  readonly pollingInterval: number;
  readonly successfulJobsHistoryLimit: number;
  readonly failedJobsHistoryLimit: number;
  readonly pendingPodConditions: readonly string[];
  readonly idleExitSeconds: number;

  constructor(scope: Construct, id: string, props: EphemeralPoolProps) {
    super(scope, id);
    const { config: c, pool: p } = props;
    this.name = `agent-${p.name}`;
    this.pollingInterval = p.pollingInterval;
    this.successfulJobsHistoryLimit = props.successfulJobsHistoryLimit ?? 5;
    this.failedJobsHistoryLimit = props.failedJobsHistoryLimit ?? 10;
    this.pendingPodConditions = props.pendingPodConditions ?? ['PodScheduled', 'Ready'];
    this.idleExitSeconds = idleExitSeconds(props.idleExitSeconds);
    this.activeDeadlineSeconds = oneShotDeadlineSeconds(p, this.idleExitSeconds);

    manifest<IScaledJob>(this, 'Resource', {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledJob',
      metadata: { name: this.name, namespace: c.namespaces.ci, labels: agentLabels(p.name) },
      spec: {
        jobTargetRef: {
          parallelism: 1,
          completions: 1,
          backoffLimit: 0,
          activeDeadlineSeconds: this.activeDeadlineSeconds,
          template: agentPodTemplate({ config: c, pool: p, cacheClaims: props.cacheClaims, restartPolicy: 'Never', terminationGracePeriodSeconds: 60, idleExitSeconds: this.idleExitSeconds }),
        },
        pollingInterval: this.pollingInterval,
        successfulJobsHistoryLimit: this.successfulJobsHistoryLimit,
        failedJobsHistoryLimit: this.failedJobsHistoryLimit,
        minReplicaCount: 0,
        maxReplicaCount: Lazy.any({ produce: () => props.maxReplicas() }),
        rollout: { strategy: 'gradual' },
        scalingStrategy: { strategy: 'accurate', pendingPodConditions: [...this.pendingPodConditions] },
        triggers: [redisStreamsTrigger(c, p, 'lag', { lagCount: 1, activationLagCount: p.activationLagCount })],
      },
    });
  }
}

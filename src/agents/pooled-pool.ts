/**
 * Pooled pool: a Deployment of persistent workers, each running `slots` jobs at once
 * (MAX_CONCURRENT_JOBS), scaled by a KEDA ScaledObject on the work in the queue.
 *
 * - Scaling metric: `lag + pending` (scalingModifiers over two triggers on the same group), divided
 *   by the slots per pod. Lag alone drops as soon as workers read entries, and would scale busy
 *   workers away; pending (delivered, not yet acknowledged) keeps them counted until they finish.
 * - Safe scale-down: a worker asked to stop runs `raibid-agent drain` (preStop), which stops taking
 *   jobs and returns when its running jobs are done; the grace period is longer than the build
 *   timeout, so the kubelet never kills a build. The HPA removes at most one worker per
 *   `scaleDownPeriodSeconds`, after `scaleDownStabilizationSeconds` of lower demand.
 * - No `spec.replicas`: the HPA owns it, and Flux must not reset it on every reconcile.
 * @see https://keda.sh/docs/2.20/reference/scaledobject-spec/
 */
import { Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { durationSeconds } from '../config/quantity.js';
import { manifest } from '../gitops/component.js';
import { selectorLabels } from '../labels.js';
import { agentLabels, agentPodTemplate, type PoolConstructProps } from './agent-pod.js';
import { redisStreamsTrigger } from './redis-trigger.js';

export interface PooledPoolProps extends PoolConstructProps {
  /**
   * Seconds a worker may drain after the build timeout before the kubelet kills it.
   * @default 60
   */
  readonly drainMarginSeconds?: number;
  /**
   * Seconds of lower demand before the HPA removes a worker.
   * @default 600
   */
  readonly scaleDownStabilizationSeconds?: number;
  /**
   * The HPA removes at most one worker per this many seconds.
   * @default 300
   */
  readonly scaleDownPeriodSeconds?: number;
  /**
   * Seconds without any work before the pool scales to minReplicas (0 → idle).
   * @default 300
   */
  readonly cooldownPeriod?: number;
}

/** Deployment + ScaledObject of one pooled pool. */
export class PooledPool extends Construct {
  readonly name: string;
  readonly terminationGracePeriodSeconds: number;
  readonly scaleDownStabilizationSeconds: number;
  readonly scaleDownPeriodSeconds: number;
  readonly cooldownPeriod: number;

  constructor(scope: Construct, id: string, props: PooledPoolProps) {
    super(scope, id);
    const { config: c, pool: p } = props;
    this.name = `agent-${p.name}`;
    this.terminationGracePeriodSeconds = durationSeconds(p.timeout) + (props.drainMarginSeconds ?? 60);
    this.scaleDownStabilizationSeconds = props.scaleDownStabilizationSeconds ?? 600;
    this.scaleDownPeriodSeconds = props.scaleDownPeriodSeconds ?? 300;
    this.cooldownPeriod = props.cooldownPeriod ?? 300;
    const namespace = c.namespaces.ci;
    const labels = agentLabels(p.name);

    manifest<IDeployment>(this, 'Deployment', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: this.name, namespace, labels },
      spec: {
        selector: { matchLabels: selectorLabels(this.name) },
        // Replace workers one at a time and never above the planned count.
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
        // A rollout waits for draining workers; do not call it stuck before they could finish.
        progressDeadlineSeconds: this.terminationGracePeriodSeconds + 600,
        revisionHistoryLimit: 3,
        template: agentPodTemplate({ config: c, pool: p, cacheClaims: props.cacheClaims, restartPolicy: 'Always', terminationGracePeriodSeconds: this.terminationGracePeriodSeconds, worker: true }),
      },
    });

    manifest<IScaledObject>(this, 'ScaledObject', {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: this.name, namespace, labels },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: this.name },
        pollingInterval: p.pollingInterval,
        cooldownPeriod: this.cooldownPeriod,
        minReplicaCount: p.minReplicas,
        maxReplicaCount: Lazy.any({ produce: () => props.maxReplicas() }),
        advanced: {
          horizontalPodAutoscalerConfig: {
            name: this.name,
            behavior: {
              scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }] },
              scaleDown: { stabilizationWindowSeconds: this.scaleDownStabilizationSeconds, policies: [{ type: 'Pods', value: 1, periodSeconds: this.scaleDownPeriodSeconds }] },
            },
          },
          scalingModifiers: { formula: 'lag + pending', target: String(p.slots), activationTarget: String(p.activationLagCount), metricType: 'AverageValue' },
        },
        triggers: [
          redisStreamsTrigger(c, p, 'lag', { lagCount: p.slots, activationLagCount: p.activationLagCount }),
          redisStreamsTrigger(c, p, 'pending', { pendingEntriesCount: p.slots }),
        ],
      },
    });
  }
}

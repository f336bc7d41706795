/**
 * Direct pool: no autoscaler. For each task the API adds an entry to the pool's stream and creates
 * one Job from the template kept here (a ConfigMap the API mounts); the agent reads that entry and
 * exits. The API runs at most `maxConcurrentJobs` of these Jobs at once — the planned number — and
 * leaves further tasks queued in the stream. The agents are the same one-shot agents as the ephemeral
 * mode's: Ready once they have claimed an entry (the API may wait on that), and exit 0 after
 * `idleExitSeconds` when there is none.
 *
 * ConfigMap `agent-<pool>-job`:
 * - `job.yaml`: the Job (metadata.generateName `agent-<pool>-`; the API may set a name and add env);
 * - `pool.yaml`: stream, group and the concurrency limit.
 */
import { Lazy } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import { stringify } from 'yaml';
import { DIRECT_JOB_FILE, DIRECT_POOL_FILE } from '../api/contract.js';
import { agentLabels, agentPodTemplate, idleExitSeconds, oneShotDeadlineSeconds, type PoolConstructProps } from './agent-pod.js';

export interface DirectPoolProps extends PoolConstructProps {
  /**
   * Seconds a finished Job (and its pod's logs) stays before Kubernetes deletes it.
   * @default 3600
   */
  readonly ttlSecondsAfterFinished?: number;
  /**
   * Seconds an agent waits for an entry before it exits 0 (RAIBID_IDLE_EXIT_SECONDS).
   * @default 60
   */
  readonly idleExitSeconds?: number;
}

/** Name of the Job-template ConfigMap of a direct pool. */
export function jobTemplateConfigMapName(pool: string): string {
  return `agent-${pool}-job`;
}

/** The Job template (as a ConfigMap) of one direct pool. */
export class DirectPool extends Construct {
  readonly configMapName: string;
  readonly ttlSecondsAfterFinished: number;
  readonly idleExitSeconds: number;
  /** The Job the API creates per task. */
  readonly job: IJob;

  constructor(scope: Construct, id: string, props: DirectPoolProps) {
    super(scope, id);
    const { config: c, pool: p } = props;
    this.configMapName = jobTemplateConfigMapName(p.name);
    this.ttlSecondsAfterFinished = props.ttlSecondsAfterFinished ?? 3600;
    this.idleExitSeconds = idleExitSeconds(props.idleExitSeconds);
    const namespace = c.namespaces.ci;
    const labels = agentLabels(p.name);
    this.job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { generateName: `agent-${p.name}-`, namespace, labels },
      spec: {
        parallelism: 1,
        completions: 1,
        backoffLimit: 0,
        activeDeadlineSeconds: oneShotDeadlineSeconds(p, this.idleExitSeconds),
        ttlSecondsAfterFinished: this.ttlSecondsAfterFinished,
        template: agentPodTemplate({ config: c, pool: p, cacheClaims: props.cacheClaims, restartPolicy: 'Never', terminationGracePeriodSeconds: 60, idleExitSeconds: this.idleExitSeconds }),
      },
    };
    const job = this.job;
    new kplus.ConfigMap(this, 'Resource', {
      metadata: { name: this.configMapName, namespace, labels },
      data: {
        [DIRECT_JOB_FILE]: stringify(job, { lineWidth: 0 }),
        [DIRECT_POOL_FILE]: Lazy.any({ produce: () => stringify({ pool: p.name, stream: p.stream, group: p.group, maxConcurrentJobs: props.maxReplicas() }) }),
      },
    });
  }
}

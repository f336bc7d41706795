/**
 * KEDA `redis-streams` triggers and their credentials. All trigger metadata are strings; the Redis
 * user and password come from a TriggerAuthentication (`secretTargetRef`), never from metadata.
 * @see https://keda.sh/docs/2.20/scalers/redis-streams/
 */
import type { Construct } from 'constructs';
import type { IScaleTriggers } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaleTriggers';
import type { ITriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import type { AgentPoolConfig, RaibidConfig } from '../config/resolve.js';
import { manifest } from '../gitops/component.js';
import { redisInternalAddress } from '../endpoints.js';
import { componentLabels } from '../labels.js';
import { secretName } from '../secrets/catalog.js';

/** Name of the TriggerAuthentication every pool's triggers use. */
export const REDIS_TRIGGER_AUTH = 'redis-keda';

/** The TriggerAuthentication mapping the `redis-keda` Secret to the scaler's username/password. */
export function redisTriggerAuthentication(scope: Construct, id: string, c: RaibidConfig): void {
  const secret = secretName('redis-keda');
  manifest<ITriggerAuthentication>(scope, id, {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'TriggerAuthentication',
    metadata: { name: REDIS_TRIGGER_AUTH, namespace: c.namespaces.ci, labels: componentLabels('redis-keda', 'autoscaling') },
    spec: {
      secretTargetRef: [
        { parameter: 'username', name: secret, key: 'username' },
        { parameter: 'password', name: secret, key: 'password' },
      ],
    },
  });
}

/** What a trigger measures: undelivered entries (lag) or delivered-but-unacknowledged ones (pending). */
export type StreamMeasure = { readonly lagCount: number; readonly activationLagCount: number } | { readonly pendingEntriesCount: number };

/**
 * One redis-streams trigger on a pool's stream and consumer group. With `lagCount` KEDA reads the
 * group's lag (XINFO GROUPS, Redis ≥ 7); with `pendingEntriesCount` the group's pending list.
 */
export function redisStreamsTrigger(c: RaibidConfig, pool: AgentPoolConfig, name: string, measure: StreamMeasure): IScaleTriggers {
  const metadata: Record<string, string> = {
    address: redisInternalAddress(c),
    stream: pool.stream,
    consumerGroup: pool.group,
    ...('lagCount' in measure
      ? { lagCount: String(measure.lagCount), activationLagCount: String(measure.activationLagCount) }
      : { pendingEntriesCount: String(measure.pendingEntriesCount) }),
  };
  return { type: 'redis-streams', name, metadata, authenticationRef: { name: REDIS_TRIGGER_AUTH } };
}

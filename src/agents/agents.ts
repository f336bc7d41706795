/**
 * CI agent pools (namespace `ci`), one per `agents.pools[]` entry, each in its mode:
 *
 *   ephemeral  EphemeralPool  KEDA ScaledJob, one Job per queued entry, scale to zero
 *   pooled     PooledPool     Deployment of multi-slot workers + KEDA ScaledObject
 *   direct     DirectPool     Job template the API instantiates per task
 *
 * plus each pool's BuildCache, one CachePruner for all of them, the agents' ServiceAccount, the KEDA TriggerAuthentication and the
 * agents' NetworkPolicy. Pool sizes (maxReplicaCount) come from the capacity plan, computed once the
 * whole app is built: every other object's requests are known then, and pool objects read the plan
 * lazily when rendered. A plan that does not fit (CPU, memory or disk) fails synth with the budget
 * tables.
 */
import * as kplus from 'cdk8s-plus-28';
import type { Construct, IConstruct } from 'constructs';
import { ComponentChart, type ComponentChartProps } from '../gitops/component.js';
import { allowTraffic, type Flow } from '../network/policy.js';
import { componentLabels, selectorLabels } from '../labels.js';
import { BUILDKIT_PORT, GITEA_HTTP_PORT, GITEA_SSH_PORT, REDIS_PORT } from '../endpoints.js';
import { CapacityError, FIXED_LINES, nodeAllocatable, planCapacity, platformRequestLines, poolDemands, type CapacityPlan } from '../capacity/index.js';
import { BUILDKIT_POD_NAME } from '../buildkit/buildkit.js';
import { AGENT_SERVICE_ACCOUNT, agentPolicySelector } from './agent-pod.js';
import { BuildCache, CACHE_PRUNER_SERVICE_ACCOUNT, CachePruner } from './build-cache.js';
import { DirectPool } from './direct-pool.js';
import { EphemeralPool } from './ephemeral-pool.js';
import { PooledPool } from './pooled-pool.js';
import { redisTriggerAuthentication } from './redis-trigger.js';

/** Agent pools, their caches, and the capacity plan that sizes them. */
export class Agents extends ComponentChart {
  /** The Agents chart of an app, if any. */
  static find(app: IConstruct): Agents | undefined {
    return app.node.children.find((c): c is Agents => (c as { isAgentsChart?: boolean }).isAgentsChart === true);
  }

  /** Brand for `Agents.find` (cdk8s makes `instanceof` match any chart). */
  readonly isAgentsChart = true;

  /** One construct per pool, in config order. */
  readonly pools: readonly (EphemeralPool | PooledPool | DirectPool)[];
  readonly caches: readonly BuildCache[];
  readonly pruner: CachePruner;

  private plan?: CapacityPlan;
  private planning = false;

  constructor(scope: Construct, id: string, props: Omit<ComponentChartProps, 'layer' | 'bootstrap'>) {
    super(scope, id, { ...props, layer: 'apps', bootstrap: false });
    const c = props.config;
    const namespace = c.namespaces.ci;

    for (const [sid, name] of [
      ['agent-sa', AGENT_SERVICE_ACCOUNT],
      ['pruner-sa', CACHE_PRUNER_SERVICE_ACCOUNT],
    ] as const) {
      new kplus.ServiceAccount(this, sid, { metadata: { name, namespace, labels: componentLabels(name, 'agent') }, automountToken: false });
    }
    if (c.agents.pools.some((p) => p.mode !== 'direct')) redisTriggerAuthentication(this, 'trigger-auth', c);

    const caches: BuildCache[] = [];
    this.pools = c.agents.pools.map((pool, i) => {
      const cache = new BuildCache(this, `${pool.name}-cache`, { config: c, pool, path: `agents.pools[${i}]` });
      caches.push(cache);
      const common = { config: c, pool, cacheClaims: cache.claims, maxReplicas: () => this.maxReplicasOf(pool.name) };
      if (pool.mode === 'pooled') return new PooledPool(this, pool.name, common);
      if (pool.mode === 'direct') return new DirectPool(this, pool.name, common);
      return new EphemeralPool(this, pool.name, common);
    });
    this.caches = caches;
    this.pruner = new CachePruner(this, 'cache-pruner', { config: c, caches });

    const egress: Flow[] = [
      { peers: [{ namespace: c.namespaces.infrastructure, pods: selectorLabels('redis') }], ports: [REDIS_PORT] },
      { peers: [{ namespace: c.namespaces.infrastructure, pods: selectorLabels('gitea') }], ports: [GITEA_HTTP_PORT, GITEA_SSH_PORT] },
      ...(c.buildkit.enabled ? [{ peers: [{ namespace: c.namespaces.buildkit, pods: selectorLabels(BUILDKIT_POD_NAME) }], ports: [BUILDKIT_PORT] }] : []),
      { peers: [{ internet: true }], ports: c.network.internetEgressPorts },
    ];
    allowTraffic(this, 'network-policy', { config: c, name: 'agents', namespace, pods: agentPolicySelector(), egress });

    this.node.addValidation({ validate: () => (this.capacity.fits ? [] : [new CapacityError(this.capacity).message]) });
  }

  /**
   * The capacity plan: node allocatable, the requests of every non-pool object of the app, and the
   * pool sizes. Computed on first use, after the app is complete.
   */
  get capacity(): CapacityPlan {
    if (this.plan) return this.plan;
    if (this.planning) throw new Error('capacity: the plan was requested while it was being computed; an object outside the agent pools must not depend on pool sizes');
    this.planning = true;
    try {
      const c = this.config;
      this.plan = planCapacity({ allocatable: nodeAllocatable(c), platform: [...platformRequestLines(this.node.root), ...FIXED_LINES], pools: poolDemands(c) });
    } finally {
      this.planning = false;
    }
    return this.plan;
  }

  /** Planned maxReplicaCount of a pool; throws the budget table when the plan does not fit. */
  maxReplicasOf(pool: string): number {
    const plan = this.capacity;
    if (!plan.fits) throw new CapacityError(plan);
    const hit = plan.pools.find((p) => p.name === pool);
    if (!hit) throw new Error(`capacity: no pool named ${JSON.stringify(pool)} in the plan`);
    return hit.replicas;
  }
}

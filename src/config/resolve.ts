/**
 * Fills in the defaults that depend on other keys (image names on the in-cluster registry, stream
 * names, slot counts), so every construct reads one concrete value.
 */
import type { ParsedConfig } from './schema.js';
import type { PoolInput } from './sections/apps.js';

/** An agent pool with every derived default filled in. */
export interface AgentPoolConfig extends Omit<PoolInput, 'image' | 'stream' | 'slots' | 'memoryLimit' | 'cpuLimit'> {
  readonly image: string;
  readonly stream: string;
  /** Concurrent jobs per pod: `slots` for pooled pools, 1 otherwise. */
  readonly slots: number;
  readonly memoryLimit: string;
  /** CPU limit; equal to `cpu` unless the pool bursts. */
  readonly cpuLimit: string | number;
}

/** The effective configuration every construct reads. */
export interface RaibidConfig extends Omit<ParsedConfig, 'agents' | 'api' | 'jobs'> {
  readonly jobs: ParsedConfig['jobs'] & { readonly defaultPool: string };
  readonly agents: Omit<ParsedConfig['agents'], 'pools'> & { readonly pools: readonly AgentPoolConfig[] };
  readonly api: ParsedConfig['api'] & { readonly image: string };
  /** Host of the in-cluster registry, `gitea.<domain>`. */
  readonly registryHost: string;
}

/** Derives the defaults that depend on other keys. */
export function resolveConfig(c: ParsedConfig): RaibidConfig {
  const registryHost = `gitea.${c.cluster.domain}`;
  const own = (name: string) => `${registryHost}/${c.flux.organization}/${name}:${c.agents.imageTag}`;
  return {
    ...c,
    registryHost,
    agents: {
      ...c.agents,
      pools: c.agents.pools.map((p) => ({
        ...p,
        image: p.image ?? own(`agent-${p.name}`),
        stream: p.stream ?? `ci-${p.name}`,
        slots: p.mode === 'pooled' ? (p.slots ?? 4) : 1,
        memoryLimit: p.memoryLimit ?? p.memory,
        cpuLimit: p.cpuLimit ?? p.cpu,
      })),
    },
    api: { ...c.api, image: c.api.image ?? own('raibid-api') },
    jobs: { ...c.jobs, defaultPool: c.jobs.defaultPool ?? c.agents.pools[0].name },
  };
}

/**
 * Fills in the defaults that depend on other keys (image names on the in-cluster registry, stream
 * names, slot counts), so every construct reads one concrete value.
 */
import type { ParsedConfig } from './schema.js';
import type { PoolInput } from './sections/apps.js';
import { API_IMAGE, DEFAULT_TOOLCHAIN, agentImageName } from '../images/catalog.js';
import { imageSource, type ImageSource } from '../images/inputs.js';

/** An agent pool with every derived default filled in. */
export interface AgentPoolConfig extends Omit<PoolInput, 'image' | 'stream' | 'slots' | 'memoryLimit' | 'cpuLimit' | 'toolchain'> {
  readonly image: string;
  /** The toolchain whose built image the pool runs; undefined when the pool names its own `image`. */
  readonly toolchain?: string;
  readonly stream: string;
  /** Concurrent jobs per pod: `slots` for pooled pools, 1 otherwise. */
  readonly slots: number;
  readonly memoryLimit: string;
  /** CPU limit; equal to `cpu` unless the pool bursts. */
  readonly cpuLimit: string | number;
}

/** An image raibid-ci builds in the cluster because a workload runs it. */
export interface BuiltImage extends ImageSource {
  /** `<registryHost>/<owner>/<name>` (no tag). */
  readonly repository: string;
  /** `<repository>:<tag>`: what the workloads reference. */
  readonly ref: string;
}

/** The effective configuration every construct reads. */
export interface RaibidConfig extends Omit<ParsedConfig, 'agents' | 'api' | 'jobs' | 'images'> {
  readonly jobs: ParsedConfig['jobs'] & { readonly defaultPool: string };
  readonly agents: Omit<ParsedConfig['agents'], 'pools'> & { readonly pools: readonly AgentPoolConfig[] };
  readonly api: ParsedConfig['api'] & { readonly image: string };
  readonly images: ParsedConfig['images'] & {
    /** Registry namespace of the built images: the Gitea admin, whom the bot cannot push as. */
    readonly owner: string;
    /** The images to build (those a workload references), API first, each once. */
    readonly built: readonly BuiltImage[];
  };
  /** Host of the in-cluster registry, `gitea.<domain>`. */
  readonly registryHost: string;
}

/** Derives the defaults that depend on other keys. */
export function resolveConfig(c: ParsedConfig): RaibidConfig {
  const registryHost = `gitea.${c.cluster.domain}`;
  const owner = c.gitea.admin.username;
  const built = new Map<string, BuiltImage>();
  const own = (name: string): string => {
    let b = built.get(name);
    if (!b) {
      const source = imageSource(name);
      const repository = `${registryHost}/${owner}/${name}`;
      b = { ...source, repository, ref: `${repository}:${source.tag}` };
      built.set(name, b);
    }
    return b.ref;
  };
  const api = { ...c.api, image: c.api.image ?? own(API_IMAGE) };
  const pools = c.agents.pools.map(({ toolchain, ...p }) => {
    const builtToolchain = p.image === undefined ? (toolchain ?? DEFAULT_TOOLCHAIN) : undefined;
    return {
      ...p,
      image: p.image ?? own(agentImageName(builtToolchain ?? DEFAULT_TOOLCHAIN)),
      ...(builtToolchain !== undefined ? { toolchain: builtToolchain } : {}),
      stream: p.stream ?? `ci-${p.name}`,
      slots: p.mode === 'pooled' ? (p.slots ?? 4) : 1,
      memoryLimit: p.memoryLimit ?? p.memory,
      cpuLimit: p.cpuLimit ?? p.cpu,
    };
  });
  return {
    ...c,
    registryHost,
    agents: { ...c.agents, pools },
    api,
    images: { ...c.images, owner, built: [...built.values()] },
    jobs: { ...c.jobs, defaultPool: c.jobs.defaultPool ?? c.agents.pools[0].name },
  };
}

/**
 * Checks that need several keys of raibid.yaml, or one key read against what the stack fixes (system
 * namespaces, the ports k3s serves, minimum versions). Every check that needs only the config is here,
 * not in a construct, so `npm run synth` lists every problem of a config in one run.
 *
 * The checks run on a best-effort config: a value the schema refused is replaced by its default and its
 * path is "broken". A problem that involves a broken path is not reported, since it would be about the
 * default rather than what the user wrote.
 */
import type { ParsedConfig } from './schema.js';
import { bytes, cpuMillis, formatBytes, formatCpu, durationSeconds } from './quantity.js';
import { cidrRange, ipv4Number, quote } from './formats.js';
import { mirrorContradictions } from './sections/mirrors.js';
import { GITEA_LAN_HTTP_PORT, GITEA_LAN_SSH_PORT, K3S_NODE_PORTS } from '../endpoints.js';
import { KEDA_MIN_VERSION, REDIS_MIN_VERSION } from '../versions.js';
import { MEMORY_TOLERANCE } from '../capacity/allocatable.js';
import { DEAD_LETTER_SUFFIX, KEY_PREFIX } from '../jobs/keys.js';

/** Namespaces Kubernetes, k3s and Flux own; raibid-ci's objects never go there. */
export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease', 'flux-system'] as const;

/** Whether one config path is the other or lies under it (`a.b` and `a.b[0].c`). */
export function overlaps(a: string, b: string): boolean {
  const under = (x: string, y: string) => x.startsWith(`${y}.`) || x.startsWith(`${y}[`);
  return a === b || under(a, b) || under(b, a);
}

/** Problems found so far; each names its key first. A problem involving a broken path is dropped. */
export class Problems {
  readonly lines: string[] = [];
  constructor(private readonly broken: readonly string[] = []) {}

  /** Whether none of `keys` was refused by the schema (their values are the user's). */
  sound(...keys: readonly string[]): boolean {
    return !keys.some((k) => this.broken.some((b) => overlaps(k, b)));
  }

  /** Adds `<keys[0]>: <message>` unless a key is broken; `keys[1…]` are the other keys the problem reads. */
  add(keys: string | readonly string[], message: string): void {
    const all = typeof keys === 'string' ? [keys] : keys;
    if (this.sound(...all)) this.lines.push(`${all[0]}: ${message}`);
  }
}

/** `x.y.z` of a version, compared numerically. */
function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

/** Memory the capacity plan counts on for pods: node.memory less MEMORY_TOLERANCE (to a MiB), less reservations and eviction. */
export function plannableMemory(c: ParsedConfig): number {
  const n = c.node;
  const planned = Math.floor((bytes(n.memory) * (1 - MEMORY_TOLERANCE)) / 2 ** 20) * 2 ** 20;
  return planned - bytes(n.systemReserved.memory) - bytes(n.kubeReserved.memory) - bytes(n.evictionHard);
}

/** Every `{cpu, cpuLimit}` and `{memory, memoryLimit}` pair of the config, with its path. */
function limitPairs(value: unknown, path: string, out: { path: string; r: Record<string, unknown> }[]): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) return value.forEach((v, i) => limitPairs(v, `${path}[${i}]`, out));
  const r = value as Record<string, unknown>;
  if ('memoryLimit' in r || 'cpuLimit' in r) out.push({ path, r });
  for (const [k, v] of Object.entries(r)) limitPairs(v, path ? `${path}.${k}` : k, out);
}

/** Limits below requests, in every section that has both. */
function checkLimits(c: ParsedConfig, p: Problems): void {
  const pairs: { path: string; r: Record<string, unknown> }[] = [];
  limitPairs(c, '', pairs);
  for (const { path, r } of pairs) {
    const { memory, memoryLimit, cpu, cpuLimit } = r as { memory?: string; memoryLimit?: string; cpu?: string | number; cpuLimit?: string | number };
    if (memory !== undefined && memoryLimit !== undefined && bytes(memoryLimit) < bytes(memory)) {
      p.add([`${path}.memoryLimit`, `${path}.memory`], `${quote(memoryLimit)} is below the memory request ${quote(memory)}; set it ≥ memory`);
    }
    if (cpu !== undefined && cpuLimit !== undefined && cpuMillis(cpuLimit) < cpuMillis(cpu)) {
      p.add([`${path}.cpuLimit`, `${path}.cpu`], `${quote(cpuLimit)} is below the CPU request ${quote(cpu)}; set it ≥ cpu`);
    }
  }
}

function checkNode(c: ParsedConfig, p: Problems): { cpu: number; memory: number } {
  const n = c.node;
  const cpu = n.cpu * 1000 - cpuMillis(n.systemReserved.cpu) - cpuMillis(n.kubeReserved.cpu);
  const memory = plannableMemory(c);
  if (cpu <= 0) p.add(['node.systemReserved.cpu', 'node.kubeReserved.cpu', 'node.cpu'], `reservations (${formatCpu(n.cpu * 1000 - cpu)}) leave no CPU of node.cpu (${n.cpu}) for pods; lower node.systemReserved.cpu or node.kubeReserved.cpu, or raise node.cpu`);
  if (memory <= 0) {
    p.add(
      ['node.systemReserved.memory', 'node.kubeReserved.memory', 'node.evictionHard', 'node.memory'],
      `reservations and node.evictionHard leave no memory of node.memory (${quote(n.memory)}, of which the plan counts ${Math.round((1 - MEMORY_TOLERANCE) * 100)}%) for pods; lower the reservations or raise node.memory`,
    );
  }
  return { cpu, memory };
}

function checkPools(c: ParsedConfig, p: Problems, alloc: { cpu: number; memory: number }): void {
  const names = new Map<string, number>();
  const queues = new Map<string, number>();
  c.agents.pools.forEach((pool, i) => {
    const at = `agents.pools[${i}]`;
    if (names.has(pool.name)) p.add(`${at}.name`, `duplicate pool name ${quote(pool.name)} (also agents.pools[${names.get(pool.name)}]); pool names must be unique`);
    else names.set(pool.name, i);
    const stream = pool.stream ?? `ci-${pool.name}`;
    const queue = `${stream}\u0000${pool.group}`;
    if (queues.has(queue)) p.add(`${at}.stream`, `pools ${queues.get(queue)} and ${i} both consume stream ${quote(stream)} with group ${quote(pool.group)} and would take each other's jobs; give one another stream or group`);
    else queues.set(queue, i);
    // The runtime's own keys (job records, logs, locks) and every stream's dead-letter stream share the keyspace.
    if (stream.startsWith(KEY_PREFIX)) p.add(`${at}.stream`, `${quote(stream)} starts with ${quote(KEY_PREFIX)}, the prefix of the job records, logs and locks the API and agents keep in Redis; choose another name`);
    if (stream.endsWith(DEAD_LETTER_SUFFIX)) p.add(`${at}.stream`, `${quote(stream)} ends with ${quote(DEAD_LETTER_SUFFIX)}, the suffix of every stream's dead-letter stream; choose another name`);
    if (pool.slots !== undefined && pool.mode !== 'pooled') p.add([`${at}.slots`, `${at}.mode`], `only pooled pools have slots, but mode is ${quote(pool.mode)}; remove slots or set mode: pooled`);
    if (pool.minReplicas > 0 && pool.mode !== 'pooled') {
      const why = pool.mode === 'direct' ? 'direct pools start one Job per task and keep no idle agents' : 'ephemeral pools start one pod per job and scale to zero (KEDA ScaledJob), so it would be ignored';
      p.add([`${at}.minReplicas`, `${at}.mode`], `${why}; remove minReplicas or use mode: pooled`);
    }
    if (typeof pool.maxReplicas === 'number' && pool.minReplicas > pool.maxReplicas) p.add([`${at}.minReplicas`, `${at}.maxReplicas`], `${pool.minReplicas} is above maxReplicas ${pool.maxReplicas}`);
    if (alloc.cpu > 0 && cpuMillis(pool.cpu) > alloc.cpu) p.add([`${at}.cpu`, 'node'], `one agent requests ${quote(pool.cpu)} but the node has only ${formatCpu(alloc.cpu)} CPU allocatable (node.cpu − reservations); lower it or raise node.cpu`);
    if (alloc.memory > 0 && bytes(pool.memory) > alloc.memory) {
      p.add([`${at}.memory`, 'node'], `one agent requests ${quote(pool.memory)} but the node has only ${formatBytes(alloc.memory)} plannable (node.memory less ${Math.round(MEMORY_TOLERANCE * 100)}%, reservations and eviction); lower it or raise node.memory`);
    }
    if (pool.image !== undefined && pool.toolchain !== undefined) p.add([`${at}.toolchain`, `${at}.image`], `${quote(pool.toolchain)} names an image raibid-ci builds, but image is set too (${quote(pool.image)}); keep one of them`);
  });
  const defaultPool = c.jobs.defaultPool;
  if (defaultPool !== undefined && !names.has(defaultPool)) p.add(['jobs.defaultPool', 'agents.pools'], `${quote(defaultPool)} is not a pool of agents.pools (${[...names.keys()].join(', ')})`);
}

/** Why each namespace role needs its own namespace (named when two roles share one). */
const NAMESPACE_ROLES: Readonly<Record<keyof ParsedConfig['namespaces'], string>> = {
  ci: 'agents and the API',
  infrastructure: 'Gitea, PostgreSQL and Redis',
  monitoring: 'monitoring',
  keda: 'the KEDA operator',
  buildkit: 'the BuildKit daemon, the one privileged Pod Security exception',
  images: 'the image builds, which hold the package token',
};

function checkNamespaces(c: ParsedConfig, p: Problems): void {
  const seen = new Map<string, string>();
  for (const role of Object.keys(NAMESPACE_ROLES) as (keyof ParsedConfig['namespaces'])[]) {
    const ns = c.namespaces[role];
    const key = `namespaces.${role}`;
    if ((SYSTEM_NAMESPACES as readonly string[]).includes(ns) || ns.startsWith('kube-')) {
      p.add(key, `${quote(ns)} is a namespace Kubernetes, k3s or Flux owns (${SYSTEM_NAMESPACES.join(', ')}, kube-*); give ${NAMESPACE_ROLES[role]} a namespace of raibid-ci's own`);
    }
    const other = seen.get(ns);
    if (other !== undefined) {
      p.add(
        [key, `namespaces.${other}`],
        `${quote(ns)} is also namespaces.${other}; each role needs a namespace of its own, since the Pod Security level, labels and network policies are per namespace (namespaces.${role}: ${NAMESPACE_ROLES[role]}; namespaces.${other}: ${NAMESPACE_ROLES[other as keyof typeof NAMESPACE_ROLES]})`,
      );
    } else seen.set(ns, role);
  }
}

function checkGitea(c: ParsedConfig, p: Problems): void {
  const g = c.gitea;
  if (g.admin.username.toLowerCase() === g.bot.username.toLowerCase()) {
    p.add(['gitea.bot.username', 'gitea.admin.username'], `${quote(g.bot.username)} is also gitea.admin.username (Gitea compares user names case-insensitively); the bot must be a user of its own without admin rights`);
  }
  if (g.admin.email.toLowerCase() === g.bot.email.toLowerCase()) {
    p.add(['gitea.bot.email', 'gitea.admin.email'], `${quote(g.bot.email)} is also gitea.admin.email; Gitea needs a distinct e-mail address per user`);
  }
  if (g.registry.tls) p.add('gitea.registry.tls', `true, but raibid-ci does not provision a TLS certificate for gitea.${c.cluster.domain} yet; set it to false (plain HTTP on the LAN, and k3s is told the registry is insecure)`);
}

function checkNetwork(c: ParsedConfig, p: Problems): void {
  const n = c.network;
  const [pod, svc] = [cidrRange(n.podCidr), cidrRange(n.serviceCidr)];
  const inside = (a: [number, number], b: [number, number]) => a[0] >= b[0] && a[1] <= b[1];
  if (pod[0] <= svc[1] && svc[0] <= pod[1]) p.add(['network.serviceCidr', 'network.podCidr'], `${quote(n.serviceCidr)} overlaps network.podCidr ${quote(n.podCidr)}; k3s needs disjoint pod and service ranges`);
  n.lanCidrs.forEach((cidr, i) => {
    const lan = cidrRange(cidr);
    for (const [key, range] of [['podCidr', pod], ['serviceCidr', svc]] as const) {
      if (inside(lan, range)) p.add([`network.lanCidrs[${i}]`, `network.${key}`], `${quote(cidr)} lies inside network.${key} ${quote(n[key])}, which is excluded from the LAN ranges, so it would allow no LAN client`);
    }
  });
  const address = c.cluster.nodeAddress;
  if (address !== undefined) {
    const ip = ipv4Number(address);
    for (const [key, range] of [['podCidr', pod], ['serviceCidr', svc]] as const) {
      if (ip >= range[0] && ip <= range[1]) p.add(['cluster.nodeAddress', `network.${key}`], `${quote(address)} lies inside network.${key} ${quote(n[key])}; the node's LAN address must be outside the cluster ranges`);
    }
  }
  // Pods reach the API server only through its own NetworkPolicy rule (the kubernetes Service and the node).
  n.internetEgressPorts.forEach((port, i) => {
    if (port === n.apiServerPort) p.add([`network.internetEgressPorts[${i}]`, 'network.apiServerPort'], `${port} is the API server's port (network.apiServerPort): only the pods that talk to the API server may reach it, and only on the node; remove it`);
  });
  // Ports bound on the node: the API server, k3s's own, and what k3s ServiceLB forwards.
  const bound: { port: number; key?: string; use: string }[] = [
    { port: n.apiServerPort, key: 'network.apiServerPort', use: 'the k3s API server (network.apiServerPort)' },
    ...K3S_NODE_PORTS.map((k) => ({ port: k.port, use: `${k.use} (k3s)` })),
    { port: GITEA_LAN_HTTP_PORT, use: 'Gitea HTTP (ServiceLB)' },
    { port: GITEA_LAN_SSH_PORT, use: 'Gitea SSH (ServiceLB)' },
    { port: c.api.lanPort, key: 'api.lanPort', use: 'the API on the LAN (ServiceLB, api.lanPort)' },
  ];
  bound.forEach((b, i) => {
    if (b.key === undefined) return;
    const clash = bound.find((o, j) => j !== i && o.port === b.port && (o.key === undefined || j < i));
    if (clash) p.add([b.key, ...(clash.key ? [clash.key] : [])], `${b.port} is also the port of ${clash.use} on the node; k3s ServiceLB and the node's own services each need a port of their own`);
  });
}

function checkVersions(c: ParsedConfig, p: Problems): void {
  if (compareVersions(c.keda.chartVersion, KEDA_MIN_VERSION) < 0) p.add('keda.chartVersion', `${quote(c.keda.chartVersion)} is older than ${KEDA_MIN_VERSION}; use ${KEDA_MIN_VERSION} or newer`);
  const tag = /:(\d+)\.(\d+)[^/:@]*(?:@.*)?$/.exec(c.redis.image);
  if (tag) {
    const [major, minor] = [Number(tag[1]), Number(tag[2])];
    if (major < REDIS_MIN_VERSION[0] || (major === REDIS_MIN_VERSION[0] && minor < REDIS_MIN_VERSION[1])) {
      p.add('redis.image', `${quote(c.redis.image)} is Redis ${major}.${minor}; KEDA's lag-based scaling needs Redis ${REDIS_MIN_VERSION.join('.')} or newer, such as "docker.io/library/redis:8.10.1-alpine3.23"`);
    }
  }
}

/**
 * Redis holds up to maxmemory of queued jobs; a pod using more than it requests is the first the kubelet
 * evicts under node memory pressure, whatever its priority. So maxmemory must not exceed the request.
 */
function checkRedisMemory(c: ParsedConfig, p: Problems): void {
  const r = c.redis.resources;
  const request = bytes(r.memory);
  const maxmemory = Math.floor((bytes(r.memoryLimit) * c.redis.maxmemoryPercent) / 100);
  if (maxmemory <= request) return;
  const needed = formatBytes(Math.ceil(maxmemory / 2 ** 20) * 2 ** 20);
  const percent = Math.floor((request * 100) / bytes(r.memoryLimit));
  // The schema accepts 10–90 %: suggest a lower percentage only when one would do.
  const orPercent = percent >= 10 ? ` or lower redis.maxmemoryPercent to at most ${percent}` : '';
  p.add(
    ['redis.resources.memory', 'redis.resources.memoryLimit', 'redis.maxmemoryPercent'],
    `${quote(r.memory)} is below maxmemory (${needed}: redis.maxmemoryPercent ${c.redis.maxmemoryPercent} % of redis.resources.memoryLimit ${quote(r.memoryLimit)}): a Redis holding more than it requests is evicted first under node memory pressure; set it to at least ${JSON.stringify(needed)} (best: equal to the limit)${orPercent}`,
  );
}

/**
 * The kubelet evicts first the pods using more memory than they request, whatever their priority; only
 * then does priority rank. Gitea, PostgreSQL and Redis request their whole limit, so they never exceed
 * it and memory pressure takes builds (lower priority) first (README, security model).
 */
function checkEvictionOrder(c: ParsedConfig, p: Problems): void {
  const redisMaxmemory = Math.floor((bytes(c.redis.resources.memoryLimit) * c.redis.maxmemoryPercent) / 100);
  for (const [key, r] of [
    ['gitea.resources', c.gitea.resources],
    ['gitea.postgres.resources', c.gitea.postgres.resources],
    ['redis.resources', c.redis.resources],
  ] as const) {
    if (bytes(r.memory) === bytes(r.memoryLimit)) continue;
    // A Redis request below maxmemory is reported by checkRedisMemory, with its own advice.
    if (key === 'redis.resources' && redisMaxmemory > bytes(r.memory)) continue;
    p.add(
      [`${key}.memory`, `${key}.memoryLimit`],
      `${quote(r.memory)} differs from ${key}.memoryLimit ${quote(r.memoryLimit)}: under node memory pressure the kubelet evicts pods using more than they request before any build; set both to the same value`,
    );
  }
}

/** Every contradiction of a (best-effort) config; `broken` lists the paths the schema refused. */
export function checkContradictions(c: ParsedConfig, broken: readonly string[] = []): string[] {
  const p = new Problems(broken);
  const alloc = checkNode(c, p);
  checkLimits(c, p);
  checkPools(c, p, alloc);
  checkNamespaces(c, p);
  checkGitea(c, p);
  checkNetwork(c, p);
  checkVersions(c, p);
  checkRedisMemory(c, p);
  checkEvictionOrder(c, p);
  if (c.storage.retainClass === c.storage.cacheClass) {
    p.add(['storage.retainClass', 'storage.cacheClass'], `${quote(c.storage.retainClass)} is also storage.cacheClass: stateful data needs its own Retain class; rename one of them`);
  }
  if (!c.buildkit.enabled) {
    // The default images are built in the cluster by BuildKit (infrastructure/images).
    const built = [...(c.api.image === undefined ? ['api'] : []), ...c.agents.pools.flatMap((pool, i) => (pool.image === undefined ? [`agents.pools[${i}]`] : []))];
    if (built.length > 0) {
      p.add(
        ['buildkit.enabled', ...built.map((b) => `${b}.image`)],
        `false, but ${built.join(', ')} run${built.length === 1 ? 's' : ''} an image raibid-ci builds in the cluster with BuildKit; enable buildkit, or set ${built.map((b) => `${b}.image`).join(', ')} to images you build and push yourself`,
      );
    }
  }
  mirrorContradictions(c, p);
  if (durationSeconds(c.jobs.retention) < 86_400) p.add('jobs.retention', `${quote(c.jobs.retention)} is under 24h; finished jobs must stay visible for at least a day, such as "7d"`);
  return p.lines;
}

/**
 * The capacity planner: how many agents each pool may run so that the node is never oversubscribed.
 *
 *   allocatable = node − system-reserved − kube-reserved (− eviction threshold, memory);
 *                 disk: DISK_FILL × node.disk
 *   budget      = platform requests (+ volume claims, disk)
 *                 + Σ pools maxReplicas × (CPU, memory, ephemeral-storage request of one pod)
 *
 * A pool's unit is a pod: one agent for ephemeral and direct pools, one worker with `slots` jobs for
 * pooled pools. Pools with a number keep it; the budget must still fit.
 *
 * `maxReplicas: auto` rule (deterministic): the room left after the platform and the fixed pools is
 * split into equal shares, one per auto pool; each takes as many pods as fit its share in CPU, memory
 * and disk; then the leftover is handed out one pod at a time, round-robin in pool order, while a
 * pod still fits. Every auto pool must get at least max(1, minReplicas) pods.
 *
 * Burst: a pool whose cpuLimit exceeds its request can run fewer agents at full speed. "At full
 * burst" counts how many of its pods fit at their CPU limit in what the platform and the other pools
 * (at their planned maximum) leave free.
 */
import type { RaibidConfig } from '../config/resolve.js';
import { bytes, cpuMillis } from '../config/quantity.js';
import type { Allocatable } from './allocatable.js';
import type { RequestLine } from './requests.js';
import { agentEphemeralStorageBytes } from '../agents/agent-pod.js';

/** Largest number `auto` may pick (the schema's maxReplicas bound). */
export const AUTO_MAX_REPLICAS = 1000;

/** What one pool asks of the node. */
export interface PoolDemand {
  readonly name: string;
  /** Config path, e.g. `agents.pools[0]`. */
  readonly path: string;
  readonly mode: 'ephemeral' | 'pooled' | 'direct';
  readonly maxReplicas: number | 'auto';
  readonly minReplicas: number;
  /** Concurrent jobs per pod. */
  readonly slots: number;
  /** Requests and CPU limit of one pod. */
  readonly cpuMillis: number;
  readonly cpuLimitMillis: number;
  readonly memoryBytes: number;
  /** Ephemeral-storage request of one pod (workspace, /tmp, $HOME, logs). */
  readonly diskBytes: number;
}

/** A pool with its planned size. */
export interface PlannedPool extends PoolDemand {
  /** Planned maxReplicaCount (pods). */
  readonly replicas: number;
  /** replicas × slots. */
  readonly concurrentJobs: number;
  /** Pods that can run at their CPU limit at the same time (= replicas when the pool does not burst). */
  readonly burstReplicas: number;
}

/** The outcome of planning; `problems` is empty exactly when the plan fits. */
export interface CapacityPlan {
  readonly allocatable: Allocatable;
  readonly platform: readonly RequestLine[];
  readonly platformTotal: Allocatable;
  readonly pools: readonly PlannedPool[];
  /** Platform + pools at their planned maximum. */
  readonly total: Allocatable;
  /** allocatable − total (negative when over budget). */
  readonly free: Allocatable;
  readonly problems: readonly string[];
  readonly fits: boolean;
}

export interface PlanInput {
  readonly allocatable: Allocatable;
  readonly platform: readonly RequestLine[];
  readonly pools: readonly PoolDemand[];
}

/** The pools of a config as demands. */
export function poolDemands(c: RaibidConfig): PoolDemand[] {
  return c.agents.pools.map((p, i) => ({
    name: p.name,
    path: `agents.pools[${i}]`,
    mode: p.mode,
    maxReplicas: p.maxReplicas,
    minReplicas: p.minReplicas,
    slots: p.slots,
    cpuMillis: cpuMillis(p.cpu),
    cpuLimitMillis: cpuMillis(p.cpuLimit),
    memoryBytes: bytes(p.memory),
    diskBytes: agentEphemeralStorageBytes(p),
  }));
}

const ZERO: Allocatable = { cpuMillis: 0, memoryBytes: 0, diskBytes: 0 };
const add = (a: Allocatable, b: Allocatable): Allocatable => ({ cpuMillis: a.cpuMillis + b.cpuMillis, memoryBytes: a.memoryBytes + b.memoryBytes, diskBytes: a.diskBytes + b.diskBytes });
const sub = (a: Allocatable, b: Allocatable): Allocatable => ({ cpuMillis: a.cpuMillis - b.cpuMillis, memoryBytes: a.memoryBytes - b.memoryBytes, diskBytes: a.diskBytes - b.diskBytes });
const times = (n: number, r: Allocatable): Allocatable => ({ cpuMillis: n * r.cpuMillis, memoryBytes: n * r.memoryBytes, diskBytes: n * r.diskBytes });
const sum = (all: readonly Allocatable[]): Allocatable => all.reduce(add, ZERO);
/** Whether `need` fits in `room` in every resource. */
const fitsIn = (need: Allocatable, room: Allocatable) => need.cpuMillis <= room.cpuMillis && need.memoryBytes <= room.memoryBytes && need.diskBytes <= room.diskBytes;
/** How many pods of `p` fit in `room` (a resource the pod does not ask for does not limit it). */
function podsIn(p: PoolDemand, room: Allocatable): number {
  const per = (have: number, each: number) => (each > 0 ? Math.floor(have / each) : Infinity);
  return Math.min(per(room.cpuMillis, p.cpuMillis), per(room.memoryBytes, p.memoryBytes), per(room.diskBytes, p.diskBytes));
}

/** Splits the room left among the auto pools (see the rule in the file comment). */
function sizeAutoPools(room: Allocatable, auto: readonly PoolDemand[]): number[] {
  if (auto.length === 0) return [];
  const share = { cpuMillis: Math.max(0, Math.floor(room.cpuMillis / auto.length)), memoryBytes: Math.max(0, Math.floor(room.memoryBytes / auto.length)), diskBytes: Math.max(0, Math.floor(room.diskBytes / auto.length)) };
  const n = auto.map((p) => Math.max(0, Math.min(AUTO_MAX_REPLICAS, podsIn(p, share))));
  let left = sub(room, sum(auto.map((p, i) => times(n[i], p))));
  for (let progress = true; progress; ) {
    progress = false;
    auto.forEach((p, i) => {
      if (n[i] < AUTO_MAX_REPLICAS && fitsIn(p, left)) {
        n[i] += 1;
        left = sub(left, p);
        progress = true;
      }
    });
  }
  return n;
}

/** Each resource of the plan: the node key that supplies it and the pool key that asks for it. */
const RESOURCES: readonly {
  readonly field: keyof Allocatable;
  readonly word: string;
  readonly node: string;
  readonly pool: string;
  readonly show: (n: number) => string;
  readonly phrase: (total: number, alloc: number) => string;
}[] = [
  { field: 'cpuMillis', word: 'CPU', node: 'node.cpu', pool: 'cpu', show: (n) => cores(n), phrase: (t, a) => `CPU requests (${cores(t)}) exceed the node's allocatable CPU (${cores(a)})` },
  { field: 'memoryBytes', word: 'memory', node: 'node.memory', pool: 'memory', show: (n) => gibs(n), phrase: (t, a) => `memory requests (${gibs(t)}) exceed the node's allocatable memory (${gibs(a)})` },
  { field: 'diskBytes', word: 'disk', node: 'node.disk', pool: 'workspace', show: (n) => gibs(n), phrase: (t, a) => `disk (volume claims and ephemeral-storage requests, ${gibs(t)}) exceeds the node's disk for them (${gibs(a)})` },
];

/**
 * Plans every pool. Pure and deterministic; never throws (see `problems`). Each problem names the
 * raibid.yaml key to change: a fixed pool's maxReplicas, a pool's cpu, memory or workspace, or the
 * node.* value that is short.
 */
export function planCapacity(input: PlanInput): CapacityPlan {
  const { allocatable } = input;
  const platformTotal = sum(input.platform.map((l) => times(l.count, l)));
  const fixed = input.pools.filter((p) => p.maxReplicas !== 'auto');
  const room = sub(sub(allocatable, platformTotal), sum(fixed.map((p) => times(p.maxReplicas as number, p))));
  const auto = input.pools.filter((p) => p.maxReplicas === 'auto');
  const autoSizes = sizeAutoPools(room, auto);

  const replicas = input.pools.map((p) => (p.maxReplicas === 'auto' ? autoSizes[auto.indexOf(p)] : p.maxReplicas));
  const poolTotal = sum(input.pools.map((p, i) => times(replicas[i], p)));
  const total = add(platformTotal, poolTotal);
  const free = sub(allocatable, total);

  const pools: PlannedPool[] = input.pools.map((p, i) => {
    const othersCpu = platformTotal.cpuMillis + poolTotal.cpuMillis - replicas[i] * p.cpuMillis;
    const burstReplicas = Math.max(0, Math.min(replicas[i], Math.floor((allocatable.cpuMillis - othersCpu) / p.cpuLimitMillis)));
    return { ...p, replicas: replicas[i], concurrentJobs: replicas[i] * p.slots, burstReplicas };
  });

  const problems: string[] = [];
  const podsOf = (p: PoolDemand, i: number) => times(replicas[i], p);
  for (const r of RESOURCES) {
    if (free[r.field] >= 0) continue;
    const over = `${r.phrase(total[r.field], allocatable[r.field])} by ${r.show(-free[r.field])}`;
    if (platformTotal[r.field] > allocatable[r.field]) {
      problems.push(`${r.node}: ${over}; the platform alone needs ${r.show(platformTotal[r.field])}: raise ${r.node}${r.field === 'diskBytes' ? ' or shrink the volumes' : ''}`);
      continue;
    }
    // Auto pools take only what is left, so the fixed pools are what overflows.
    input.pools.forEach((p, i) => {
      if (p.maxReplicas === 'auto' || p[r.field] === 0) return;
      const others = input.pools.reduce((n, o, j) => n + (j === i ? 0 : podsOf(o, j)[r.field]), 0);
      const most = Math.max(0, Math.floor((allocatable[r.field] - platformTotal[r.field] - others) / p[r.field]));
      problems.push(`${p.path}.maxReplicas: ${over}, with ${p.maxReplicas} pods of pool ${p.name} at ${r.show(p[r.field])} each; set it to at most ${most} (or "auto"), lower ${p.path}.${r.pool}, or raise ${r.node}`);
    });
  }
  const afterPlatform = sub(allocatable, platformTotal);
  for (const p of pools) {
    const least = Math.max(1, p.minReplicas);
    if (p.maxReplicas !== 'auto' || p.replicas >= least) continue;
    const short = RESOURCES.find((r) => p[r.field] > afterPlatform[r.field]);
    if (short) {
      problems.push(`${p.path}.${short.pool}: one pod of pool ${p.name} needs ${short.show(p[short.field])} ${short.word}, but the node has only ${short.show(Math.max(0, afterPlatform[short.field]))} left after the platform; lower it or raise ${short.node}`);
      continue;
    }
    const fixed = input.pools.filter((o) => o.maxReplicas !== 'auto').map((o) => `${o.path}.maxReplicas`);
    const room = `"auto" leaves room for ${p.replicas} pod${p.replicas === 1 ? '' : 's'} of pool ${p.name} (${cores(p.cpuMillis)} CPU, ${gibs(p.memoryBytes)}, ${gibs(p.diskBytes)} disk each)`;
    if (p.minReplicas > 1 && podsIn(p, afterPlatform) < p.minReplicas && fixed.length === 0) problems.push(`${p.path}.minReplicas: ${p.minReplicas}, but ${room}; lower it or raise node.cpu, node.memory or node.disk`);
    else problems.push(`${p.path}.maxReplicas: ${room}, at least ${least} needed${fixed.length > 0 ? `; lower ${fixed.join(', ')}` : ''}`);
  }
  return { allocatable, platform: input.platform, platformTotal, pools, total, free, problems, fits: problems.length === 0 };
}

/** Millicores as cores for messages: 17850 → "17.85". */
export function cores(millis: number): string {
  return String(Math.round(millis) / 1000);
}

/** Bytes as GiB for messages: "4 GiB", "121.51 GiB". */
export function gibs(n: number): string {
  return `${Math.round((n / 2 ** 30) * 100) / 100} GiB`;
}

import { describe, expect, it } from 'vitest';
import {
  MEMORY_TOLERANCE,
  plannedNodeMemory,
  AUTO_MAX_REPLICAS,
  CAPACITY_HEADER,
  CapacityError,
  DISK_FILL,
  FLUX_CONTROLLERS,
  FLUX_OPERATOR,
  K3S_ADDONS,
  budgetTable,
  capacitySummary,
  diskTable,
  kubeletArgs,
  kubeletReservations,
  nodeAllocatable,
  objectRequestLines,
  planCapacity,
  podRequests,
  poolDemands,
  type PoolDemand,
  type RequestLine,
} from '../src/capacity/index.js';
import { synthesize } from '../src/synth.js';
import { config, findObject, objectsUnder, refusal, synthFiles } from './helpers.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const pool = (over: Partial<PoolDemand> = {}): PoolDemand => ({
  name: 'p',
  path: 'agents.pools[0]',
  mode: 'ephemeral',
  maxReplicas: 'auto',
  minReplicas: 0,
  slots: 1,
  cpuMillis: 2000,
  cpuLimitMillis: 2000,
  memoryBytes: 4 * GiB,
  diskBytes: 0,
  ...over,
});
const line = (cpuMillis: number, memoryBytes: number, count = 1, diskBytes = 0): RequestLine => ({ source: 't', name: 'x', count, cpuMillis, memoryBytes, diskBytes });
const node = { cpuMillis: 18000, memoryBytes: 120 * GiB, diskBytes: 1000 * GiB };

describe('node allocatable', () => {
  it('is capacity minus system and kube reservations (and the eviction threshold for memory)', () => {
    expect(nodeAllocatable(config())).toEqual({ cpuMillis: 18000, memoryBytes: plannedNodeMemory(config()) - 4 * GiB - 2 * GiB - 500 * MiB, diskBytes: Math.floor(3 * 1024 * GiB * 0.85) });
  });

  it('budgets node.memory less what a machine may not report (firmware and kernel reservations)', () => {
    expect(MEMORY_TOLERANCE).toBe(0.1);
    expect(plannedNodeMemory(config('node:\n  memory: 100Gi\n'))).toBe(90 * GiB);
  });

  it('gives volumes and ephemeral storage 85% of node.disk (the kubelet reclaims disk below 15% free)', () => {
    expect(DISK_FILL).toBe(0.85);
    expect(nodeAllocatable(config('node:\n  disk: 1000Gi\n')).diskBytes).toBe(850 * GiB);
  });

  it('gives k3s the same reservations as kubelet args', () => {
    expect(kubeletArgs(config())).toEqual([
      'system-reserved=cpu=1,memory=4Gi',
      'kube-reserved=cpu=1,memory=2Gi',
      'eviction-hard=memory.available<500Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%',
    ]);
  });

  it('follows the node section', () => {
    const c = config('node:\n  cpu: 32\n  memory: 64Gi\n  systemReserved:\n    cpu: 500m\n    memory: 1Gi\n');
    expect(kubeletReservations(c).systemReserved).toEqual({ cpu: '500m', memory: '1Gi' });
    expect(nodeAllocatable(c)).toMatchObject({ cpuMillis: 30500, memoryBytes: plannedNodeMemory(c) - 1 * GiB - 2 * GiB - 500 * MiB });
  });
});

describe('platform requests', () => {
  it('takes the larger of the containers and the largest init container', () => {
    const spec = {
      initContainers: [{ resources: { requests: { cpu: '1', memory: '64Mi' } } }, { restartPolicy: 'Always', resources: { requests: { cpu: '100m', memory: '32Mi' } } }],
      containers: [{ resources: { requests: { cpu: '250m', memory: '512Mi' } } }, { resources: { requests: { cpu: '50m' } } }],
    };
    expect(podRequests(spec)).toEqual({ cpuMillis: 1000, memoryBytes: 544 * MiB, diskBytes: 0 });
  });

  it('reads ephemeral-storage requests as disk', () => {
    expect(podRequests({ containers: [{ resources: { requests: { cpu: '1', memory: '1Gi', 'ephemeral-storage': '53Gi' } } }, { resources: { requests: { 'ephemeral-storage': '1Gi' } } }] }).diskBytes).toBe(54 * GiB);
  });

  it('counts volume claims and StatefulSet claim templates as disk, per replica', () => {
    expect(objectRequestLines('c', { kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: 'n' }, spec: { resources: { requests: { storage: '20Gi' } } } })).toEqual([
      { source: 'c', name: 'PersistentVolumeClaim n/data', count: 1, cpuMillis: 0, memoryBytes: 0, diskBytes: 20 * GiB },
    ]);
    const sts = { kind: 'StatefulSet', metadata: { name: 's', namespace: 'n' }, spec: { replicas: 2, template: { spec: { containers: [{ resources: { requests: { cpu: '100m' } } }] } }, volumeClaimTemplates: [{ spec: { resources: { requests: { storage: '5Gi' } } } }] } };
    expect(objectRequestLines('c', sts)).toEqual([{ source: 'c', name: 'StatefulSet n/s', count: 2, cpuMillis: 100, memoryBytes: 0, diskBytes: 5 * GiB }]);
  });

  it('counts replicas of Deployments and one run of a CronJob', () => {
    const tpl = { spec: { containers: [{ resources: { requests: { cpu: '100m', memory: '128Mi' } } }] } };
    expect(objectRequestLines('c', { kind: 'Deployment', metadata: { name: 'd', namespace: 'n' }, spec: { replicas: 3, template: tpl } })).toEqual([{ source: 'c', name: 'Deployment n/d', count: 3, cpuMillis: 100, memoryBytes: 128 * MiB, diskBytes: 0 }]);
    expect(objectRequestLines('c', { kind: 'CronJob', metadata: { name: 'j', namespace: 'n' }, spec: { jobTemplate: { spec: { template: tpl } } } })[0].count).toBe(1);
    expect(objectRequestLines('c', { kind: 'ConfigMap', metadata: { name: 'x' } })).toEqual([]);
  });

  it('reads requests from Helm values, or the chart defaults', () => {
    const values = { resources: { operator: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } } } };
    const hr = (v: unknown) => ({ kind: 'HelmRelease', metadata: { name: 'keda', namespace: 'keda' }, spec: { chart: { spec: { chart: 'keda' } }, values: v } });
    expect(objectRequestLines('keda', hr(values))).toEqual([{ source: 'keda', name: 'HelmRelease keda/keda (resources.operator)', count: 1, cpuMillis: 100, memoryBytes: 128 * MiB, diskBytes: 0 }]);
    expect(objectRequestLines('keda', hr({})).map((l) => l.cpuMillis)).toEqual([100, 100, 100]);
  });

  it('fails for a Helm release whose pods it cannot count', () => {
    expect(() => objectRequestLines('x', { kind: 'HelmRelease', metadata: { name: 'x', namespace: 'n' }, spec: { chart: { spec: { chart: 'mystery' } }, values: {} } })).toThrow(
      'capacity: cannot count the pods of HelmRelease n/x (chart "mystery"): its values set no resources.requests and the chart\'s defaults are not in src/capacity/requests.ts CHART_DEFAULTS; set requests in its values or add the chart there',
    );
  });

  it('includes the Flux controllers and operator bootstrap installs, and k3s add-ons, as fixed lines', () => {
    expect(FLUX_CONTROLLERS).toMatchObject({ count: 4, cpuMillis: 100, memoryBytes: 64 * MiB });
    expect(synthesize(config()).capacity.platform).toContainEqual(FLUX_CONTROLLERS);
    expect(synthesize(config()).capacity.platform).toContainEqual(FLUX_OPERATOR);
    expect(synthesize(config()).capacity.platform).toContainEqual(K3S_ADDONS);
  });

  it('counts every non-agent workload of the synthesized tree and no agent pool', () => {
    const plan = synthesize(config()).capacity;
    const names = plan.platform.map((l) => l.name);
    expect(names).toContain('Deployment ci/raibid-api');
    expect(names).toContain('Deployment buildkit/buildkitd');
    expect(names).toContain('CronJob ci/agent-cache-prune');
    expect(names.some((n) => /agent-rust$/.test(n))).toBe(false);
  });
});

describe('planCapacity', () => {
  it('keeps a fixed maxReplicas and reports what is free', () => {
    const plan = planCapacity({ allocatable: node, platform: [line(1000, GiB)], pools: [pool({ maxReplicas: 4 })] });
    expect(plan.pools[0].replicas).toBe(4);
    expect(plan.free).toEqual({ cpuMillis: 9000, memoryBytes: 103 * GiB, diskBytes: 1000 * GiB });
    expect(plan.fits).toBe(true);
  });

  it('gives one auto pool the largest number that fits', () => {
    expect(planCapacity({ allocatable: node, platform: [line(1500, GiB)], pools: [pool()] }).pools[0].replicas).toBe(8);
  });

  it('limits auto by memory as well as CPU', () => {
    expect(planCapacity({ allocatable: node, platform: [], pools: [pool({ cpuMillis: 500, memoryBytes: 16 * GiB })] }).pools[0].replicas).toBe(7);
  });

  it('splits the room fairly between auto pools, then hands out the rest in pool order', () => {
    const plan = planCapacity({ allocatable: node, platform: [line(1000, GiB)], pools: [pool({ name: 'a' }), pool({ name: 'b', path: 'agents.pools[1]', cpuMillis: 500, memoryBytes: GiB }), pool({ name: 'c', path: 'agents.pools[2]', maxReplicas: 2 })] });
    // room 13 CPU: shares of 6.5 → a 3 (6), b 13 (6.5); 0.5 left → a cannot, b +1.
    expect(plan.pools.map((p) => p.replicas)).toEqual([3, 14, 2]);
    expect(plan.free.cpuMillis).toBe(0);
  });

  it('limits auto by disk as well', () => {
    expect(planCapacity({ allocatable: node, platform: [line(1000, GiB, 1, 500 * GiB)], pools: [pool({ diskBytes: 100 * GiB })] }).pools[0].replicas).toBe(5);
  });

  it('caps auto at the schema maximum', () => {
    expect(planCapacity({ allocatable: { cpuMillis: 10_000_000, memoryBytes: 10_000 * GiB, diskBytes: 0 }, platform: [], pools: [pool({ cpuMillis: 100, memoryBytes: MiB })] }).pools[0].replicas).toBe(AUTO_MAX_REPLICAS);
  });

  it('counts pooled workers per pod and their jobs per slot', () => {
    const p = planCapacity({ allocatable: node, platform: [], pools: [pool({ mode: 'pooled', slots: 4, maxReplicas: 3 })] }).pools[0];
    expect([p.replicas, p.concurrentJobs]).toEqual([3, 12]);
  });

  it('reports how many agents fit at full burst', () => {
    const plan = planCapacity({ allocatable: node, platform: [line(2000, GiB)], pools: [pool({ cpuLimitMillis: 4000 })] });
    expect(plan.pools[0].replicas).toBe(8);
    expect(plan.pools[0].burstReplicas).toBe(4);
  });

  it('reports every agent at full burst when the pool does not burst', () => {
    const p = planCapacity({ allocatable: node, platform: [], pools: [pool()] }).pools[0];
    expect(p.burstReplicas).toBe(p.replicas);
  });

  it('fails when fixed pools overflow the node', () => {
    const plan = planCapacity({ allocatable: node, platform: [line(1000, GiB)], pools: [pool({ maxReplicas: 9 })] });
    expect(plan.fits).toBe(false);
    expect(plan.problems).toEqual(['agents.pools[0].maxReplicas: CPU requests (19) exceed the node\'s allocatable CPU (18) by 1, with 9 pods of pool p at 2 each; set it to at most 8 (or "auto"), lower agents.pools[0].cpu, or raise node.cpu']);
  });

  it('names the node value when the platform alone does not fit', () => {
    const plan = planCapacity({ allocatable: node, platform: [line(1000, 130 * GiB)], pools: [pool({ maxReplicas: 1 })] });
    expect(plan.problems).toEqual(["node.memory: memory requests (134 GiB) exceed the node's allocatable memory (120 GiB) by 14 GiB; the platform alone needs 130 GiB: raise node.memory"]);
  });

  it('fails when an auto pool gets no room', () => {
    const plan = planCapacity({ allocatable: node, platform: [line(17000, GiB)], pools: [pool()] });
    expect(plan.problems).toEqual(['agents.pools[0].cpu: one pod of pool p needs 2 CPU, but the node has only 1 left after the platform; lower it or raise node.cpu']);
  });

  it('names the pool\'s memory, not maxReplicas, when one pod does not fit beside the platform', () => {
    const plan = planCapacity({ allocatable: node, platform: [line(1000, 100 * GiB)], pools: [pool({ memoryBytes: 30 * GiB })] });
    expect(plan.problems).toEqual(['agents.pools[0].memory: one pod of pool p needs 30 GiB memory, but the node has only 20 GiB left after the platform; lower it or raise node.memory']);
  });

  it('names the fixed pools that leave an auto pool no room', () => {
    const plan = planCapacity({ allocatable: node, platform: [line(1000, GiB)], pools: [pool({ maxReplicas: 8 }), pool({ name: 'q', path: 'agents.pools[1]' })] });
    expect(plan.problems).toEqual(['agents.pools[1].maxReplicas: "auto" leaves room for 0 pods of pool q (2 CPU, 4 GiB, 0 GiB disk each), at least 1 needed; lower agents.pools[0].maxReplicas']);
  });

  it('fails when auto leaves fewer pods than minReplicas', () => {
    const plan = planCapacity({ allocatable: node, platform: [line(12000, GiB)], pools: [pool({ mode: 'pooled', minReplicas: 4 })] });
    expect(plan.problems).toEqual(['agents.pools[0].minReplicas: 4, but "auto" leaves room for 3 pods of pool p (2 CPU, 4 GiB, 0 GiB disk each); lower it or raise node.cpu, node.memory or node.disk']);
  });

  it('fails when volumes and fixed pools overflow the disk', () => {
    const plan = planCapacity({ allocatable: node, platform: [line(1000, GiB, 1, 600 * GiB)], pools: [pool({ maxReplicas: 5, diskBytes: 100 * GiB })] });
    expect(plan.fits).toBe(false);
    expect(plan.free.diskBytes).toBe(-100 * GiB);
    expect(plan.problems).toEqual(['agents.pools[0].maxReplicas: disk (volume claims and ephemeral-storage requests, 1100 GiB) exceeds the node\'s disk for them (1000 GiB) by 100 GiB, with 5 pods of pool p at 100 GiB each; set it to at most 4 (or "auto"), lower agents.pools[0].workspace, or raise node.disk']);
  });

  it('is deterministic', () => {
    const input = { allocatable: node, platform: [line(1000, GiB)], pools: [pool(), pool({ name: 'q', cpuMillis: 700 })] };
    expect(planCapacity(input)).toEqual(planCapacity(input));
  });

  it('reads pool demands from the config', () => {
    expect(poolDemands(config('agents:\n  pools:\n    - name: w\n      mode: pooled\n      slots: 3\n      cpu: 1500m\n      cpuLimit: "3"\n      memory: 2Gi\n'))).toEqual([
      { name: 'w', path: 'agents.pools[0]', mode: 'pooled', maxReplicas: 'auto', minReplicas: 0, slots: 3, cpuMillis: 1500, cpuLimitMillis: 3000, memoryBytes: 2 * GiB, diskBytes: 53 * GiB },
    ]);
  });
});

describe('capacity in synth', () => {
  it('fits at least 7 concurrent 2-CPU agents with the default config', () => {
    const rust = synthesize(config()).capacity.pools.find((p) => p.name === 'rust');
    expect(rust?.cpuMillis).toBe(2000);
    expect(rust?.concurrentJobs).toBeGreaterThanOrEqual(7);
  });

  it('writes the planned number into the ScaledJob', () => {
    const plan = synthesize(config()).capacity;
    expect(findObject(objectsUnder('apps/agents/'), 'ScaledJob', 'agent-rust').spec.maxReplicaCount).toBe(plan.pools[0].replicas);
  });

  it('writes CAPACITY.md with a generated header and the pool table', () => {
    const md = synthFiles().get('CAPACITY.md') ?? '';
    expect(md.startsWith(`${CAPACITY_HEADER}\n`)).toBe(true);
    expect(CAPACITY_HEADER).toMatch(/^<!-- generated by raibid-ci/);
    expect(md).toMatch(/\| rust \| ephemeral \| auto \| ([7-9]|\d\d+) \|/);
    expect(md).toContain('kubelet-arg: system-reserved=cpu=1,memory=4Gi');
  });

  it('prints a one-line summary', () => {
    const { summary, capacity } = synthesize(config());
    expect(summary[1]).toBe(capacitySummary(capacity));
    expect(summary[1]).toMatch(/^capacity: 18 CPU \/ 108\.71 GiB allocatable, platform [\d.]+ CPU \/ [\d.]+ GiB, agents: rust \d+ × 2 CPU\/4Gi, \d+ at full burst \(2 CPU\); free [\d.]+ CPU \/ [\d.]+ GiB; disk [\d.]+ GiB of 2611\.2 GiB$/);
  });

  it('reports the burst policy of a bursting pool', () => {
    const p = synthesize(config('agents:\n  pools:\n    - name: rust\n      stream: ci-jobs\n      cpuLimit: "4"\n')).capacity.pools[0];
    expect(p.cpuLimitMillis).toBe(4000);
    expect(p.burstReplicas).toBeLessThan(p.replicas);
  });

  it('refuses the config on overflow, naming the key, with the budget table after the problems', () => {
    const message = refusal('agents:\n  pools:\n    - name: rust\n      stream: ci-jobs\n      maxReplicas: 10\n');
    expect(message).toMatch(/^raibid\.yaml is invalid \(1 problem\):\n {2}raibid\.yaml: agents\.pools\[0\]\.maxReplicas: CPU requests \([\d.]+\) exceed the node's allocatable CPU \(18\) by [\d.]+, with 10 pods of pool rust at 2 each; set it to at most \d+ \(or "auto"\)/);
    expect(message).toContain('| pool rust (ephemeral, maxReplicas 10): agents | 10 | 2 | 4Gi | 20 | 40 GiB |');
    expect(message).toContain('| **Node allocatable** |  |  |  | 18 | 108.71 GiB |');
  });

  it('counts each agent\'s workspace, the caches and the platform volumes against node.disk', () => {
    const plan = synthesize(config()).capacity;
    expect(plan.pools[0].diskBytes).toBe(53 * GiB);
    const disk = (name: string) => plan.platform.find((l) => l.name === name)?.diskBytes;
    expect([disk('PersistentVolumeClaim ci/agent-rust-cargo'), disk('PersistentVolumeClaim ci/agent-rust-sccache'), disk('PersistentVolumeClaim buildkit/buildkitd-state')]).toEqual([20 * GiB, 30 * GiB, 50 * GiB]);
    expect(plan.total.diskBytes).toBe(plan.platformTotal.diskBytes + plan.pools[0].replicas * 53 * GiB);
  });

  it('sizes an auto pool by disk when disk is what runs out', () => {
    const plan = synthesize(config('node:\n  disk: 600Gi\n')).capacity;
    const room = plan.allocatable.diskBytes - plan.platformTotal.diskBytes;
    expect(plan.pools[0].replicas).toBe(Math.floor(room / (53 * GiB)));
    expect(plan.pools[0].replicas).toBeLessThan(synthesize(config()).capacity.pools[0].replicas);
    expect(plan.fits).toBe(true);
  });

  it('refuses the config on disk overflow, naming the key, with the disk table', () => {
    const message = refusal('node:\n  disk: 500Gi\nagents:\n  pools:\n    - name: rust\n      stream: ci-jobs\n      maxReplicas: 4\n      workspace: 100Gi\n');
    expect(message).toContain('raibid.yaml: agents.pools[0].maxReplicas: disk (volume claims');
    expect(message).toMatch(/disk \(volume claims and ephemeral-storage requests, [\d.]+ GiB\) exceeds the node's disk for them \(425 GiB\) by [\d.]+ GiB/);
    expect(message).toContain('| pool rust (ephemeral, maxReplicas 4): agents | 4 | 103Gi | 412 GiB |');
    expect(message).toContain('| **Node disk** (85% of node.disk) |  |  | 425 GiB |');
  });

  it('writes the disk table into CAPACITY.md', () => {
    const md = synthFiles().get('CAPACITY.md') ?? '';
    expect(md).toContain('## Disk (volume claims and ephemeral storage)');
    expect(md).toContain('| agents: PersistentVolumeClaim ci/agent-rust-sccache | 1 | 30Gi | 30 GiB |');
    expect(md).toMatch(/\| pool rust \(ephemeral, auto\): agents \| \d+ \| 53Gi \| \d+ GiB \|/);
  });

  it('raises a CapacityError carrying the plan', () => {
    const plan = planCapacity({ allocatable: node, platform: [], pools: [pool({ maxReplicas: 10 })] });
    const err = new CapacityError(plan);
    expect(err.plan).toBe(plan);
    expect(err.message).toContain(budgetTable(plan));
    expect(err.message).toContain(diskTable(plan));
  });

  it('keeps volume claims out of the CPU/memory table and workloads without disk out of the disk table', () => {
    const plan = planCapacity({ allocatable: node, platform: [{ ...line(0, 0, 1, 20 * GiB), name: 'PersistentVolumeClaim n/data' }, { ...line(100, MiB), name: 'Deployment n/d' }], pools: [pool({ maxReplicas: 1 })] });
    expect(budgetTable(plan)).not.toContain('PersistentVolumeClaim n/data');
    expect(diskTable(plan)).toContain('| t: PersistentVolumeClaim n/data | 1 | 20Gi | 20 GiB |');
    expect(diskTable(plan)).not.toContain('Deployment n/d');
  });

  it('matches the snapshot of the disk table', () => {
    expect(diskTable(planCapacity({ allocatable: node, platform: [line(1000, GiB, 1, 50 * GiB), FLUX_CONTROLLERS], pools: [pool({ name: 'rust', diskBytes: 53 * GiB }), pool({ name: 'lint', path: 'agents.pools[1]', mode: 'pooled', slots: 4, maxReplicas: 2, diskBytes: 103 * GiB })] }))).toMatchSnapshot();
  });

  it('matches the snapshot of the budget table', () => {
    expect(budgetTable(planCapacity({ allocatable: node, platform: [line(1000, GiB), FLUX_CONTROLLERS], pools: [pool({ name: 'rust' }), pool({ name: 'lint', path: 'agents.pools[1]', mode: 'pooled', slots: 4, maxReplicas: 2, cpuLimitMillis: 4000 })] }))).toMatchSnapshot();
  });
});

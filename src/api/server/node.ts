/**
 * The machine's CPU and memory as the API sees them, for GET /api/v1/cluster and the dashboard's header.
 *
 * raibid-ci runs on one node, and the API's pod runs on it: a container's /proc/stat and /proc/meminfo
 * are the host's (k3s adds no lxcfs), so the API reads the node's own figures without a Kubernetes API
 * token or metrics-server. Allocatable is what the kubelet computes the same way: the machine's total
 * less the reservations and the eviction threshold raibid.yaml sets (the settings file carries them).
 * CPU in use is the share of non-idle time across all CPUs between two samples, in millicores.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One reading of /proc/stat's aggregate line: jiffies busy and in total, and how many CPUs. */
interface CpuSample {
  readonly busy: number;
  readonly total: number;
  readonly cpus: number;
}

export interface NodeFigures {
  readonly cpu: { readonly capacityMillis: number; readonly allocatableMillis: number; readonly usedMillis: number | null };
  readonly memory: { readonly capacityBytes: number; readonly allocatableBytes: number; readonly usedBytes: number };
}

/** Reservations taken from the machine before pods (kubelet's system-reserved + kube-reserved + eviction). */
export interface NodeReserved {
  readonly cpuMillis: number;
  readonly memoryBytes: number;
}

function readCpu(proc: string): CpuSample {
  const text = readFileSync(join(proc, 'stat'), 'utf8');
  const lines = text.split('\n');
  const all = lines.find((l) => l.startsWith('cpu '));
  if (!all) throw new Error(`${join(proc, 'stat')} has no aggregate cpu line`);
  // user nice system idle iowait irq softirq steal (guest time is already inside user and nice)
  const f = all.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  return { busy: total - idle, total, cpus: lines.filter((l) => /^cpu\d+ /.test(l)).length };
}

function readMemory(proc: string): { total: number; available: number } {
  const text = readFileSync(join(proc, 'meminfo'), 'utf8');
  const kib = (key: string): number | undefined => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const total = kib('MemTotal');
  const available = kib('MemAvailable');
  if (total === undefined || available === undefined) throw new Error(`${join(proc, 'meminfo')} lacks MemTotal or MemAvailable`);
  return { total, available };
}

/** Samples /proc on demand; CPU use is measured over the time since the previous sample (at least `minIntervalMs`). */
export class NodeUsage {
  private last?: { at: number; sample: CpuSample };
  private usedMillis: number | null = null;

  constructor(
    private readonly reserved: NodeReserved,
    private readonly proc = '/proc',
    private readonly now: () => number = Date.now,
    private readonly minIntervalMs = 1000,
  ) {}

  /** The node's figures now; CPU in use is null until two samples are far enough apart. */
  read(): NodeFigures {
    const cpu = readCpu(this.proc);
    const at = this.now();
    if (!this.last) this.last = { at, sample: cpu };
    else if (at - this.last.at >= this.minIntervalMs) {
      const dTotal = cpu.total - this.last.sample.total;
      const dBusy = cpu.busy - this.last.sample.busy;
      if (dTotal > 0) this.usedMillis = Math.round(Math.min(1, Math.max(0, dBusy / dTotal)) * cpu.cpus * 1000);
      this.last = { at, sample: cpu };
    }
    const mem = readMemory(this.proc);
    const capacityMillis = cpu.cpus * 1000;
    return {
      cpu: { capacityMillis, allocatableMillis: Math.max(0, capacityMillis - this.reserved.cpuMillis), usedMillis: this.usedMillis },
      memory: { capacityBytes: mem.total, allocatableBytes: Math.max(0, mem.total - this.reserved.memoryBytes), usedBytes: mem.total - mem.available },
    };
  }
}

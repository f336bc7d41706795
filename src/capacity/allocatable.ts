/**
 * What the node gives to pods: capacity minus the kubelet's reservations. The same numbers feed the
 * k3s kubelet flags written by bootstrap (`kubeletArgs`) and the capacity planner
 * (`nodeAllocatable`), so the plan can never assume more room than the kubelet hands out.
 * @see https://kubernetes.io/docs/tasks/administer-cluster/reserve-compute-resources/
 */
import type { RaibidConfig } from '../config/resolve.js';
import { bytes, cpuMillis, formatBytes, formatCpu } from '../config/quantity.js';

/**
 * Hard-eviction thresholds other than memory. Setting `eviction-hard` at all replaces the kubelet's
 * defaults, so the disk signals are restated with their upstream default values.
 */
export const DISK_EVICTION_DEFAULTS = 'nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%';

/** The kubelet reservations of a config, as normalised quantities. */
export interface KubeletReservations {
  readonly systemReserved: { readonly cpu: string; readonly memory: string };
  readonly kubeReserved: { readonly cpu: string; readonly memory: string };
  /** `memory.available` hard-eviction threshold. */
  readonly evictionHardMemory: string;
}

/** Reservations from `node.systemReserved`, `node.kubeReserved` and `node.evictionHard`. */
export function kubeletReservations(c: RaibidConfig): KubeletReservations {
  const n = c.node;
  const norm = (r: { cpu: string | number; memory: string }) => ({ cpu: formatCpu(cpuMillis(r.cpu)), memory: formatBytes(bytes(r.memory)) });
  return { systemReserved: norm(n.systemReserved), kubeReserved: norm(n.kubeReserved), evictionHardMemory: formatBytes(bytes(n.evictionHard)) };
}

/** The k3s `kubelet-arg` entries bootstrap writes into /etc/rancher/k3s/config.yaml. */
export function kubeletArgs(c: RaibidConfig): string[] {
  const r = kubeletReservations(c);
  return [
    `system-reserved=cpu=${r.systemReserved.cpu},memory=${r.systemReserved.memory}`,
    `kube-reserved=cpu=${r.kubeReserved.cpu},memory=${r.kubeReserved.memory}`,
    `eviction-hard=memory.available<${r.evictionHardMemory},${DISK_EVICTION_DEFAULTS}`,
  ];
}

/**
 * Share of `node.disk` the plan hands out to volumes and pods' ephemeral storage. The kubelet starts
 * reclaiming (image garbage collection, then evictions) when less than 15% of the disk is free
 * (`imagefs.available<15%` in DISK_EVICTION_DEFAULTS), and container images, logs and the OS live on
 * the same disk.
 */
export const DISK_FILL = 0.85;

/** CPU (millicores), memory (bytes) and disk (bytes) the scheduler may place pods on. */
export interface Allocatable {
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  /**
   * Disk for PersistentVolumeClaims and ephemeral-storage requests together: DISK_FILL × node.disk.
   * One budget because on the DGX Spark both live on its one drive (local-path volumes under
   * /var/lib/raibid, emptyDirs and logs under /var/lib/kubelet). On a node whose volumes have a disk
   * of their own, this counts emptyDirs against the wrong disk; the scheduler still checks them
   * against the kubelet's own ephemeral-storage allocatable.
   */
  readonly diskBytes: number;
}

/**
 * Share of `node.memory` a machine may report less of than its nominal size (firmware and GPU carve-outs
 * on unified-memory SoCs such as the DGX Spark, the kernel's own reservations). The preflight accepts a
 * MemTotal down to (1 − MEMORY_TOLERANCE) × node.memory, and the plan budgets only that much, so it
 * never assumes more memory than the kubelet will see.
 */
export const MEMORY_TOLERANCE = 0.1;

/** Memory the plan counts on: node.memory less MEMORY_TOLERANCE, rounded down to a MiB. */
export function plannedNodeMemory(c: RaibidConfig): number {
  return Math.floor((bytes(c.node.memory) * (1 - MEMORY_TOLERANCE)) / 2 ** 20) * 2 ** 20;
}

/** planned node memory and capacity − system-reserved − kube-reserved (− the memory eviction threshold, for memory); disk: DISK_FILL × node.disk. */
export function nodeAllocatable(c: RaibidConfig): Allocatable {
  const n = c.node;
  return {
    cpuMillis: n.cpu * 1000 - cpuMillis(n.systemReserved.cpu) - cpuMillis(n.kubeReserved.cpu),
    memoryBytes: plannedNodeMemory(c) - bytes(n.systemReserved.memory) - bytes(n.kubeReserved.memory) - bytes(n.evictionHard),
    diskBytes: Math.floor(bytes(n.disk) * DISK_FILL),
  };
}

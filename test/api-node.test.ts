/**
 * The node's figures behind GET /api/v1/cluster (src/api/server/node.ts): CPU in use between two
 * /proc/stat samples, memory in use from /proc/meminfo, allocatable as the kubelet computes it (the
 * machine less raibid.yaml's reservations), from a /proc written by the test and from this machine's.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeUsage } from '../src/api/server/node.js';

const GiB = 2 ** 30;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A /proc with four CPUs; `busy`/`idle` are the aggregate line's jiffies. */
function fakeProc(): { dir: string; set(busy: number, idle: number, memTotalKiB?: number, memAvailableKiB?: number): void } {
  const dir = mkdtempSync(join(tmpdir(), 'raibid-proc-'));
  dirs.push(dir);
  const set = (busy: number, idle: number, memTotalKiB = 16 * 1024 * 1024, memAvailableKiB = 12 * 1024 * 1024) => {
    // user nice system idle iowait irq softirq steal guest guest_nice
    const cpuLine = (b: number, i: number) => `${Math.floor(b / 2)} 0 ${b - Math.floor(b / 2)} ${i} 0 0 0 0 0 0`;
    writeFileSync(join(dir, 'stat'), [`cpu  ${cpuLine(busy, idle)}`, ...[0, 1, 2, 3].map((n) => `cpu${n} ${cpuLine(busy / 4, idle / 4)}`), 'intr 1 2 3', 'ctxt 99', ''].join('\n'));
    writeFileSync(join(dir, 'meminfo'), `MemTotal:       ${memTotalKiB} kB\nMemFree:         1000 kB\nMemAvailable:   ${memAvailableKiB} kB\nBuffers:          100 kB\n`);
  };
  set(1000, 3000);
  return { dir, set };
}

describe('the node figures of GET /api/v1/cluster', () => {
  it('CPU in use is the busy share between two samples, times the CPUs; memory in use is MemTotal − MemAvailable', () => {
    const proc = fakeProc();
    let now = 0;
    const usage = new NodeUsage({ cpuMillis: 500, memoryBytes: 2 * GiB }, proc.dir, () => now);
    const first = usage.read();
    // One sample cannot tell CPU in use.
    expect(first.cpu).toEqual({ capacityMillis: 4000, allocatableMillis: 3500, usedMillis: null });
    expect(first.memory).toEqual({ capacityBytes: 16 * GiB, allocatableBytes: 14 * GiB, usedBytes: 4 * GiB });
    // 1 s later: 300 busy of 400 jiffies → 75 % of 4 CPUs.
    now = 1000;
    proc.set(1300, 3100, 16 * 1024 * 1024, 6 * 1024 * 1024);
    const second = usage.read();
    expect(second.cpu.usedMillis).toBe(3000);
    expect(second.memory.usedBytes).toBe(10 * GiB);
    // Too soon for a new measurement: the last one stands.
    now = 1200;
    proc.set(1300, 3500);
    expect(usage.read().cpu.usedMillis).toBe(3000);
    now = 2200;
    expect(usage.read().cpu.usedMillis).toBe(0);
  });

  it('reservations larger than the machine leave nothing allocatable, never a negative figure', () => {
    const proc = fakeProc();
    const f = new NodeUsage({ cpuMillis: 9000, memoryBytes: 64 * GiB }, proc.dir).read();
    expect(f.cpu.allocatableMillis).toBe(0);
    expect(f.memory.allocatableBytes).toBe(0);
  });

  it('a /proc without the figures is an error naming the file (the API answers node: null)', () => {
    const proc = fakeProc();
    writeFileSync(join(proc.dir, 'meminfo'), 'MemFree: 1 kB\n');
    expect(() => new NodeUsage({ cpuMillis: 0, memoryBytes: 0 }, proc.dir).read()).toThrow(/meminfo lacks MemTotal or MemAvailable/);
    expect(() => new NodeUsage({ cpuMillis: 0, memoryBytes: 0 }, join(proc.dir, 'missing')).read()).toThrow(/ENOENT/);
  });

  it('on this machine: the capacity is what the kernel reports', () => {
    const f = new NodeUsage({ cpuMillis: 0, memoryBytes: 0 }).read();
    expect(f.cpu.capacityMillis).toBe(cpus().length * 1000);
    expect(f.memory.capacityBytes).toBe(totalmem());
    expect(f.memory.usedBytes).toBeGreaterThan(0);
    expect(f.memory.usedBytes).toBeLessThan(f.memory.capacityBytes);
  });
});

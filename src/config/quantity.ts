/**
 * Kubernetes resource quantities: parsing for capacity arithmetic and validation.
 * @see https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
 */

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50 };
const DECIMAL: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15 };
const QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P|m)?$/;

/** True when `q` is a quantity string of the forms raibid-ci accepts (`500m`, `2`, `4Gi`, `1.5G`). */
export function isQuantity(q: string): boolean {
  return QUANTITY.test(q);
}

/** CPU quantity (`"500m"`, `"2"`, `2`) in millicores. */
export function cpuMillis(q: string | number): number {
  if (typeof q === 'number') return Math.round(q * 1000);
  const m = QUANTITY.exec(q);
  if (!m) throw new Error(`not a CPU quantity: ${JSON.stringify(q)}`);
  const n = Number(m[1]);
  if (m[2] === 'm') return Math.round(n);
  if (m[2] && m[2] in BINARY) throw new Error(`not a CPU quantity: ${JSON.stringify(q)}`);
  return Math.round(n * (DECIMAL[m[2] ?? ''] ?? 1) * 1000);
}

/** Memory/storage quantity (`"4Gi"`, `"512Mi"`, `"1G"`) in bytes. */
export function bytes(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = QUANTITY.exec(q);
  if (!m || m[2] === 'm') throw new Error(`not a memory quantity: ${JSON.stringify(q)}`);
  const unit = m[2] ?? '';
  return Math.round(Number(m[1]) * (BINARY[unit] ?? DECIMAL[unit]));
}

/** Largest CPU quantity in millicores: node.cpu's bound, 1024 cores. */
export const MAX_CPU_MILLIS = 1024 * 1000;
/** Smallest and largest memory or storage quantity: 1Mi and 1Pi. */
export const MIN_BYTES = 2 ** 20;
export const MAX_BYTES = 2 ** 50;

/** Why a CPU quantity is out of range (1m to 1024 cores, whole millicores), undefined when it is in range. */
export function cpuRangeProblem(q: string | number): string | undefined {
  if (typeof q === 'number' && !Number.isFinite(q)) return 'expected a finite number of cores';
  const exact = typeof q === 'number' ? q * 1000 : cpuMillisExact(q);
  if (exact === undefined) return 'expected a CPU quantity such as "500m" or "2"';
  if (!Number.isFinite(exact) || exact > MAX_CPU_MILLIS) return 'expected at most 1024 cores';
  if (exact <= 0) return 'expected more than 0 (a container with no CPU request is scheduled anywhere)';
  if (Math.abs(exact - Math.round(exact)) > 1e-6) return 'expected a whole number of millicores (at least "1m")';
  return undefined;
}

/** Why a memory or storage quantity is out of range (1Mi to 1Pi), undefined when it is in range. */
export function bytesRangeProblem(q: string): string | undefined {
  const n = bytes(q);
  if (!Number.isFinite(n) || n > MAX_BYTES) return 'expected at most 1Pi';
  if (n < MIN_BYTES) return n === 0 ? 'expected more than 0' : 'expected at least 1Mi';
  return undefined;
}

function cpuMillisExact(q: string): number | undefined {
  const m = QUANTITY.exec(q);
  if (!m || (m[2] && m[2] in BINARY)) return undefined;
  const n = Number(m[1]);
  return m[2] === 'm' ? n : n * (DECIMAL[m[2] ?? ''] ?? 1) * 1000;
}

/** Millicores as the shortest readable CPU quantity: 2000 → "2", 250 → "250m". */
export function formatCpu(millis: number): string {
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

/** Bytes as the largest exact binary unit: 4294967296 → "4Gi". */
export function formatBytes(n: number): string {
  for (const unit of ['Ti', 'Gi', 'Mi', 'Ki'] as const) if (n % BINARY[unit] === 0) return `${n / BINARY[unit]}${unit}`;
  return String(n);
}

/** Bytes in GiB with one decimal, for tables. */
export function gib(n: number): string {
  return (n / 2 ** 30).toFixed(1);
}

/** A Go-style duration (`30m`, `1h30m`, `45s`, `7d` — days allowed) in seconds. */
export function durationSeconds(d: string): number {
  const re = /(\d+)(d|h|m|s)/g;
  if (!/^(\d+(d|h|m|s))+$/.test(d)) throw new Error(`not a duration: ${JSON.stringify(d)}`);
  let total = 0;
  for (const [, n, u] of d.matchAll(re)) total += Number(n) * { d: 86400, h: 3600, m: 60, s: 1 }[u as 'd' | 'h' | 'm' | 's'];
  return total;
}

/**
 * Building blocks shared by every section of the raibid.yaml schema.
 */
import { z } from 'zod';
import { bytes, bytesRangeProblem, cpuRangeProblem, durationSeconds, isQuantity } from './quantity.js';
import { cronProblem, dnsNameProblem, httpUrlProblem, imageProblem } from './formats.js';

/** A DNS-1123 label: lowercase letters, digits and '-', at most 63 characters. */
export const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, { error: 'expected a DNS label (lowercase letters, digits and "-", at most 63 characters)' });

/** A DNS subdomain such as `dgx.local`: labels of at most 63 characters, at most `max` in all. */
export const dnsName = (max = 253) =>
  z.string().superRefine((s, ctx) => {
    const problem = dnsNameProblem(s, max);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** A zod check from a `…Problem` function (message: why the value is refused). */
const check = (problem: (s: string) => string | undefined) => (s: string, ctx: z.core.$RefinementCtx<string>) => {
  const p = problem(s);
  if (p) ctx.addIssue({ code: 'custom', message: p });
};

/** CPU quantity: `500m`, `2`, or a number of cores; more than 0, whole millicores, at most 1024 cores. */
export const cpu = z.union([z.number(), z.string()]).superRefine((v, ctx) => {
  const p = cpuRangeProblem(v);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});

/** Memory or storage quantity: `512Mi`, `4Gi`, `1Ti`; from 1Mi to 1Pi. */
export const memory = z.string().superRefine((s, ctx) => {
  if (!isQuantity(s) || s.endsWith('m')) ctx.addIssue({ code: 'custom', message: 'expected a memory quantity such as "512Mi" or "4Gi"' });
  else check(bytesRangeProblem)(s, ctx);
});

/** Bytes of a memory quantity, undefined when it is none (the `memory` check reports that). */
export function memoryBytes(s: string): number | undefined {
  return isQuantity(s) && !s.endsWith('m') ? bytes(s) : undefined;
}

/** Memory in whole MiB (container requests and limits are rendered in MiB). */
export const mebibytes = memory.refine((s) => (memoryBytes(s) ?? 0) % 2 ** 20 === 0, { error: 'expected a whole number of MiB, such as "256Mi" or "2Gi"' });

/** A volume size in whole GiB, at least 1Gi (volume claims are rendered in GiB). */
export const gibibytes = memory.refine(
  (s) => {
    const n = memoryBytes(s);
    return n === undefined || !Number.isFinite(n) || (n % 2 ** 30 === 0 && n >= 2 ** 30);
  },
  { error: 'expected a whole number of GiB, at least 1, such as "10Gi" or "1Ti"' },
);

/** Longest duration accepted: a year and a day. */
export const MAX_DURATION_SECONDS = 366 * 86_400;

/** Why `d` is not a duration from 1s to 366d, undefined when it is. */
export function durationProblem(d: string): string | undefined {
  let n: number;
  try {
    n = durationSeconds(d);
  } catch {
    return 'expected a duration such as "30s", "10m", "1h" or "7d"';
  }
  if (n <= 0) return 'expected a duration longer than 0, such as "30s", "10m", "1h" or "7d"';
  if (!Number.isFinite(n) || n > MAX_DURATION_SECONDS) return 'expected a duration of at most 366d';
  return undefined;
}

/** A duration such as `30m`, `1h`, `7d`: more than 0, at most 366d. */
export const duration = z.string().superRefine(check(durationProblem));

/** A duration as Flux (Go's time.ParseDuration) reads it: `30s`, `10m`, `1h`, no days; more than 0, at most 24h. */
export const goDuration = z.string().superRefine((s, ctx) => {
  if (!/^(\d+(h|m|s))+$/.test(s)) return void ctx.addIssue({ code: 'custom', message: 'expected a duration such as "30s", "10m" or "1h" (Go syntax: h, m, s; no days)' });
  const n = durationSeconds(s);
  if (n <= 0) ctx.addIssue({ code: 'custom', message: 'expected a duration longer than 0, such as "1m"' });
  else if (!Number.isFinite(n) || n > 86_400) ctx.addIssue({ code: 'custom', message: 'expected a duration of at most 24h' });
});

/** A 5-field cron schedule with in-range values. */
export const cronSchedule = (example: string) =>
  z.string().superRefine((s, ctx) => {
    const problem = cronProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: `expected a 5-field cron schedule such as ${JSON.stringify(example)} (${problem})` });
  });

/** An http(s) URL with a host. */
export const httpUrl = z.string().superRefine(check(httpUrlProblem));

/** A container image pinned to a version tag or digest (distribution reference grammar): never `latest`, never untagged. */
export const image = z.string().superRefine(check(imageProblem));

/** Requests (and memory limit) for one container. */
export const resources = (d: { cpu: string; memory: string; memoryLimit: string }) =>
  z
    .strictObject({
      /** CPU request. */
      cpu: cpu.default(d.cpu).describe('CPU request (cores or millicores, e.g. "250m").'),
      /** Memory request. */
      memory: mebibytes.default(d.memory).describe('Memory request (e.g. "256Mi").'),
      /** Memory limit; the container is OOM-killed above it. */
      memoryLimit: mebibytes.default(d.memoryLimit).describe('Memory limit (e.g. "512Mi"); must be ≥ memory.'),
      /** CPU limit; omitted means no CPU limit (the container may use idle cores). */
      cpuLimit: cpu.optional().describe('CPU limit; unset means none (idle cores may be used).'),
    })
    .prefault({});

export type Resources = z.infer<ReturnType<typeof resources>>;

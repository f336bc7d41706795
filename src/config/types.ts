/**
 * Building blocks shared by every section of the raibid.yaml schema.
 */
import { z } from 'zod';
import { isQuantity, durationSeconds } from './quantity.js';

/** A DNS-1123 label: lowercase letters, digits and '-', at most 63 characters. */
export const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, { error: 'expected a DNS label (lowercase letters, digits and "-", at most 63 characters)' });

/** A DNS subdomain such as `dgx.local`. */
export const dnsName = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, { error: 'expected a DNS name such as "dgx.local"' });

/** CPU quantity: `500m`, `2`, or a number of cores. */
export const cpu = z.union([
  z.number().positive({ error: 'expected a positive number of cores' }),
  z.string().refine((s) => isQuantity(s) && !/(Ki|Mi|Gi|Ti|Pi)$/.test(s), { error: 'expected a CPU quantity such as "500m" or "2"' }),
]);

/** Memory or storage quantity: `512Mi`, `4Gi`, `1Ti`. */
export const memory = z.string().refine((s) => isQuantity(s) && !s.endsWith('m'), { error: 'expected a memory quantity such as "512Mi" or "4Gi"' });

/** A duration such as `30m`, `1h`, `7d`. */
export const duration = z.string().refine(
  (s) => {
    try {
      return durationSeconds(s) > 0;
    } catch {
      return false;
    }
  },
  { error: 'expected a duration such as "30s", "10m", "1h" or "7d"' },
);

/** A container image pinned to a version tag or digest: never `latest`, never untagged. */
export const image = z
  .string()
  .regex(/^[a-z0-9.\-/:_]+(:[\w][\w.-]{0,127}|@sha256:[a-f0-9]{64})$/, { error: 'expected an image reference with a tag, such as "redis:8.2.2-alpine"' })
  .refine((s) => !/:latest$/.test(s), { error: 'the "latest" tag is not allowed: pin a version' });

/** Requests (and memory limit) for one container. */
export const resources = (d: { cpu: string; memory: string; memoryLimit: string }) =>
  z
    .strictObject({
      /** CPU request. */
      cpu: cpu.default(d.cpu).describe('CPU request (cores or millicores, e.g. "250m").'),
      /** Memory request. */
      memory: memory.default(d.memory).describe('Memory request (e.g. "256Mi").'),
      /** Memory limit; the container is OOM-killed above it. */
      memoryLimit: memory.default(d.memoryLimit).describe('Memory limit (e.g. "512Mi"); must be ≥ memory.'),
      /** CPU limit; omitted means no CPU limit (the container may use idle cores). */
      cpuLimit: cpu.optional().describe('CPU limit; unset means none (idle cores may be used).'),
    })
    .prefault({});

export type Resources = z.infer<ReturnType<typeof resources>>;

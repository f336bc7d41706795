/**
 * The job record: what raibid-ci knows about one CI job, its states and the transitions between them.
 * Shared by the API, the agents and the CLI; it imports nothing from the stack (cdk8s, Pulumi).
 *
 * A record is one Redis hash (`raibid:job:<id>`, keys.ts). Every field is stored as a string; `steps`,
 * `image` and `cache` hold JSON. {@link parseRecord} turns the hash into a typed {@link JobRecord}, and
 * {@link recordFields} turns (part of) a record back into hash fields.
 */
import { z } from 'zod';

/** Every state a job can be in. */
export const JOB_STATUSES = ['queued', 'running', 'success', 'failure', 'error', 'cancelled', 'dead'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** States a job never leaves; a record in one of them expires after the retention. */
export const TERMINAL_STATUSES: readonly JobStatus[] = ['success', 'failure', 'error', 'cancelled', 'dead'];

/**
 * The state machine. `queued → queued` is the reaper putting a job back on its stream (attempt + 1),
 * and so is `running → queued`; `running → running` records a cancel request or progress. Retrying a
 * finished job creates a new job (event `retry`, `retryOf` set) instead of reopening this one.
 */
export const TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  queued: ['queued', 'running', 'cancelled', 'error', 'dead'],
  running: ['running', 'queued', 'success', 'failure', 'error', 'cancelled', 'dead'],
  success: [],
  failure: [],
  error: [],
  cancelled: [],
  dead: [],
};

/** States from which a job may move to `to`. */
export function statusesBefore(to: JobStatus): JobStatus[] {
  return JOB_STATUSES.filter((from) => TRANSITIONS[from].includes(to));
}

export function isTerminal(s: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(s);
}

/** What started a job. */
export const JOB_EVENTS = ['push', 'pull_request', 'manual', 'retry'] as const;
export type JobEvent = (typeof JOB_EVENTS)[number];

/** Result of one pipeline step. */
export const STEP_STATUSES = ['running', 'success', 'failure', 'skipped', 'cancelled', 'timeout', 'error'] as const;
export const stepResultSchema = z.object({
  name: z.string(),
  status: z.enum(STEP_STATUSES),
  /** Exit code of the step's process; null when it was killed by a signal or never started. */
  exitCode: z.number().int().nullable().default(null),
  /** Milliseconds the step ran. */
  durationMs: z.number().int().min(0).default(0),
  /** Why a step was skipped or ended in error (a missing tool, a timeout …). */
  reason: z.string().optional(),
});
export type StepResult = z.infer<typeof stepResultSchema>;

/** The image a job pushed, if any. */
export const pushedImageSchema = z.object({ ref: z.string(), digest: z.string().optional(), tags: z.array(z.string()).default([]) });
export type PushedImage = z.infer<typeof pushedImageSchema>;

/** Compiler-cache statistics of a job (sccache). */
export const cacheStatsSchema = z.object({ hits: z.number().int().min(0), misses: z.number().int().min(0), hitRate: z.number().min(0).max(1).nullable() });
export type CacheStats = z.infer<typeof cacheStatsSchema>;

const json = <T extends z.ZodType>(schema: T) =>
  z.string().transform((s, ctx) => {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not JSON' });
      return z.NEVER;
    }
  }).pipe(schema);
const optionalString = z.string().optional().transform((s) => (s === '' ? undefined : s));
const int = z.coerce.number().int();
const time = z.coerce.number().int().min(0);
const optionalTime = z.string().optional().transform((s) => (s === undefined || s === '' ? undefined : Number(s))).pipe(z.number().int().optional());

/** The record as stored: hash fields (strings) in, typed values out. */
export const storedRecordSchema = z.object({
  id: z.string(),
  /** `owner/name` in Gitea. */
  repo: z.string(),
  cloneUrl: z.string(),
  event: z.enum(JOB_EVENTS),
  /** Full ref, such as `refs/heads/main` or `refs/pull/7/head`. */
  ref: z.string(),
  sha: z.string(),
  pool: z.string(),
  stream: z.string(),
  status: z.enum(JOB_STATUSES),
  attempt: int.min(1),
  createdAt: time,
  startedAt: optionalTime,
  finishedAt: optionalTime,
  /** Consumer name of the agent running (or that last ran) the job. */
  agent: optionalString,
  /** Stream entry that currently carries the job. */
  entry: optionalString,
  steps: json(z.array(stepResultSchema)).default([]),
  /** Why the job ended in error, was cancelled, re-queued or declared dead. */
  reason: optionalString,
  image: json(pushedImageSchema).optional(),
  cache: json(cacheStatsSchema).optional(),
  /** Who asked for a cancel of the running job (the agent ends it). */
  cancelRequested: optionalString,
  /** Why a queued job is not running yet (direct mode: Pending reasons, image pull errors). */
  waiting: optionalString,
  /** Pull request number for pull_request jobs. */
  pr: optionalString,
  /** First line of the commit message. */
  title: optionalString,
  /** Who triggered it (the pusher, or the token's role for manual jobs). */
  actor: optionalString,
  /** The job this one retries. */
  retryOf: optionalString,
  /** Path of the pipeline file the job follows; unset means the default pipeline. */
  pipeline: optionalString,
});
export type JobRecord = z.output<typeof storedRecordSchema>;

/** Parses a record hash; undefined when the hash is empty (unknown or expired job). */
export function parseRecord(hash: Record<string, string>): JobRecord | undefined {
  if (!hash || Object.keys(hash).length === 0) return undefined;
  const r = storedRecordSchema.safeParse(hash);
  if (!r.success) throw new Error(`job record ${hash.id ?? '?'} is malformed: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

type Writable = Partial<Omit<JobRecord, 'status'>> & { status?: JobStatus };

/** Hash fields for (part of) a record. `undefined` values are skipped; JSON fields are serialized. */
export function recordFields(r: Writable): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(r)) {
    if (v === undefined) continue;
    out.push(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  return out;
}

/** The record as the API returns it (JSON). */
export function publicRecord(r: JobRecord): Record<string, unknown> {
  const { entry: _entry, stream: _stream, ...rest } = r;
  return { ...rest, durationMs: r.startedAt !== undefined ? (r.finishedAt ?? Date.now()) - r.startedAt : undefined };
}

/** A new job id: 9 base-36 digits of milliseconds then 6 random ones, so ids sort by creation time. */
export function newJobId(now = Date.now()): string {
  let rand = '';
  for (let i = 0; i < 6; i++) rand += Math.floor(Math.random() * 36).toString(36);
  return now.toString(36).padStart(9, '0') + rand;
}

/** Job ids are lowercase base-36, 15 characters: valid in Redis keys, URLs and Kubernetes names. */
export const JOB_ID_PATTERN = /^[0-9a-z]{15}$/;

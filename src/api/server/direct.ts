/**
 * Direct pools: no autoscaler; the API creates one Kubernetes Job per job from the pool's Job template
 * (the ConfigMap `agent-<pool>-job`, mounted at contract.ts directJobTemplatePath).
 *
 * Each pass, per direct pool:
 * 1. for each of the pool's Jobs whose job is still queued, reads its pod and writes why it is not
 *    running (Pending reasons, image pull errors) into the record's `waiting`; a Job that failed or
 *    completed before its agent took the job ends the job in `error` with the Job's reason. A Job whose
 *    job ended before its agent started (cancelled, superseded) is deleted, so it no longer holds a slot;
 * 2. counts the pool's unfinished Jobs; while fewer than `maxConcurrentJobs` run, takes the next entry
 *    from the stream (XREADGROUP as `raibid-dispatch-<pool>`) and creates Job `agent-<pool>-<job id>`
 *    with RAIBID_JOB_ID and the entry's attempt (label ATTEMPT_LABEL). Entries of jobs no longer queued
 *    are acknowledged without a Job and take no slot. AlreadyExists means a dispatch that was
 *    interrupted: not an error — unless the existing Job is an earlier attempt's (the reaper re-queued
 *    the job after its agent was lost), which is then replaced. The entry stays pending under the
 *    dispatch consumer, which the API keeps alive, until the agent in the Job takes it over (XCLAIM)
 *    and heartbeats itself.
 * Finished Jobs are left to the template's ttlSecondsAfterFinished.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job, type V1JobCondition, type V1Pod } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { DIRECT_JOB_FILE, DIRECT_POOL_FILE, type ApiSettings } from '../contract.js';
import { AGENT_ENV, AGENT_JOB_LABEL, AGENT_POOL_LABEL } from '../../agents/contract.js';
import { agentKey, HEARTBEAT_TTL_MS } from '../../jobs/keys.js';
import { isTerminal } from '../../jobs/record.js';
import { entryJob, type JobStore } from '../../jobs/store.js';
import type { JobService } from './service.js';

const JOB_ID_LABEL = AGENT_JOB_LABEL;
const POOL_LABEL = AGENT_POOL_LABEL;
/** Label on each Job the API creates: the attempt of the job it runs (the record's `attempt`). */
export const ATTEMPT_LABEL = 'raibid-ci.dev/attempt';

export const dispatchConsumer = (pool: string): string => `raibid-dispatch-${pool}`;
export const directJobName = (pool: string, id: string): string => `agent-${pool}-${id}`;

interface DirectPool {
  readonly name: string;
  readonly stream: string;
  readonly group: string;
  readonly max: number;
  readonly template: V1Job;
}

/** Why a pod is not running yet, from its status; undefined when it runs. */
export function podWaitingReason(pod: V1Pod | undefined): string | undefined {
  if (!pod) return 'waiting for the Job\'s pod to be created';
  const s = pod.status;
  if (s?.phase === 'Running' || s?.phase === 'Succeeded') return undefined;
  for (const c of [...(s?.initContainerStatuses ?? []), ...(s?.containerStatuses ?? [])]) {
    const w = c.state?.waiting;
    if (w?.reason && w.reason !== 'ContainerCreating' && w.reason !== 'PodInitializing') return `${w.reason}${w.message ? `: ${w.message}` : ''}`;
  }
  const unscheduled = s?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  if (unscheduled) return `${unscheduled.reason ?? 'Unschedulable'}${unscheduled.message ? `: ${unscheduled.message}` : ''}`;
  if (s?.phase === 'Failed') return `pod failed${s.reason ? `: ${s.reason}` : ''}${s.message ? ` (${s.message})` : ''}`;
  return `pod ${s?.phase ?? 'Pending'}`;
}

/** The Job's Complete or Failed condition, when it has finished. */
function finished(j: V1Job): V1JobCondition | undefined {
  return j.status?.conditions?.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
}

/** The attempt a Job was created for (Jobs without the label: 1). */
function jobAttempt(j: V1Job): number {
  return Number(j.metadata?.labels?.[ATTEMPT_LABEL]) || 1;
}

/** HTTP code of a failed Kubernetes API call (client-node's ApiException); undefined for other errors. */
function apiCode(e: unknown): number | undefined {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A failed call in a few words: `HTTP <code> <Status reason>: <Status message>`, or the error's message. */
function describeFailure(e: unknown): string {
  const code = apiCode(e);
  if (code === undefined) return (e as Error)?.message ?? String(e);
  let status: { reason?: unknown; message?: unknown } | undefined;
  const body = (e as { body?: unknown }).body;
  try {
    status = (typeof body === 'string' ? JSON.parse(body) : body) as typeof status;
  } catch {
    status = undefined;
  }
  const detail = [status?.reason, status?.message].filter((s): s is string => typeof s === 'string' && s !== '').join(': ');
  return `HTTP ${code}${detail ? ` ${detail}` : ''}`;
}

export class DirectDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  private constructor(
    private readonly store: JobStore,
    private readonly settings: ApiSettings,
    private readonly service: JobService,
    private readonly log: FastifyBaseLogger,
    private readonly batch: BatchV1Api,
    private readonly core: CoreV1Api,
    readonly pools: readonly DirectPool[],
    private readonly intervalMs: number,
  ) {}

  /** Loads the kubeconfig (in-cluster, or KUBECONFIG) and each direct pool's Job template. */
  static async create(store: JobStore, settings: ApiSettings, service: JobService, log: FastifyBaseLogger, _env: NodeJS.ProcessEnv, intervalMs = 2000): Promise<DirectDispatcher> {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    const pools = settings.pools
      .filter((p) => p.mode === 'direct')
      .map((p) => {
        const dir = p.jobTemplate ?? '';
        const template = parse(readFileSync(join(dir, DIRECT_JOB_FILE), 'utf8')) as V1Job;
        const limits = parse(readFileSync(join(dir, DIRECT_POOL_FILE), 'utf8')) as { maxConcurrentJobs?: number };
        return { name: p.name, stream: p.stream, group: p.group, max: Math.max(1, Number(limits.maxConcurrentJobs) || 1), template };
      });
    return new DirectDispatcher(store, settings, service, log, kc.makeApiClient(BatchV1Api), kc.makeApiClient(CoreV1Api), pools, intervalMs);
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.pass()
        .catch((e) => this.log.warn({ err: (e as Error).message }, 'direct dispatch pass failed'))
        .finally(() => (this.running = undefined));
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  async pass(): Promise<void> {
    for (const pool of this.pools) {
      await this.store.redis.set(agentKey(dispatchConsumer(pool.name)), JSON.stringify({ name: dispatchConsumer(pool.name), pool: pool.name }), 'PX', HEARTBEAT_TTL_MS);
      const jobs = (await this.batch.listNamespacedJob({ namespace: this.settings.namespace, labelSelector: `${POOL_LABEL}=${pool.name},${JOB_ID_LABEL}` })).items;
      const deleted = await this.explain(pool, jobs);
      const active = jobs.filter((j) => !finished(j) && !deleted.has(j.metadata?.name ?? ''));
      // Only a created (or already existing) Job takes a slot: skipped entries and failed creates do not.
      let free = pool.max - active.length;
      // Entries this dispatcher took but made no Job for (the API stopped in between, or the Job was
      // deleted by hand): its heartbeat keeps the reaper away from them, so they are picked up here.
      const have = new Set(jobs.map((j) => j.metadata?.labels?.[JOB_ID_LABEL]).filter(Boolean));
      const own = (await this.store.redis.xreadgroup('GROUP', pool.group, dispatchConsumer(pool.name), 'COUNT', 100, 'STREAMS', pool.stream, '0')) as [string, [string, string[]][]][] | null;
      for (const [entry, fields] of own?.[0]?.[1] ?? []) {
        if (free <= 0) break;
        const { job: id } = entryJob(fields ?? []);
        if (id && have.has(id)) continue;
        if ((await this.dispatchEntry(pool, entry, fields ?? [])) === 'created') free--;
      }
      while (free > 0) {
        const outcome = await this.dispatchOne(pool);
        if (outcome === 'empty') break;
        if (outcome === 'created') free--;
      }
    }
  }

  /** Takes one new entry and creates its Job: `empty` when the stream has nothing new, `skipped` when no Job runs for it. */
  private async dispatchOne(pool: DirectPool): Promise<'created' | 'skipped' | 'empty'> {
    const res = (await this.store.redis.xreadgroup('GROUP', pool.group, dispatchConsumer(pool.name), 'COUNT', 1, 'STREAMS', pool.stream, '>')) as [string, [string, string[]][]][] | null;
    const entries = res?.[0]?.[1] ?? [];
    if (entries.length === 0) return 'empty';
    return this.dispatchEntry(pool, entries[0][0], entries[0][1]);
  }

  /** Creates the Job of an entry this dispatcher holds: `skipped` when no Job runs for it. */
  private async dispatchEntry(pool: DirectPool, entry: string, fields: string[]): Promise<'created' | 'skipped'> {
    const { job: id, attempt } = entryJob(fields);
    const record = id ? await this.store.get(id) : undefined;
    if (!id || !record || record.status !== 'queued') {
      await this.store.ack(pool.stream, pool.group, entry);
      return 'skipped';
    }
    const body = this.jobFor(pool, id, attempt);
    const name = body.metadata!.name!;
    const namespace = this.settings.namespace;
    const create = () => this.batch.createNamespacedJob({ namespace, body, fieldValidation: 'Strict' });
    let created = false;
    try {
      await create();
      created = true;
    } catch (e) {
      if (apiCode(e) !== 409) return this.failCreate(pool, id, entry, name, e);
    }
    if (!created && attempt > 1) {
      // The job is on a later attempt than a Job of the same name may have been made for: replace that one.
      try {
        const existing = await this.batch.readNamespacedJob({ name, namespace }).catch((e: unknown) => {
          if (apiCode(e) === 404) return undefined;
          throw e;
        });
        if (!existing || jobAttempt(existing) < attempt) {
          if (existing) {
            await this.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' }).catch((e: unknown) => {
              if (apiCode(e) !== 404) throw e;
            });
            this.log.info({ job: id, attempt, previous: jobAttempt(existing) }, `replaced Job ${name} of an earlier attempt`);
          }
          await create();
          created = true;
        }
      } catch (e) {
        if (apiCode(e) !== 409) return this.failCreate(pool, id, entry, name, e);
      }
    }
    if (created) await this.store.transition(id, 'queued', { waiting: 'Job created, waiting for its pod' }, ['queued']);
    else this.log.info({ job: id }, `Job ${name} already exists (an interrupted dispatch); following it`);
    return 'created';
  }

  private async failCreate(pool: DirectPool, id: string, entry: string, name: string, e: unknown): Promise<'skipped'> {
    const reason = `could not create Job ${name}: ${describeFailure(e)}`;
    this.log.error({ job: id, err: reason }, 'direct dispatch failed');
    await this.end(pool, id, entry, reason);
    return 'skipped';
  }

  /** Ends a queued job in `error` and acknowledges its entry, unless an agent has taken it meanwhile. */
  private async end(pool: DirectPool, id: string, entry: string | undefined, reason: string): Promise<void> {
    const t = await this.store.transition(id, 'error', { reason, waiting: '' }, ['queued']);
    if (entry && (t.ok || t.current === undefined || isTerminal(t.current))) await this.store.ack(pool.stream, pool.group, entry);
    if (!t.ok) return;
    this.service.metrics.jobs.inc({ pool: pool.name, status: 'error' });
    await this.store.publishFinished({ id, pool: pool.name, status: 'error', durationMs: 0 });
    await this.service.report(id);
  }

  /** The pool's template as this job's Job (for its `attempt`). */
  jobFor(pool: DirectPool, id: string, attempt = 1): V1Job {
    const t = structuredClone(pool.template);
    const name = directJobName(pool.name, id);
    const labels = { ...(t.metadata?.labels ?? {}), [JOB_ID_LABEL]: id, [ATTEMPT_LABEL]: String(attempt) };
    const { generateName: _g, ...meta } = t.metadata ?? {};
    const spec = t.spec!;
    const podLabels = { ...(spec.template.metadata?.labels ?? {}), [JOB_ID_LABEL]: id };
    const containers = (spec.template.spec?.containers ?? []).map((c) => ({ ...c, env: [...(c.env ?? []).filter((e) => e.name !== AGENT_ENV.jobId), { name: AGENT_ENV.jobId, value: id }] }));
    return {
      ...t,
      metadata: { ...meta, name, namespace: this.settings.namespace, labels },
      spec: { ...spec, template: { ...spec.template, metadata: { ...spec.template.metadata, labels: podLabels }, spec: { ...spec.template.spec!, containers } } },
    };
  }

  /**
   * Writes why dispatched jobs are not running yet; ends those whose Job finished before the agent took
   * them; deletes the unfinished Jobs of jobs that ended before their agent started. Returns the names
   * of the Jobs it deleted.
   */
  private async explain(pool: DirectPool, jobs: readonly V1Job[]): Promise<Set<string>> {
    const deleted = new Set<string>();
    if (jobs.length === 0) return deleted;
    const pods = (await this.core.listNamespacedPod({ namespace: this.settings.namespace, labelSelector: `${POOL_LABEL}=${pool.name},${JOB_ID_LABEL}` })).items;
    for (const j of jobs) {
      const id = j.metadata?.labels?.[JOB_ID_LABEL];
      const name = j.metadata?.name ?? '';
      if (!id) continue;
      const record = await this.store.get(id);
      if (!record) continue;
      const done = finished(j);
      if (isTerminal(record.status)) {
        // Cancelled (or superseded) while its Job waited: without this the Job would hold a slot until
        // its pod ran or its deadline passed.
        if (!done && record.startedAt === undefined && !j.metadata?.deletionTimestamp) {
          await this.batch.deleteNamespacedJob({ name, namespace: this.settings.namespace, propagationPolicy: 'Background' }).catch((e: unknown) => {
            if (apiCode(e) !== 404) throw e;
          });
          deleted.add(name);
          if (record.entry) await this.store.ack(pool.stream, pool.group, record.entry);
          this.log.info({ job: id, status: record.status }, `deleted Job ${name}: its job ended before its agent started`);
        }
        continue;
      }
      if (record.status === 'running') {
        // The agent has taken the job: nothing is waited for any more.
        if (record.waiting) await this.store.transition(id, 'running', { waiting: '' }, ['running']);
        continue;
      }
      // A Job of an earlier attempt (the reaper re-queued the job): the next dispatch replaces it.
      if (jobAttempt(j) !== record.attempt) continue;
      if (done) {
        const reason =
          done.type === 'Failed'
            ? `Job ${name} failed before its agent started: ${done.reason ?? ''}${done.message ? ` (${done.message})` : ''}`
            : `Job ${name} completed without its agent taking the job`;
        await this.end(pool, id, record.entry, reason);
        continue;
      }
      const pod = pods.find((p) => p.metadata?.ownerReferences?.some((o) => o.uid === j.metadata?.uid));
      const waiting = podWaitingReason(pod) ?? 'pod running, waiting for its agent to take the job';
      if (waiting !== record.waiting) await this.store.transition(id, 'queued', { waiting }, ['queued']);
    }
    return deleted;
  }
}

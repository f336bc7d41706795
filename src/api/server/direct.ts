/**
 * Direct pools: no autoscaler; the API creates one Kubernetes Job per job from the pool's Job template
 * (the ConfigMap `agent-<pool>-job`, mounted at contract.ts directJobTemplatePath).
 *
 * Each pass, per direct pool:
 * 1. counts the pool's unfinished Jobs; while fewer than `maxConcurrentJobs` run, takes the next entry
 *    from the stream (XREADGROUP as `raibid-dispatch-<pool>`) and creates Job `agent-<pool>-<job id>`
 *    with RAIBID_JOB_ID. AlreadyExists means a dispatch that was interrupted: not an error. The
 *    entry stays pending under the dispatch consumer, which the API keeps alive, until the agent in
 *    the Job takes it over (XCLAIM) and heartbeats itself;
 * 2. for each dispatched job still queued, reads its pod and writes why it is not running (Pending
 *    reasons, image pull errors) into the record's `waiting`; a Job that failed before its agent took
 *    the job ends the job in `error` with the Job's reason.
 * Finished Jobs are left to the template's ttlSecondsAfterFinished.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { DIRECT_JOB_FILE, DIRECT_POOL_FILE, type ApiSettings } from '../contract.js';
import { AGENT_ENV, AGENT_JOB_LABEL, AGENT_POOL_LABEL } from '../../agents/contract.js';
import { agentKey, HEARTBEAT_TTL_MS } from '../../jobs/keys.js';
import { entryJob, type JobStore } from '../../jobs/store.js';
import type { JobService } from './service.js';

const JOB_ID_LABEL = AGENT_JOB_LABEL;
const POOL_LABEL = AGENT_POOL_LABEL;

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
      const active = jobs.filter((j) => !j.status?.conditions?.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True'));
      await this.explain(pool, jobs);
      for (let free = pool.max - active.length; free > 0; free--) {
        if (!(await this.dispatchOne(pool))) break;
      }
    }
  }

  /** Takes one entry and creates its Job; false when the stream has nothing new. */
  private async dispatchOne(pool: DirectPool): Promise<boolean> {
    const res = (await this.store.redis.xreadgroup('GROUP', pool.group, dispatchConsumer(pool.name), 'COUNT', 1, 'STREAMS', pool.stream, '>')) as [string, [string, string[]][]][] | null;
    const entries = res?.[0]?.[1] ?? [];
    if (entries.length === 0) return false;
    const [entry, fields] = entries[0];
    const { job: id } = entryJob(fields);
    const record = id ? await this.store.get(id) : undefined;
    if (!id || !record || record.status !== 'queued') {
      await this.store.ack(pool.stream, pool.group, entry);
      return true;
    }
    const body = this.jobFor(pool, id);
    try {
      await this.batch.createNamespacedJob({ namespace: this.settings.namespace, body, fieldValidation: 'Strict' });
      await this.store.transition(id, 'queued', { waiting: 'Job created, waiting for its pod' }, ['queued']);
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (code === 409) return true;
      const reason = `could not create Job ${body.metadata?.name}: ${code ? `HTTP ${code}` : (e as Error).message}`;
      this.log.error({ job: id, err: (e as Error).message }, 'direct dispatch failed');
      const t = await this.store.transition(id, 'error', { reason }, ['queued']);
      await this.store.ack(pool.stream, pool.group, entry);
      if (t.ok) await this.service.report(id);
    }
    return true;
  }

  /** The pool's template as this job's Job. */
  jobFor(pool: DirectPool, id: string): V1Job {
    const t = structuredClone(pool.template);
    const name = directJobName(pool.name, id);
    const labels = { ...(t.metadata?.labels ?? {}), [JOB_ID_LABEL]: id };
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

  /** Writes why dispatched jobs are not running yet; ends those whose Job failed before the agent took them. */
  private async explain(pool: DirectPool, jobs: readonly V1Job[]): Promise<void> {
    if (jobs.length === 0) return;
    const pods = (await this.core.listNamespacedPod({ namespace: this.settings.namespace, labelSelector: `${POOL_LABEL}=${pool.name},${JOB_ID_LABEL}` })).items;
    for (const j of jobs) {
      const id = j.metadata?.labels?.[JOB_ID_LABEL];
      if (!id) continue;
      const record = await this.store.get(id);
      if (!record || record.status !== 'queued') continue;
      const failed = j.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
      if (failed) {
        const reason = `Job ${j.metadata?.name} failed before its agent started: ${failed.reason ?? ''}${failed.message ? ` (${failed.message})` : ''}`;
        const t = await this.store.transition(id, 'error', { reason }, ['queued']);
        if (t.ok) {
          if (record.entry) await this.store.ack(pool.stream, pool.group, record.entry);
          await this.service.report(id);
        }
        continue;
      }
      const pod = pods.find((p) => p.metadata?.labels?.[JOB_ID_LABEL] === id);
      const waiting = podWaitingReason(pod);
      if (waiting && waiting !== record.waiting) await this.store.transition(id, 'queued', { waiting }, ['queued']);
    }
  }
}

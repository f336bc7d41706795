/**
 * What the API does with jobs, apart from HTTP: choose a pool from the pipeline file, queue durably,
 * report commit statuses, cancel, retry and supersede. The routes (app.ts) and the reaper call it.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { ApiSettings } from '../contract.js';
import type { GiteaClient } from '../../gitea/client.js';
import { branchMatches, parsePipeline } from '../../jobs/pipeline.js';
import { isTerminal, type JobRecord } from '../../jobs/record.js';
import { commitStatus } from '../../jobs/status.js';
import type { JobStore, NewJob } from '../../jobs/store.js';
import { branchKey } from '../../jobs/keys.js';
import type { Metrics } from './metrics.js';

/** A request the API must refuse; `status` is the HTTP status, `code` a stable word for clients. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface TriggerInput {
  readonly event: NewJob['event'];
  readonly repo: string;
  readonly cloneUrl: string;
  readonly ref: string;
  /** Branch the pipeline's branch filters apply to (the pushed branch, or a pull request's base). */
  readonly branch?: string;
  readonly sha: string;
  readonly title?: string;
  readonly actor?: string;
  readonly pr?: string;
  readonly retryOf?: string;
  /** Pool asked for explicitly (manual trigger, retry). */
  readonly pool?: string;
  /** Gitea delivery id: a redelivery returns the first job. */
  readonly delivery?: string;
}

export type TriggerResult =
  | { readonly outcome: 'queued' | 'duplicate'; readonly id: string; readonly pool: string }
  | { readonly outcome: 'error'; readonly id: string; readonly pool: string; readonly reason: string }
  | { readonly outcome: 'skipped'; readonly reason: string };

export class JobService {
  constructor(
    readonly store: JobStore,
    readonly gitea: GiteaClient,
    readonly settings: ApiSettings,
    readonly log: FastifyBaseLogger,
    readonly metrics: Metrics,
  ) {}

  pool(name: string) {
    return this.settings.pools.find((p) => p.name === name);
  }

  /** Whether an owner may run CI (jobs.allowedOwners). */
  ownerAllowed(owner: string): boolean {
    return this.settings.allowedOwners.includes('*') || this.settings.allowedOwners.some((o) => o.toLowerCase() === owner.toLowerCase());
  }

  /** Reads the pipeline file at the commit, applies its filters, queues the job and reports `pending`. */
  async trigger(t: TriggerInput): Promise<TriggerResult> {
    const file = this.settings.pipelineFile;
    const text = await this.gitea.fileAt(t.repo, file, t.sha);
    let poolName = t.pool;
    let pipeline: string | undefined;
    const base: NewJob = { repo: t.repo, cloneUrl: t.cloneUrl, event: t.event, ref: t.ref, sha: t.sha, pool: '', stream: '', title: t.title, actor: t.actor, pr: t.pr, retryOf: t.retryOf };
    if (text !== undefined) {
      const parsed = parsePipeline(text, file);
      const fallbackPool = poolName ?? this.settings.defaultPool;
      if (!parsed.ok) return this.refuse({ ...base, pool: fallbackPool }, `invalid ${file}: ${parsed.problems.join('; ')}`, t.delivery);
      pipeline = file;
      const p = parsed.pipeline;
      if ((t.event === 'push' || t.event === 'pull_request') && t.branch !== undefined && t.ref.startsWith('refs/heads/') && !branchMatches(t.branch, p.branches)) return { outcome: 'skipped', reason: `branch ${t.branch} is not in ${file} branches (${p.branches?.join(', ')})` };
      if (t.event === 'pull_request' && t.branch !== undefined && !branchMatches(t.branch, p.branches)) return { outcome: 'skipped', reason: `pull requests into ${t.branch} are not in ${file} branches` };
      if (t.event === 'pull_request' && !p.pullRequests) return { outcome: 'skipped', reason: `${file} turns pull requests off (pullRequests: false)` };
      poolName ??= p.pool;
    }
    poolName ??= this.settings.defaultPool;
    const pool = this.pool(poolName);
    if (!pool) return this.refuse({ ...base, pool: this.settings.defaultPool }, `pool ${JSON.stringify(poolName)} does not exist (pools: ${this.settings.pools.map((p) => p.name).join(', ')})`, t.delivery);

    const job: NewJob = { ...base, pool: pool.name, stream: pool.stream, pipeline };
    const { created, id } = await this.store.enqueue(job, t.delivery);
    if (this.settings.durability === 'aof' && !(await this.store.durable(this.settings.durabilityTimeoutMs))) {
      throw new ApiError(503, 'not-durable', `Redis did not confirm job ${id} on disk within ${this.settings.durabilityTimeoutMs} ms; deliver again`);
    }
    if (!created) return { outcome: 'duplicate', id, pool: pool.name };
    this.metrics.jobs.inc({ pool: pool.name, status: 'queued' });
    void this.report(id);
    if (this.settings.supersede && t.event === 'push' && t.ref.startsWith('refs/heads/')) void this.supersede(t.repo, t.ref, id);
    return { outcome: 'queued', id, pool: pool.name };
  }

  /** A job that cannot run: recorded as `error` with the reason, and reported as such. */
  private async refuse(job: NewJob, reason: string, delivery?: string): Promise<TriggerResult> {
    const pool = this.pool(job.pool) ?? this.settings.pools[0];
    const id = await this.store.recordError({ ...job, pool: pool.name, stream: pool.stream }, reason, delivery);
    this.metrics.jobs.inc({ pool: pool.name, status: 'error' });
    void this.report(id);
    return { outcome: 'error', id, pool: pool.name, reason };
  }

  /** Cancels the branch's previous job if it is still queued. */
  private async supersede(repo: string, ref: string, id: string): Promise<void> {
    try {
      const previous = await this.store.redis.set(branchKey(repo, ref), id, 'EX', this.settings.retentionSeconds, 'GET');
      if (!previous || previous === id || previous > id) return;
      const r = await this.store.transition(previous, 'cancelled', { reason: `superseded by job ${id} (a newer push to ${ref.replace('refs/heads/', '')})` }, ['queued']);
      if (r.ok) {
        this.metrics.jobs.inc({ pool: (await this.store.get(previous))?.pool ?? 'unknown', status: 'cancelled' });
        await this.report(previous);
      }
    } catch (e) {
      this.log.warn({ err: e, job: id }, 'supersede failed');
    }
  }

  /**
   * Posts the job's current state as its commit status; failures are logged, never thrown. A pending
   * status can reach Gitea after the agent's final one (a very short job, a slow Gitea): the record is
   * read again afterwards, and an end that came in between is posted once more so it stays the last.
   */
  async report(idOrRecord: string | JobRecord): Promise<void> {
    const r = typeof idOrRecord === 'string' ? await this.store.get(idOrRecord).catch(() => undefined) : idOrRecord;
    if (!r) return;
    try {
      await this.gitea.setStatus(r.repo, r.sha, commitStatus(r, this.settings.publicUrl));
      if (isTerminal(r.status)) return;
      const now = await this.store.get(r.id).catch(() => undefined);
      if (now && isTerminal(now.status)) await this.gitea.setStatus(now.repo, now.sha, commitStatus(now, this.settings.publicUrl));
    } catch (e) {
      this.log.warn({ job: r.id, repo: r.repo, err: (e as Error).message }, 'could not set the commit status');
    }
  }

  async cancel(id: string, by: string): Promise<{ outcome: 'cancelled' | 'requested'; record: JobRecord }> {
    const c = await this.store.cancel(id, by);
    if (c.outcome === 'unknown') throw new ApiError(404, 'not-found', `no job ${id}`);
    if (c.outcome === 'finished') throw new ApiError(409, 'finished', `job ${id} has already ended (${c.status})`);
    const record = (await this.store.get(id))!;
    if (c.outcome === 'cancelled') {
      this.metrics.jobs.inc({ pool: record.pool, status: 'cancelled' });
      await this.report(record);
    }
    return { outcome: c.outcome, record };
  }

  async retry(id: string, actor: string): Promise<TriggerResult> {
    const r = await this.store.get(id);
    if (!r) throw new ApiError(404, 'not-found', `no job ${id}`);
    if (r.status === 'queued' || r.status === 'running') throw new ApiError(409, 'not-finished', `job ${id} is still ${r.status}; cancel it first or wait for it to end`);
    return this.trigger({ event: 'retry', repo: r.repo, cloneUrl: r.cloneUrl, ref: r.ref, sha: r.sha, title: r.title, pr: r.pr, actor, retryOf: r.id, pool: this.pool(r.pool) ? r.pool : undefined });
  }
}

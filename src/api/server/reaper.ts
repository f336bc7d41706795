/**
 * The reaper: finds queue entries whose agent died mid-job (OOM, eviction, deadline, SIGKILL) and puts
 * their jobs back on the queue, or into the dead-letter stream once `maxAttempts` is used up.
 *
 * An entry is lost when it has been delivered (it is in the group's pending list), its consumer's
 * heartbeat (raibid:agent:<consumer>) has expired, and it has been idle for `reaperMinIdleMs`. The
 * reaper takes it over with XCLAIM (so two reapers never handle one entry) and runs the REQUEUE script:
 * one atomic step that acknowledges and deletes the old entry and either adds a new one (attempt + 1)
 * or marks the job dead. Only one API replica reaps at a time: the holder of a lease in Redis.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { ApiSettings } from '../contract.js';
import { entryJob, type JobStore } from '../../jobs/store.js';
import type { JobService } from './service.js';
import type { Metrics } from './metrics.js';

/** Consumer name the reaper claims lost entries as. */
export const REAPER_CONSUMER = 'raibid-reaper';

export class Reaper {
  readonly holder = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: JobStore,
    private readonly settings: ApiSettings,
    private readonly service: JobService,
    private readonly metrics: Metrics,
    private readonly log: FastifyBaseLogger,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.pass()
        .then(() => undefined)
        .catch((e) => this.log.warn({ err: (e as Error).message }, 'reaper pass failed'))
        .finally(() => (this.running = undefined));
    }, this.settings.reaperIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One pass over every pool; returns how many entries it handled. */
  async pass(): Promise<number> {
    if (!(await this.store.lease(this.holder, this.settings.reaperIntervalMs * 3))) return 0;
    let handled = 0;
    const seen = new Set<string>();
    for (const pool of this.settings.pools) {
      const key = `${pool.stream}\u0000${pool.group}`;
      if (seen.has(key)) continue;
      seen.add(key);
      handled += await this.reapPool(pool.stream, pool.group);
    }
    return handled;
  }

  private async reapPool(stream: string, group: string): Promise<number> {
    const minIdle = this.settings.reaperMinIdleMs;
    let rows: [string, string, number, number][];
    try {
      rows = (await this.store.redis.xpending(stream, group, 'IDLE', minIdle, '-', '+', 100)) as [string, string, number, number][];
    } catch (e) {
      if (/NOGROUP|no such key/i.test(String((e as Error).message))) return 0;
      throw e;
    }
    let handled = 0;
    for (const [entry, consumer] of rows) {
      if (consumer !== REAPER_CONSUMER && (await this.store.alive(consumer))) continue;
      const claimed = (await this.store.redis.xclaim(stream, group, REAPER_CONSUMER, minIdle, entry)) as [string, string[]][];
      if (claimed.length === 0 || !claimed[0]) continue;
      const { job } = entryJob(claimed[0][1] ?? []);
      if (!job) {
        await this.store.ack(stream, group, entry);
        continue;
      }
      const reason = consumer === REAPER_CONSUMER ? 'the reaper was interrupted while re-queueing it' : `agent ${consumer} stopped sending heartbeats`;
      const r = await this.store.requeue(job, stream, group, entry, this.settings.maxAttempts, reason);
      handled++;
      this.metrics.reaper.inc({ outcome: r.outcome });
      this.log.warn({ job, entry, consumer, outcome: r.outcome, attempt: r.attempt }, 'reaped a lost job');
      if (r.outcome === 'cleaned') continue;
      const record = await this.store.get(job);
      if (r.outcome === 'dead' && record) {
        await this.store.publishFinished({ id: job, pool: record.pool, status: 'dead', durationMs: record.startedAt ? Date.now() - record.startedAt : 0 });
      }
      if (record) await this.service.report(record);
    }
    return handled;
  }
}

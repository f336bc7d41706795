/**
 * Prometheus metrics of the API (prom-client), served on /metrics:
 *
 *   raibid_jobs_total{pool,status}            jobs that reached a status (queued by this API; ended, from
 *                                             the agents' and the API's raibid:events)
 *   raibid_job_duration_seconds{pool,status}  run time of ended jobs (histogram)
 *   raibid_queue_lag{pool}, raibid_queue_pending{pool}, raibid_queue_dead{pool}   read from Redis at scrape
 *   raibid_webhooks_total{event,result}       deliveries and what became of them
 *   raibid_agents{pool,state}                 agents with a live heartbeat, by state
 *   raibid_reaper_total{outcome}              entries the reaper re-queued, dead-lettered or cleaned
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ApiSettings } from '../contract.js';
import type { JobStore } from '../../jobs/store.js';

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics(store: JobStore, settings: ApiSettings) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'raibid_api_' });
  const jobs = new Counter({ name: 'raibid_jobs_total', help: 'Jobs that reached a status, by pool and status.', labelNames: ['pool', 'status'], registers: [registry] });
  const duration = new Histogram({
    name: 'raibid_job_duration_seconds',
    help: 'Run time of ended jobs, by pool and final status.',
    labelNames: ['pool', 'status'],
    buckets: [10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
    registers: [registry],
  });
  const webhooks = new Counter({ name: 'raibid_webhooks_total', help: 'Webhook deliveries by event and result.', labelNames: ['event', 'result'], registers: [registry] });
  const reaper = new Counter({ name: 'raibid_reaper_total', help: 'Entries the reaper handled, by outcome.', labelNames: ['outcome'], registers: [registry] });
  const queue = (name: string, help: string, pick: (q: Awaited<ReturnType<JobStore['queueInfo']>>) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: ['pool'],
      registers: [registry],
      async collect() {
        for (const p of settings.pools) {
          const q = await store.queueInfo(p.stream, p.group).catch(() => undefined);
          const v = q ? pick(q) : null;
          if (v !== null) this.set({ pool: p.name }, v);
        }
      },
    });
  queue('raibid_queue_lag', 'Entries on the pool stream not yet delivered to an agent.', (q) => q.lag);
  queue('raibid_queue_pending', 'Entries delivered to an agent and not yet acknowledged.', (q) => q.pending);
  queue('raibid_queue_dead', 'Entries in the pool\'s dead-letter stream.', (q) => q.dead);
  new Gauge({
    name: 'raibid_agents',
    help: 'Agents with a live heartbeat, by pool and state.',
    labelNames: ['pool', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      const agents = await store.agents().catch(() => []);
      for (const a of agents) this.inc({ pool: a.pool, state: a.state });
    },
  });
  return { registry, jobs, duration, webhooks, reaper };
}

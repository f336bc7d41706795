/**
 * The dashboard's data: jobs, pools and agents fetched every second in the background (never blocking
 * input), the last minute of each pool's queue depth, and the state of the connection. When the API is
 * unreachable or refuses the token the last data stays on screen, the state says why, and it keeps
 * retrying with a growing pause (1, 2, 4, 5, 5 … seconds).
 */
import { JOB_STATUSES, type JobStatus } from '../../jobs/record.js';
import { ApiClientError, type ApiAgent, type ApiClient, type ApiCluster, type ApiJob, type ApiPool } from '../client.js';
import { record, type Sample } from './sparkline.js';

export type Connection =
  | { readonly state: 'connecting' }
  | { readonly state: 'ok' }
  | { readonly state: 'down' | 'unauthorized' | 'error'; readonly message: string; readonly failures: number; readonly retryAt: number };

/** What the filter prompt accepts: a status word, an owner/name, or any other text matched in repo names. */
export interface JobFilter {
  readonly status?: JobStatus;
  readonly repo?: string;
  readonly text?: string;
}

export function parseFilter(input: string): JobFilter {
  const f: { status?: JobStatus; repo?: string; text?: string } = {};
  for (const word of input.trim().split(/\s+/).filter(Boolean)) {
    const [k, v] = word.includes(':') ? [word.slice(0, word.indexOf(':')), word.slice(word.indexOf(':') + 1)] : ['', word];
    if ((k === 'status' || k === '') && (JOB_STATUSES as readonly string[]).includes(v)) f.status = v as JobStatus;
    else if ((k === 'repo' || k === '') && /^[^/\s]+\/[^/\s]+$/.test(v)) f.repo = v;
    else f.text = v;
  }
  return f;
}

export function describeFilter(f: JobFilter): string {
  return [f.status && `status ${f.status}`, f.repo && `repo ${f.repo}`, f.text && `"${f.text}"`].filter(Boolean).join(', ');
}

export interface Snapshot {
  readonly jobs: readonly ApiJob[];
  /** More jobs exist than are loaded. */
  readonly more: boolean;
  readonly pools: readonly ApiPool[];
  readonly agents: readonly ApiAgent[];
  /** The node's CPU and memory and the planned agents (undefined until loaded, or from an older API). */
  readonly cluster?: ApiCluster;
  /** Queue depth (lag) of each pool over the last minute. */
  readonly history: ReadonlyMap<string, readonly Sample[]>;
  readonly conn: Connection;
  /** The first load succeeded. */
  readonly loaded: boolean;
  readonly filter: JobFilter;
  /** Refreshes so far (tests wait on it). */
  readonly generation: number;
}

export interface PollerOptions {
  readonly intervalMs?: number;
  readonly now?: () => number;
  /** Jobs per page (the API allows 200). */
  readonly pageSize?: number;
  /** Most pages kept loaded (pageSize × maxPages jobs). */
  readonly maxPages?: number;
}

export class Poller {
  private snap: Snapshot = { jobs: [], more: false, pools: [], agents: [], history: new Map(), conn: { state: 'connecting' }, loaded: false, filter: {}, generation: 0 };
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private pages = 1;
  readonly intervalMs: number;
  private readonly now: () => number;
  readonly pageSize: number;
  readonly maxPages: number;

  constructor(
    readonly client: ApiClient,
    o: PollerOptions = {},
  ) {
    this.intervalMs = o.intervalMs ?? 1000;
    this.now = o.now ?? Date.now;
    this.pageSize = o.pageSize ?? 200;
    this.maxPages = o.maxPages ?? 5;
  }

  get snapshot(): Snapshot {
    return this.snap;
  }

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  };

  private set(s: Partial<Snapshot>): void {
    this.snap = { ...this.snap, ...s };
    for (const fn of this.listeners) fn();
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.refresh();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  setFilter(filter: JobFilter): void {
    this.pages = 1;
    this.set({ filter, jobs: [], more: false });
    void this.refresh();
  }

  /** Loads one more page of older jobs (up to maxPages). False when there is nothing more to load. */
  loadMore(): boolean {
    if (!this.snap.more || this.pages >= this.maxPages) return false;
    this.pages++;
    void this.refresh();
    return true;
  }

  /** Refreshes now; a refresh already under way is followed by one more. Resolves when done. */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.running = this.poll().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        void this.refresh();
        return;
      }
      this.schedule();
    });
    return this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    const c = this.snap.conn;
    const delay = c.state === 'ok' || c.state === 'connecting' ? this.intervalMs : Math.max(0, c.retryAt - this.now());
    this.timer = setTimeout(() => void this.refresh(), delay);
    this.timer.unref?.();
  }

  private async poll(): Promise<void> {
    const f = this.snap.filter;
    try {
      const [page, pools, agents, cluster] = await Promise.all([this.client.jobsUpTo({ status: f.status, repo: f.repo }, this.pages * this.pageSize), this.client.pools(), this.client.agents(), this.client.cluster()]);
      if (this.snap.filter !== f) return;
      const text = f.text?.toLowerCase();
      const jobs = text ? page.jobs.filter((j) => j.repo.toLowerCase().includes(text) || j.id.includes(text) || j.ref.toLowerCase().includes(text)) : page.jobs;
      const now = this.now();
      const history = new Map<string, readonly Sample[]>();
      for (const p of pools) history.set(p.name, record(this.snap.history.get(p.name) ?? [], { t: now, value: p.lag ?? 0 }));
      this.set({ jobs, more: page.next !== undefined, pools, agents, cluster, history, conn: { state: 'ok' }, loaded: true, generation: this.snap.generation + 1 });
    } catch (e) {
      const prev = this.snap.conn;
      const failures = (prev.state === 'down' || prev.state === 'unauthorized' || prev.state === 'error' ? prev.failures : 0) + 1;
      const pause = Math.min(this.intervalMs * 2 ** (failures - 1), Math.max(this.intervalMs, 5000));
      const err = e instanceof ApiClientError ? e : new ApiClientError('protocol', (e as Error)?.message ?? String(e));
      const state = err.kind === 'unauthorized' ? 'unauthorized' : err.kind === 'unreachable' || err.kind === 'unavailable' ? 'down' : 'error';
      this.set({ conn: { state, message: err.message, failures, retryAt: this.now() + pause }, generation: this.snap.generation + 1 });
    }
  }
}

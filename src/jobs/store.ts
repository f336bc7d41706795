/**
 * JobStore: the job protocol over one Redis connection (ioredis). The API, the agents and the reaper
 * all change jobs through it, so every write goes through the state machine of record.ts and one of
 * the atomic scripts of scripts.ts.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { AGENT_INDEX_KEY, CANCEL_CHANNEL, EVENTS_CHANNEL, ENTRY_ATTEMPT_FIELD, ENTRY_JOB_FIELD, HEARTBEAT_TTL_MS, JOB_INDEX_KEY, REAPER_LOCK_KEY, agentKey, deadLetterKey, deliveryKey, jobKey, logKey } from './keys.js';
import { LOG_MAX_ENTRIES, chunkText, logFields, parseLogEntry, type LogEntry } from './log.js';
import { JOB_STATUSES, TERMINAL_STATUSES, isTerminal, newJobId, parseRecord, recordFields, statusesBefore, type JobRecord, type JobStatus } from './record.js';
import { ACK_DELETE, ENQUEUE, LEASE, REQUEUE, TRANSITION, runScript } from './scripts.js';

/** How to reach Redis: the URL and the ACL user the manifests give each role. */
export interface RedisSettings {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
}

/** Opens an ioredis connection that retries with backoff and jitter and sends nothing the ACL denies. */
export function connectRedis(s: RedisSettings, extra: RedisOptions = {}): Redis {
  return new Redis(s.url, {
    username: s.username,
    password: s.password,
    // The ready check runs INFO, which no raibid-ci user may run.
    enableReadyCheck: false,
    maxRetriesPerRequest: 3,
    retryStrategy: (times) => Math.min(200 * 2 ** Math.min(times, 6), 5_000) + Math.floor(Math.random() * 250),
    lazyConnect: false,
    ...extra,
  });
}

export interface NewJob {
  readonly repo: string;
  readonly cloneUrl: string;
  readonly event: JobRecord['event'];
  readonly ref: string;
  readonly sha: string;
  readonly pool: string;
  readonly stream: string;
  readonly title?: string;
  readonly actor?: string;
  readonly pr?: string;
  readonly retryOf?: string;
  readonly pipeline?: string;
  /** Job id (tests); default: a new one. */
  readonly id?: string;
}

/** Published on EVENTS_CHANNEL when a job ends. */
export interface FinishedEvent {
  readonly id: string;
  readonly pool: string;
  readonly status: JobStatus;
  readonly durationMs: number;
}

export interface JobFilter {
  readonly status?: JobStatus;
  readonly repo?: string;
  readonly ref?: string;
  readonly pool?: string;
}

export interface AgentInfo {
  readonly name: string;
  readonly pool: string;
  readonly mode: string;
  readonly slots: number;
  readonly busy: number;
  readonly jobs: readonly string[];
  readonly state: 'starting' | 'idle' | 'busy' | 'draining';
  readonly startedAt: number;
  readonly lastSeen: number;
  readonly version?: string;
}

export type TransitionResult = { readonly ok: true; readonly from: JobStatus } | { readonly ok: false; readonly current?: JobStatus };

export type RequeueOutcome = { readonly outcome: 'requeued' | 'dead' | 'cleaned'; readonly previous?: JobStatus; readonly attempt: number };

/** Redis answers this for a command the server does not have. */
const isUnknownCommand = (e: unknown) => /unknown command/i.test(String((e as Error)?.message));

export interface StoreOptions {
  /** Seconds a finished job's record and log are kept. */
  readonly retentionSeconds: number;
}

export class JobStore {
  /** Whether the server has XACKDEL (Redis ≥ 8.2); learned on first use. */
  private ackdel: boolean | undefined;

  constructor(
    readonly redis: Redis,
    readonly options: StoreOptions,
  ) {}

  /** Creates and queues a job. With a delivery id, a second call with the same id returns the first job. */
  async enqueue(job: NewJob, delivery?: string): Promise<{ created: boolean; id: string }> {
    const id = job.id ?? newJobId();
    const now = Date.now();
    const fields = recordFields({ ...job, id, status: 'queued', attempt: 1, createdAt: now, steps: [] });
    const keys = [jobKey(id), JOB_INDEX_KEY, job.stream, deliveryKey(delivery ?? '-')];
    const [created, value] = (await runScript(this.redis, ENQUEUE, keys, [id, 1, delivery ? 1 : 0, this.options.retentionSeconds, ...fields])) as [number, string];
    return created === 1 ? { created: true, id } : { created: false, id: value };
  }

  /**
   * Records a job that never reaches a queue (its pipeline file is invalid, its pool does not exist):
   * the record ends in `error` at once, with the reason in the record and in the log.
   */
  async recordError(job: NewJob, reason: string, delivery?: string): Promise<string> {
    const id = job.id ?? newJobId();
    const now = Date.now();
    // A redelivery of the same delivery finds the first record instead of writing a second one.
    if (delivery) {
      const first = await this.redis.set(deliveryKey(delivery), id, 'EX', this.options.retentionSeconds, 'NX', 'GET');
      if (first) return first;
    }
    const fields = recordFields({ ...job, id, status: 'error', attempt: 1, createdAt: now, finishedAt: now, steps: [], reason });
    const ttl = this.options.retentionSeconds;
    await this.redis
      .multi()
      .hset(jobKey(id), ...fields)
      .zadd(JOB_INDEX_KEY, 0, id)
      .xadd(logKey(id), '*', ...logFields({ kind: 'info', step: '', time: now, text: reason }))
      .xadd(logKey(id), '*', ...logFields({ kind: 'end', step: '', time: now, text: 'job error' }))
      .expire(jobKey(id), ttl)
      .expire(logKey(id), ttl)
      .exec();
    await this.publishFinished({ id, pool: job.pool, status: 'error', durationMs: 0 });
    return id;
  }

  /** Tells every API instance a job ended (for its metrics). */
  async publishFinished(e: FinishedEvent): Promise<void> {
    await this.redis.publish(EVENTS_CHANNEL, JSON.stringify(e));
  }

  /** Queue figures of one pool's stream and group: lag, pending (delivered, not acknowledged), dead letters. */
  async queueInfo(stream: string, group: string): Promise<{ lag: number | null; pending: number; consumers: number; dead: number }> {
    let lag: number | null = null;
    let pending = 0;
    let consumers = 0;
    try {
      const groups = (await this.redis.call('XINFO', 'GROUPS', stream)) as unknown[][];
      for (const g of groups) {
        const m = new Map<string, unknown>();
        for (let i = 0; i + 1 < g.length; i += 2) m.set(String(g[i]), g[i + 1]);
        if (m.get('name') !== group) continue;
        lag = m.get('lag') === null || m.get('lag') === undefined ? null : Number(m.get('lag'));
        pending = Number(m.get('pending') ?? 0);
        consumers = Number(m.get('consumers') ?? 0);
      }
    } catch (e) {
      if (!/no such key/i.test(String((e as Error).message))) throw e;
    }
    const dead = await this.redis.xlen(deadLetterKey(stream));
    return { lag, pending, consumers, dead };
  }

  /**
   * Waits until every write this connection made so far is in the AOF on disk (WAITAOF 1 0, Redis ≥ 7.2).
   * False when that is not confirmed within `timeoutMs`.
   */
  async durable(timeoutMs: number): Promise<boolean> {
    const [local] = (await this.redis.call('WAITAOF', 1, 0, timeoutMs)) as [number, number];
    return local >= 1;
  }

  async get(id: string): Promise<JobRecord | undefined> {
    return parseRecord(await this.redis.hgetall(jobKey(id)));
  }

  /** Records newest first, filtered; `cursor` is the last id of the previous page. */
  async list(filter: JobFilter, limit: number, cursor?: string): Promise<{ jobs: JobRecord[]; next?: string }> {
    const jobs: JobRecord[] = [];
    let from = cursor ? `(${cursor}` : '+';
    const page = Math.max(limit, 100);
    let scanned = 0;
    for (;;) {
      const ids = (await this.redis.call('ZRANGE', JOB_INDEX_KEY, from, '-', 'BYLEX', 'REV', 'LIMIT', 0, page)) as string[];
      if (ids.length === 0) return { jobs };
      const pipe = this.redis.pipeline();
      for (const id of ids) pipe.hgetall(jobKey(id));
      const hashes = (await pipe.exec()) ?? [];
      const gone: string[] = [];
      for (let i = 0; i < ids.length; i++) {
        const record = parseRecord((hashes[i]?.[1] as Record<string, string>) ?? {});
        if (!record) {
          gone.push(ids[i]);
          continue;
        }
        if (!matches(record, filter)) continue;
        jobs.push(record);
        if (jobs.length === limit) {
          if (gone.length) await this.redis.zrem(JOB_INDEX_KEY, ...gone);
          return { jobs, next: ids[i] };
        }
      }
      // Expired records leave their id in the index until a listing meets them.
      if (gone.length) await this.redis.zrem(JOB_INDEX_KEY, ...gone);
      scanned += ids.length;
      from = `(${ids[ids.length - 1]}`;
      // Bound the work of one request; the cursor lets the caller go on.
      if (scanned >= 20_000) return { jobs, next: ids[ids.length - 1] };
    }
  }

  /**
   * Moves a job to `to` if the state machine allows it from its current state, setting `fields`. A move
   * to a terminal state closes the log and starts the retention clock.
   */
  async transition(id: string, to: JobStatus, fields: Partial<JobRecord> = {}, from: readonly JobStatus[] = statusesBefore(to)): Promise<TransitionResult> {
    const now = Date.now();
    const end = isTerminal(to);
    const set = recordFields({ ...fields, ...(end && fields.finishedAt === undefined ? { finishedAt: now } : {}) });
    const [code, status] = (await runScript(this.redis, TRANSITION, [jobKey(id), logKey(id)], [from.join(','), to, end ? this.options.retentionSeconds : 0, now, ...set])) as [number, string];
    if (code === 1) return { ok: true, from: status as JobStatus };
    return { ok: false, current: code === 0 ? (status as JobStatus) : undefined };
  }

  /**
   * An agent took the job's entry: `run` when the job moved to running; `skip` when it was cancelled
   * (or superseded, or expired) while queued — the caller then acknowledges the entry without running it.
   */
  async start(id: string, agent: string, entry: string): Promise<'run' | 'skip'> {
    const r = await this.transition(id, 'running', { agent, startedAt: Date.now(), entry }, ['queued']);
    return r.ok ? 'run' : 'skip';
  }

  /** Acknowledges and deletes a delivered entry (XACKDEL where the server has it, else XACK + XDEL in one script). */
  async ack(stream: string, group: string, entry: string): Promise<void> {
    if (this.ackdel !== false) {
      try {
        await this.redis.call('XACKDEL', stream, group, 'IDS', 1, entry);
        this.ackdel = true;
        return;
      } catch (e) {
        if (!isUnknownCommand(e) && !/NOPERM/.test(String((e as Error).message))) throw e;
        this.ackdel = false;
      }
    }
    await runScript(this.redis, ACK_DELETE, [stream], [group, entry]);
  }

  /** The reaper's move for an entry whose agent is gone (scripts.ts REQUEUE). */
  async requeue(job: string, stream: string, group: string, entry: string, maxAttempts: number, reason: string): Promise<RequeueOutcome> {
    const [outcome, previous, attempt] = (await runScript(this.redis, REQUEUE, [jobKey(job), stream, deadLetterKey(stream), logKey(job)], [group, entry, job, maxAttempts, Date.now(), reason, this.options.retentionSeconds, TERMINAL_STATUSES.join(',')])) as [RequeueOutcome['outcome'], string, number];
    return { outcome, previous: (JOB_STATUSES as readonly string[]).includes(previous) ? (previous as JobStatus) : undefined, attempt };
  }

  /**
   * Cancels a job: a queued one ends `cancelled` at once (its entry is skipped when an agent takes it);
   * for a running one the request is recorded and published, and its agent ends it.
   */
  async cancel(id: string, by: string): Promise<{ outcome: 'cancelled' | 'requested' | 'finished' | 'unknown'; status?: JobStatus }> {
    const queued = await this.transition(id, 'cancelled', { reason: `cancelled by ${by}` }, ['queued']);
    if (queued.ok) return { outcome: 'cancelled', status: 'cancelled' };
    if (queued.current === undefined) return { outcome: 'unknown' };
    if (queued.current !== 'running') return { outcome: 'finished', status: queued.current };
    const running = await this.transition(id, 'running', { cancelRequested: by }, ['running']);
    if (!running.ok) return running.current ? { outcome: 'finished', status: running.current } : { outcome: 'unknown' };
    await this.redis.publish(CANCEL_CHANNEL, id);
    return { outcome: 'requested', status: 'running' };
  }

  /** Appends output or markers to a job's log, split into batches, trimmed to LOG_MAX_ENTRIES. */
  async appendLog(id: string, entries: readonly LogEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const pipe = this.redis.pipeline();
    for (const e of entries) for (const text of chunkText(e.text)) pipe.xadd(logKey(id), 'MAXLEN', '~', LOG_MAX_ENTRIES, '*', ...logFields({ ...e, text }));
    const results = (await pipe.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
  }

  /** Log entries after `after` (exclusive; from the start when unset). */
  async readLog(id: string, after?: string, count = 1000): Promise<LogEntry[]> {
    const rows = (await this.redis.xrange(logKey(id), after ? `(${after}` : '-', '+', 'COUNT', count)) as [string, string[]][];
    return rows.map(([eid, f]) => parseLogEntry(eid, f));
  }

  /** Blocks up to `blockMs` for log entries after `after` ('0' for all); needs a connection of its own. */
  static async waitLog(conn: Redis, id: string, after: string, blockMs: number): Promise<LogEntry[]> {
    const res = (await conn.xread('COUNT', 1000, 'BLOCK', blockMs, 'STREAMS', logKey(id), after)) as [string, [string, string[]][]][] | null;
    if (!res) return [];
    return res[0][1].map(([eid, f]) => parseLogEntry(eid, f));
  }

  /** Publishes an agent's heartbeat (expires after `ttlMs`, default HEARTBEAT_TTL_MS). */
  async heartbeat(info: AgentInfo, ttlMs = HEARTBEAT_TTL_MS): Promise<void> {
    await this.redis.multi().set(agentKey(info.name), JSON.stringify(info), 'PX', ttlMs).zadd(AGENT_INDEX_KEY, info.lastSeen, info.name).exec();
  }

  /** Removes an agent's heartbeat (a clean exit). */
  async forgetAgent(name: string): Promise<void> {
    await this.redis.multi().del(agentKey(name)).zrem(AGENT_INDEX_KEY, name).exec();
  }

  /** Agents whose heartbeat is alive. Entries of agents gone for an hour are dropped from the index. */
  async agents(): Promise<AgentInfo[]> {
    const names = await this.redis.zrange(AGENT_INDEX_KEY, 0, -1);
    if (names.length === 0) return [];
    const values = await this.redis.mget(...names.map(agentKey));
    await this.redis.zremrangebyscore(AGENT_INDEX_KEY, '-inf', Date.now() - 3_600_000);
    return values.flatMap((v) => (v ? [JSON.parse(v) as AgentInfo] : []));
  }

  /** Whether a consumer's heartbeat is alive. */
  async alive(consumer: string): Promise<boolean> {
    return (await this.redis.exists(agentKey(consumer))) === 1;
  }

  /** Takes or renews the reaper lease; true when this holder leads. */
  async lease(holder: string, ttlMs: number): Promise<boolean> {
    return (await runScript(this.redis, LEASE, [REAPER_LOCK_KEY], [holder, ttlMs])) === 1;
  }
}

function matches(r: JobRecord, f: JobFilter): boolean {
  if (f.status && r.status !== f.status) return false;
  if (f.repo && r.repo !== f.repo) return false;
  if (f.pool && r.pool !== f.pool) return false;
  if (f.ref && r.ref !== f.ref && r.ref !== `refs/heads/${f.ref}` && r.ref !== `refs/tags/${f.ref}`) return false;
  return true;
}

/** Fields of a queue entry as [job id, attempt]. */
export function entryJob(fields: readonly string[]): { job?: string; attempt: number } {
  let job: string | undefined;
  let attempt = 1;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === ENTRY_JOB_FIELD) job = fields[i + 1];
    if (fields[i] === ENTRY_ATTEMPT_FIELD) attempt = Number(fields[i + 1]) || 1;
  }
  return { job, attempt };
}

/**
 * A small typed client of the raibid API (src/api/server/app.ts) for the CLI and the dashboard: fetch,
 * a bearer token, a timeout on every request, and errors people can act on — one line each, never a
 * stack: the API is unreachable, the token is wrong (401) or may only read (403), there is no such job
 * (404), or the API's own `{error, message}` for any other refusal.
 *
 * The JSON shapes are derived from the job protocol's types (src/jobs/), so a renamed field fails the
 * type check of the CLI as well as the API's.
 */
import { formatLogEntry, LOG_KINDS, type LogEntry, type LogKind } from '../jobs/log.js';
import { isTerminal, type JobRecord, type JobStatus } from '../jobs/record.js';
import type { AgentInfo } from '../jobs/store.js';

/** A job as the API returns it (publicRecord + its log URL). */
export type ApiJob = Omit<JobRecord, 'entry' | 'stream'> & { readonly durationMs?: number; readonly url?: string };

/** One pool's queue figures (GET /api/v1/pools). */
export interface ApiPool {
  readonly name: string;
  readonly mode: string;
  readonly stream: string;
  /** Entries not yet delivered; null when Redis cannot tell. */
  readonly lag: number | null;
  readonly pending: number;
  readonly running: number;
  readonly dead: number;
  readonly agents: number;
  /** Most agents the capacity plan gives the pool (null or absent: the API does not know). */
  readonly planned?: number | null;
}

/** The cluster (GET /api/v1/cluster): the node's CPU (millicores) and memory (bytes), agents against the plan. */
export interface ApiCluster {
  readonly name: string | null;
  readonly node: {
    readonly cpu: { readonly capacityMillis: number; readonly allocatableMillis: number; readonly usedMillis: number | null };
    readonly memory: { readonly capacityBytes: number; readonly allocatableBytes: number; readonly usedBytes: number };
  } | null;
  readonly agents: { readonly running: number; readonly planned: number | null };
  readonly pools: readonly { readonly name: string; readonly mode: string; readonly agents: number; readonly planned: number | null }[];
}

/** An agent with a live heartbeat (GET /api/v1/agents). */
export type ApiAgent = AgentInfo & { readonly free: number };

/** The answer to POST /jobs and POST /jobs/{id}/retry. */
export interface TriggerResponse {
  readonly queued: boolean;
  readonly duplicate?: boolean;
  readonly id?: string;
  readonly pool?: string;
  readonly url?: string;
  readonly reason?: string;
}

export interface JobQuery {
  readonly status?: JobStatus;
  readonly repo?: string;
  readonly ref?: string;
  readonly pool?: string;
  /** 1 to 200 per request. */
  readonly limit?: number;
  readonly cursor?: string;
}

/** What went wrong talking to the API. */
export type ApiErrorKind = 'unreachable' | 'unauthorized' | 'forbidden' | 'not-found' | 'conflict' | 'refused' | 'unavailable' | 'protocol';

/** A failed request, with a message that fits on one line. */
export class ApiClientError extends Error {
  constructor(
    readonly kind: ApiErrorKind,
    message: string,
    readonly status?: number,
    /** The API's error code (`{error}`), when it sent one. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ApiClientError';
  }
}

export interface ClientOptions {
  /** Base URL of the API, e.g. http://ci.example.lan:8080 */
  readonly url: string;
  readonly token?: string;
  /** Milliseconds before a request (not a log stream) gives up. Default 10 s. */
  readonly timeoutMs?: number;
  /** For tests. */
  readonly fetch?: typeof fetch;
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

/** The cause of a fetch failure in words: "connection refused", "host not found", "timed out". */
function networkCause(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string }; code?: string };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return 'timed out';
  const code = err?.cause?.code ?? err?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to host';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'timed out';
    default:
      return oneLine(err?.cause?.message ?? err?.message ?? String(e));
  }
}

export class ApiClient {
  readonly url: string;
  private readonly token?: string;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(o: ClientOptions) {
    this.url = o.url.replace(/\/+$/, '');
    this.token = o.token;
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.fetchImpl = o.fetch ?? fetch;
  }

  /** host[:port] of the API, for headers and messages. */
  get host(): string {
    try {
      return new URL(this.url).host;
    } catch {
      return this.url;
    }
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  /** Turns a non-2xx answer into an ApiClientError with the API's message. */
  private async refusal(res: Response, what: string): Promise<ApiClientError> {
    let body: { error?: string; message?: string } = {};
    try {
      body = (await res.json()) as typeof body;
    } catch {
      // not JSON: keep the status line
    }
    const message = body.message ? oneLine(body.message) : `${res.status} ${res.statusText}`;
    switch (res.status) {
      case 401:
        return new ApiClientError('unauthorized', this.token ? `the API at ${this.host} refused the token (401): check RAIBID_TOKEN, --token or the config file` : `the API at ${this.host} needs a token (401): set RAIBID_TOKEN, --token or token: in the config file`, 401, body.error);
      case 403:
        return new ApiClientError('forbidden', body.error === 'forbidden' ? `this token may only read (403): ${what} needs the admin token` : `${message} (403)`, 403, body.error);
      case 404:
        return new ApiClientError('not-found', body.message && !body.message.startsWith('no route') ? message : `${message} (404: is ${this.url} the raibid API?)`, 404, body.error);
      case 409:
        return new ApiClientError('conflict', message, 409, body.error);
      default:
        if (res.status >= 500) return new ApiClientError('unavailable', `the API failed (${res.status}${body.error ? ` ${body.error}` : ''}): ${message}`, res.status, body.error);
        return new ApiClientError('refused', `${message} (${res.status}${body.error ? ` ${body.error}` : ''})`, res.status, body.error);
    }
  }

  /** One request; resolves with the Response of a 2xx answer. */
  private async send(method: string, path: string, what: string, o: { body?: unknown; accept?: string; signal?: AbortSignal; timeout?: boolean; lastEventId?: string } = {}): Promise<Response> {
    const headers = this.headers({
      ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(o.accept ? { accept: o.accept } : {}),
      ...(o.lastEventId ? { 'last-event-id': o.lastEventId } : {}),
    });
    const signals = [o.signal, o.timeout === false ? undefined : AbortSignal.timeout(this.timeoutMs)].filter((s): s is AbortSignal => s !== undefined);
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.url}${path}`, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body), signal: signals.length ? AbortSignal.any(signals) : undefined });
    } catch (e) {
      if (o.signal?.aborted) throw e;
      throw new ApiClientError('unreachable', `cannot reach the API at ${this.url}: ${networkCause(e)}`);
    }
    if (!res.ok) throw await this.refusal(res, what);
    return res;
  }

  private async json<T>(method: string, path: string, what: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await this.send(method, path, what, { body });
    try {
      return { status: res.status, body: (await res.json()) as T };
    } catch (e) {
      throw new ApiClientError('protocol', `the API at ${this.host} sent a malformed answer to ${method} ${path}: ${networkCause(e)}`);
    }
  }

  async jobs(q: JobQuery = {}): Promise<{ jobs: ApiJob[]; next?: string }> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') params.set(k, String(v));
    const qs = params.toString();
    return (await this.json<{ jobs: ApiJob[]; next?: string }>('GET', `/api/v1/jobs${qs ? `?${qs}` : ''}`, 'listing jobs')).body;
  }

  /** Up to `limit` jobs (any number), following `next` 200 at a time. */
  async jobsUpTo(q: Omit<JobQuery, 'limit'>, limit: number): Promise<{ jobs: ApiJob[]; next?: string }> {
    const jobs: ApiJob[] = [];
    let cursor = q.cursor;
    for (;;) {
      const page = await this.jobs({ ...q, cursor, limit: Math.min(200, limit - jobs.length) });
      jobs.push(...page.jobs);
      if (!page.next || jobs.length >= limit) return { jobs, next: page.next };
      cursor = page.next;
    }
  }

  async job(id: string): Promise<ApiJob> {
    return (await this.json<ApiJob>('GET', `/api/v1/jobs/${encodeURIComponent(id)}`, 'reading a job')).body;
  }

  /** 200: the queued job is cancelled; 202: the running job's agent was asked to stop it. */
  async cancel(id: string): Promise<{ outcome: 'cancelled' | 'requested'; job: ApiJob }> {
    const r = await this.json<ApiJob>('POST', `/api/v1/jobs/${encodeURIComponent(id)}/cancel`, 'cancelling a job');
    return { outcome: r.status === 200 ? 'cancelled' : 'requested', job: r.body };
  }

  async retry(id: string): Promise<TriggerResponse> {
    return (await this.json<TriggerResponse>('POST', `/api/v1/jobs/${encodeURIComponent(id)}/retry`, 'retrying a job')).body;
  }

  async run(body: { repo: string; ref?: string; sha?: string; pool?: string }): Promise<TriggerResponse> {
    const clean = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined && v !== ''));
    return (await this.json<TriggerResponse>('POST', '/api/v1/jobs', 'running a job', clean)).body;
  }

  async pools(): Promise<ApiPool[]> {
    return (await this.json<{ pools: ApiPool[] }>('GET', '/api/v1/pools', 'listing pools')).body.pools;
  }

  /** The cluster's figures; undefined from an API that predates GET /api/v1/cluster. */
  async cluster(): Promise<ApiCluster | undefined> {
    try {
      return (await this.json<ApiCluster>('GET', '/api/v1/cluster', 'reading the cluster')).body;
    } catch (e) {
      if (e instanceof ApiClientError && e.kind === 'not-found') return undefined;
      throw e;
    }
  }

  async agents(): Promise<ApiAgent[]> {
    return (await this.json<{ agents: ApiAgent[] }>('GET', '/api/v1/agents', 'listing agents')).body.agents;
  }

  /** The whole log as text (what GET /jobs/{id}/logs answers). */
  async logText(id: string): Promise<string> {
    const res = await this.send('GET', `/api/v1/jobs/${encodeURIComponent(id)}/logs`, 'reading a log', { accept: 'text/plain' });
    return res.text();
  }

  /**
   * Follows a job's log as Server-Sent Events from `after` (exclusive), yielding entries until the
   * job's `end` entry. A dropped connection is resumed from the last entry id (Last-Event-ID) after a
   * short wait, at most `reconnects` times in a row; `signal` stops it.
   */
  async *followLog(id: string, o: { after?: string; signal?: AbortSignal; reconnects?: number; retryMs?: number } = {}): AsyncGenerator<LogEntry> {
    let last = o.after;
    let failures = 0;
    const reconnects = o.reconnects ?? 10;
    for (;;) {
      let cause = CLEAN_CLOSE;
      try {
        const res = await this.send('GET', `/api/v1/jobs/${encodeURIComponent(id)}/logs`, 'reading a log', { accept: 'text/event-stream', signal: o.signal, timeout: false, lastEventId: last });
        if (!res.body) throw new ApiClientError('protocol', 'the log stream has no body');
        for await (const e of parseEventStream(res.body, o.signal)) {
          failures = 0;
          if (e.id) last = e.id;
          const entry = toLogEntry(e);
          if (!entry) continue;
          yield entry;
          if (entry.kind === 'end') return;
        }
      } catch (e) {
        if (o.signal?.aborted) return;
        if (e instanceof ApiClientError && e.kind !== 'unreachable' && e.kind !== 'unavailable') throw e;
        cause = e instanceof ApiClientError ? e.message : networkCause(e);
      }
      if (o.signal?.aborted) return;
      if (++failures > reconnects) throw new ApiClientError('unreachable', `the log of job ${id} stopped: ${cause}`);
      // The API closes the stream itself only after the end entry, or when the record is gone: an
      // expired job, or one that ended, has nothing more to say. Anything else was the connection.
      try {
        const job = await this.job(id);
        if (isTerminal(job.status) && cause === CLEAN_CLOSE) return;
      } catch (e) {
        if (e instanceof ApiClientError && e.kind === 'not-found') return;
      }
      await sleep(o.retryMs ?? 1000, o.signal);
      if (o.signal?.aborted) return;
    }
  }
}

const CLEAN_CLOSE = 'the stream closed before the job ended';

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

/** One Server-Sent Event. */
export interface ServerEvent {
  readonly id?: string;
  readonly event: string;
  readonly data: string;
}

/** Parses a text/event-stream body (the subset the API sends: id, event, data, comments, retry). */
export async function* parseEventStream(body: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<ServerEvent> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  const abort = () => void reader.cancel().catch(() => undefined);
  signal?.addEventListener('abort', abort, { once: true });
  let buf = '';
  let id: string | undefined;
  let event = 'message';
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (line === '') {
          if (data.length) yield { id, event, data: data.join('\n') };
          event = 'message';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') id = value;
        else if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
    }
  } finally {
    signal?.removeEventListener('abort', abort);
    reader.releaseLock();
  }
}

function toLogEntry(e: ServerEvent): LogEntry | undefined {
  if (!(LOG_KINDS as readonly string[]).includes(e.event)) return undefined;
  try {
    const d = JSON.parse(e.data) as { step?: string; time?: number; text?: string };
    return { id: e.id, kind: e.event as LogKind, step: d.step ?? '', time: Number(d.time ?? 0), text: d.text ?? '' };
  } catch {
    return undefined;
  }
}

/** A log entry as lines of the plain-text log (the API's own format). */
export function logLines(e: LogEntry): string[] {
  return e.kind === 'end' ? [] : formatLogEntry(e).split('\n');
}

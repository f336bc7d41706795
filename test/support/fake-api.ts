/**
 * A fake raibid API for the dashboard's component tests: the REST surface of src/api/server/app.ts
 * (jobs with filters and cursors, one job, cancel, retry, run, logs as text and Server-Sent Events,
 * pools, agents, the cluster) over real HTTP, with the same auth rules (admin token acts, read token reads, anything
 * else is 401) and `{error, message}` refusals, but in memory and with fixed data and times, so frames
 * are the same on every run. It can go down (connection refused) and come back on the same port.
 *
 * The real API is exercised by test/cli-jobs.test.ts and test/tui-tmux.test.ts; this fake only has to
 * answer like it, which test/cli-jobs.test.ts keeps honest by running the same client calls on both.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LogEntry } from '../../src/jobs/log.js';
import { TERMINAL_STATUSES } from '../../src/jobs/record.js';
import type { ApiAgent, ApiCluster, ApiJob, ApiPool } from '../../src/cli/client.js';

export const FAKE_ADMIN = 'fake-admin-token-0123456789';
export const FAKE_READ = 'fake-read-token-0123456789';
/** The fixed "now" of the fake's data: 2026-01-15 12:00:00 UTC. */
export const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

const ENDED: readonly string[] = TERMINAL_STATUSES;

export interface FakeApi {
  readonly url: string;
  jobs: ApiJob[];
  pools: ApiPool[];
  agents: ApiAgent[];
  /** GET /api/v1/cluster; undefined answers 404, as an API from before that route. */
  cluster: ApiCluster | undefined;
  readonly logs: Map<string, LogEntry[]>;
  /** Repositories POST /jobs accepts. */
  readonly repos: Set<string>;
  /** Every request: method, path with query, and the token's role. */
  readonly requests: { method: string; path: string; role: 'admin' | 'read' | 'none' | 'bad'; body?: unknown }[];
  /** Appends log entries (ids are assigned) and pushes them to open streams. */
  appendLog(id: string, entries: readonly Omit<LogEntry, 'id'>[]): void;
  /** Down: the port refuses connections; up: listening again on the same port. */
  setDown(down: boolean): Promise<void>;
  close(): Promise<void>;
}

/** A job id in the API's format (15 lowercase base-36 characters). */
export function fakeId(n: number): string {
  return `j${String(n).padStart(14, '0')}`;
}

/** A job with the fields every record has; override what the test needs. */
export function fakeJob(n: number, o: Partial<ApiJob> = {}): ApiJob {
  return {
    id: fakeId(n),
    repo: 'acme/widget',
    cloneUrl: 'http://gitea.test/acme/widget.git',
    event: 'push',
    ref: 'refs/heads/main',
    sha: `${(n % 10).toString().repeat(7)}${'a'.repeat(33)}`,
    pool: 'rust',
    status: 'queued',
    attempt: 1,
    createdAt: T0 - n * 60_000,
    steps: [],
    title: `Commit number ${n}`,
    actor: 'alice',
    url: `http://ci.test/api/v1/jobs/${fakeId(n)}/logs`,
    ...o,
  } as ApiJob;
}

/** A small, varied set: every colour of the table, an agent, two pools. */
export function sampleData(): { jobs: ApiJob[]; pools: ApiPool[]; agents: ApiAgent[]; cluster?: ApiCluster; logs: Map<string, LogEntry[]> } {
  const jobs = [
    fakeJob(1, { status: 'queued', repo: 'acme/gadget', ref: 'refs/heads/feature/login-form', waiting: 'pod agent-rust-x: 0/1 nodes are available: insufficient cpu' }),
    fakeJob(2, { status: 'running', agent: 'agent-rust-7c9f4', startedAt: T0 - 95_000, steps: [{ name: 'fmt', status: 'success', exitCode: 0, durationMs: 1_300 }, { name: 'clippy', status: 'success', exitCode: 0, durationMs: 41_000 }, { name: 'test', status: 'running', exitCode: null, durationMs: 0 }] }),
    fakeJob(3, { status: 'success', agent: 'agent-rust-7c9f4', startedAt: T0 - 400_000, finishedAt: T0 - 250_000, durationMs: 150_000, steps: [{ name: 'fmt', status: 'success', exitCode: 0, durationMs: 1_100 }, { name: 'test', status: 'success', exitCode: 0, durationMs: 120_000 }], cache: { hits: 120, misses: 30, hitRate: 0.8 }, image: { ref: 'gitea.lan/acme/widget:3333333', digest: 'sha256:0123456789abcdef0123456789abcdef', tags: ['main'] } }),
    fakeJob(4, { status: 'failure', repo: 'acme/gadget', ref: 'refs/pull/42/head', event: 'pull_request', pr: '42', agent: 'agent-rust-01abc', startedAt: T0 - 600_000, finishedAt: T0 - 540_000, durationMs: 60_000, steps: [{ name: 'fmt', status: 'success', exitCode: 0, durationMs: 900 }, { name: 'clippy', status: 'failure', exitCode: 101, durationMs: 58_000 }] }),
    fakeJob(5, { status: 'cancelled', reason: 'cancelled by admin' }),
    fakeJob(6, { status: 'error', reason: '.raibid.yaml: steps[0].command: expected a string', ref: 'refs/tags/v1.2.0' }),
  ];
  const pools: ApiPool[] = [
    { name: 'rust', mode: 'ephemeral', stream: 'ci-jobs', lag: 1, pending: 1, running: 1, dead: 0, agents: 1, planned: 8 },
    { name: 'docs', mode: 'pooled', stream: 'ci-docs', lag: 0, pending: 0, running: 0, dead: 2, agents: 0, planned: 2 },
  ];
  const GiB = 2 ** 30;
  const cluster: ApiCluster = {
    name: 'spark',
    node: { cpu: { capacityMillis: 20_000, allocatableMillis: 18_000, usedMillis: 3_250 }, memory: { capacityBytes: 119 * GiB, allocatableBytes: 110 * GiB, usedBytes: 41 * GiB } },
    agents: { running: 1, planned: 10 },
    pools: [
      { name: 'rust', mode: 'ephemeral', agents: 1, planned: 8 },
      { name: 'docs', mode: 'pooled', agents: 0, planned: 2 },
    ],
  };
  const agents: ApiAgent[] = [{ name: 'agent-rust-7c9f4', pool: 'rust', mode: 'ephemeral', state: 'busy', slots: 1, busy: 1, free: 0, jobs: [fakeId(2)], startedAt: T0 - 120_000, lastSeen: T0 - 2_000 }];
  const logs = new Map<string, LogEntry[]>();
  const t = T0 - 90_000;
  logs.set(fakeId(2), [
    { id: '1-0', kind: 'step', step: 'fmt', time: t, text: 'cargo fmt --all --check' },
    { id: '1-1', kind: 'result', step: 'fmt', time: t + 1300, text: 'success in 1.3s' },
    { id: '1-2', kind: 'step', step: 'clippy', time: t + 1400, text: 'cargo clippy --all-targets -- -D warnings' },
    { id: '1-3', kind: 'out', step: 'clippy', time: t + 2000, text: '    Checking widget v0.1.0 (/workspace/widget)\n    Finished dev [unoptimized + debuginfo] target(s) in 40.1s' },
    { id: '1-4', kind: 'result', step: 'clippy', time: t + 42_000, text: 'success in 41s' },
    { id: '1-5', kind: 'step', step: 'test', time: t + 42_100, text: 'cargo nextest run' },
    { id: '1-6', kind: 'out', step: 'test', time: t + 43_000, text: '\x1b[32m    Starting\x1b[0m 12 tests across 1 binary\n        PASS [   0.011s] widget tests::adds\n        PASS [   0.012s] widget tests::parses' },
  ]);
  logs.set(fakeId(3), [
    { id: '2-0', kind: 'step', step: 'test', time: T0 - 380_000, text: 'cargo test' },
    { id: '2-1', kind: 'out', step: 'test', time: T0 - 300_000, text: 'test result: ok. 12 passed; 0 failed' },
    { id: '2-2', kind: 'end', step: '', time: T0 - 250_000, text: 'job success' },
  ]);
  return { jobs, pools, agents, cluster, logs };
}

export async function startFakeApi(data: Partial<ReturnType<typeof sampleData>> = sampleData()): Promise<FakeApi> {
  const jobs = data.jobs ?? [];
  const logs = data.logs ?? new Map<string, LogEntry[]>();
  const streams = new Map<string, Set<ServerResponse>>();
  const requests: FakeApi['requests'] = [];
  const repos = new Set(['acme/widget', 'acme/gadget']);
  let nextJob = 900;
  let logSeq = 1000;

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const refuse = (res: ServerResponse, status: number, error: string, message: string) => send(res, status, { error, message });
  const sse = (e: LogEntry) => `id: ${e.id}\nevent: ${e.kind}\ndata: ${JSON.stringify({ step: e.step, time: e.time, text: e.text })}\n\n`;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const role = token === FAKE_ADMIN ? 'admin' : token === FAKE_READ ? 'read' : token ? 'bad' : 'none';
    let body: unknown;
    if (req.method === 'POST') {
      let text = '';
      for await (const chunk of req) text += chunk;
      body = text ? JSON.parse(text) : undefined;
    }
    api.requests.push({ method: req.method ?? 'GET', path: url.pathname + url.search, role, body });
    if (role === 'none') return refuse(res, 401, 'unauthorized', 'missing Authorization: Bearer <token>');
    if (role === 'bad') return refuse(res, 401, 'unauthorized', 'invalid token');
    if (req.method === 'POST' && role !== 'admin') return refuse(res, 403, 'forbidden', 'this token may only read; use the admin token');
    const path = url.pathname;
    const q = url.searchParams;
    let m: RegExpExecArray | null;
    if (req.method === 'GET' && path === '/api/v1/jobs') {
      const limit = Number(q.get('limit') ?? 50);
      const ref = q.get('ref');
      let list = api.jobs.filter((j) => (!q.get('status') || j.status === q.get('status')) && (!q.get('repo') || j.repo === q.get('repo')) && (!q.get('pool') || j.pool === q.get('pool')) && (!ref || j.ref === ref || j.ref === `refs/heads/${ref}`));
      const cursor = q.get('cursor');
      if (cursor) list = list.slice(list.findIndex((j) => j.id === cursor) + 1);
      const page = list.slice(0, limit);
      return send(res, 200, { jobs: page, ...(list.length > limit ? { next: page[page.length - 1].id } : {}) });
    }
    if (req.method === 'GET' && (m = /^\/api\/v1\/jobs\/([^/]+)$/.exec(path))) {
      const j = api.jobs.find((x) => x.id === m![1]);
      return j ? send(res, 200, j) : refuse(res, 404, 'not-found', `no job ${m[1]} (unknown, or expired after the retention)`);
    }
    if (req.method === 'GET' && (m = /^\/api\/v1\/jobs\/([^/]+)\/logs$/.exec(path))) {
      const id = m[1];
      if (!api.jobs.some((x) => x.id === id)) return refuse(res, 404, 'not-found', `no job ${id} (unknown, or expired after the retention)`);
      const entries = logs.get(id) ?? [];
      const follow = q.get('follow') === 'true' || String(req.headers.accept ?? '').includes('text/event-stream');
      if (!follow) {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        return res.end(entries.filter((e) => e.kind !== 'end').map((e) => `${e.kind} ${e.step}: ${e.text}`).join('\n'));
      }
      const after = String(req.headers['last-event-id'] ?? '');
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      res.write('retry: 2000\n\n');
      const start = after ? entries.findIndex((e) => e.id === after) + 1 : 0;
      for (const e of entries.slice(start)) res.write(sse(e));
      if (entries.some((e) => e.kind === 'end')) return res.end();
      const set = streams.get(id) ?? new Set();
      streams.set(id, set.add(res));
      req.on('close', () => set.delete(res));
      return;
    }
    if (req.method === 'POST' && (m = /^\/api\/v1\/jobs\/([^/]+)\/cancel$/.exec(path))) {
      const i = api.jobs.findIndex((x) => x.id === m![1]);
      if (i < 0) return refuse(res, 404, 'not-found', `no job ${m[1]}`);
      const j = api.jobs[i];
      if (j.status === 'queued') {
        api.jobs[i] = { ...j, status: 'cancelled', reason: 'cancelled by admin', finishedAt: T0 } as ApiJob;
        return send(res, 200, api.jobs[i]);
      }
      if (j.status === 'running') {
        api.jobs[i] = { ...j, cancelRequested: 'admin' } as ApiJob;
        return send(res, 202, api.jobs[i]);
      }
      return refuse(res, 409, 'finished', `job ${j.id} has already ended (${j.status})`);
    }
    if (req.method === 'POST' && (m = /^\/api\/v1\/jobs\/([^/]+)\/retry$/.exec(path))) {
      const j = api.jobs.find((x) => x.id === m![1]);
      if (!j) return refuse(res, 404, 'not-found', `no job ${m[1]}`);
      if (!ENDED.includes(j.status)) return refuse(res, 409, 'not-finished', `job ${j.id} is still ${j.status}; cancel it first or wait for it to end`);
      const n = fakeJob(nextJob++, { repo: j.repo, ref: j.ref, sha: j.sha, event: 'retry', retryOf: j.id, createdAt: T0 } as Partial<ApiJob>);
      api.jobs.unshift(n);
      return send(res, 202, { queued: true, id: n.id, pool: n.pool, url: n.url });
    }
    if (req.method === 'POST' && path === '/api/v1/jobs') {
      const b = body as { repo?: string; ref?: string; sha?: string; pool?: string };
      if (!b?.repo || !/^[^/\s]+\/[^/\s]+$/.test(b.repo)) return refuse(res, 400, 'invalid-request', 'body/repo must match pattern "^[^/\\s]+/[^/\\s]+$"');
      if (!repos.has(b.repo)) return refuse(res, 404, 'unknown-repository', `Gitea has no repository ${b.repo} (or the bot user cannot see it)`);
      const n = fakeJob(nextJob++, { repo: b.repo, ref: `refs/heads/${b.ref ?? 'main'}`, event: 'manual', createdAt: T0, pool: b.pool ?? 'rust' } as Partial<ApiJob>);
      api.jobs.unshift(n);
      return send(res, 202, { queued: true, id: n.id, pool: n.pool, url: n.url });
    }
    if (req.method === 'GET' && path === '/api/v1/pools') return send(res, 200, { pools: api.pools });
    if (req.method === 'GET' && path === '/api/v1/agents') return send(res, 200, { agents: api.agents });
    if (req.method === 'GET' && path === '/api/v1/cluster' && api.cluster) return send(res, 200, api.cluster);
    return refuse(res, 404, 'not-found', `no route ${req.method} ${path}`);
  };

  const listen = (server: Server, port: number) => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const newServer = () => createServer((req, res) => void handle(req, res).catch((e: Error) => refuse(res, 500, 'internal', e.message)));
  let server = newServer();
  await listen(server, 0);
  const port = (server.address() as AddressInfo).port;
  let down = false;

  const api: FakeApi = {
    url: `http://127.0.0.1:${port}`,
    jobs,
    pools: data.pools ?? [],
    agents: data.agents ?? [],
    cluster: data.cluster,
    logs,
    repos,
    requests,
    appendLog(id, entries) {
      const list = logs.get(id) ?? [];
      logs.set(id, list);
      for (const e of entries) {
        const entry = { ...e, id: `${++logSeq}-0` };
        list.push(entry);
        for (const res of streams.get(id) ?? []) {
          res.write(sse(entry));
          if (entry.kind === 'end') res.end();
        }
      }
    },
    async setDown(d) {
      if (d === down) return;
      down = d;
      if (d) {
        for (const set of streams.values()) for (const res of set) res.destroy();
        streams.clear();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      } else {
        server = newServer();
        await listen(server, port);
      }
    },
    async close() {
      for (const set of streams.values()) for (const res of set) res.destroy();
      if (down) return;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return api;
}

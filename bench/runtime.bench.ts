/**
 * npm run bench (second half): the runtime against its goals, through real processes on this machine —
 * a real Redis-protocol server set up from the synthesized config and ACL (test/support/redis.ts), the
 * Gitea API stand-in with real git repositories (in a process of its own, bench/gitea-standin.child.ts),
 * `raibid api` and `raibid agent` run from the esbuild bundle with the manifests' environment
 * (test/support/runtime.ts). Everything listens on 127.0.0.1. Prints figures measured in this one run,
 * then a table of goals with PASS or MISS; a MISS does not fail the process.
 *
 *   1. webhook API: signed push webhooks at concurrency 32 vs the bare durable write (XADD + WAITAOF).
 *      Through the stand-in, whose contents lookup alone is also timed (it runs six git processes per
 *      call, so it dominates); and through a second API whose Gitea calls are answered from memory
 *      (the API's own cost), also one request at a time.
 *   2. agent pickup: webhook 2xx → the job's first `step` log entry, on a pooled pool with idle agents
 *      (at most half the slots busy, so it is pickup and not queueing); also → the pipeline's command.
 *   3. warm vs cold Cargo build through an agent (sccache + CARGO_HOME caches); and, as a diagnostic,
 *      the same two builds copied to a fixed folder first (sccache keys Rust compiles by their folder).
 *   4. log streaming overhead: 200,000 lines streamed to Redis vs discarded, for a shell loop (a line per
 *      write) and for seq (output in big blocks); every stored log is read back through the API.
 *
 *   npx tsx bench/runtime.bench.ts [--webhooks 2000] [--standin-webhooks 32] [--jobs 200] [--pickup-seconds 45] [--crates 6]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, request } from 'node:http';
import { homedir, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { startRedis, freePort, HAS_WAITAOF, REDIS_BINARY, type TestRedis } from '../test/support/redis.js';
import { pushPayload, signedDelivery } from '../test/support/gitea-webhooks.js';
import { ADMIN_TOKEN, BOT_TOKEN, WEBHOOK_SECRET } from '../test/support/api-harness.js';
import { raibidBundle, sharedCaches, startAgentProcess, startApiProcess, type AgentProc, type ApiProc } from '../test/support/runtime.js';
import { connectRedis, JobStore, type FinishedEvent } from '../src/jobs/store.js';
import { EVENTS_CHANNEL, logKey } from '../src/jobs/keys.js';
import { LOG_MAX_ENTRIES } from '../src/jobs/log.js';
import type { JobRecord } from '../src/jobs/record.js';
import type { ChildReady, ChildReply, ChildRequest } from './gitea-standin.child.js';
import { cargoWorkspace } from './cargo-fixture.js';

// ---------------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------------

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
/** Webhooks through the API with Gitea answering from memory, and durable writes. */
const WEBHOOKS = arg('webhooks', 2000);
/**
 * Webhooks through the API and the stand-in: fewer, because the stand-in answers a contents lookup with
 * six git processes one after the other (3–10 lookups/s on this 2-core machine), so 2,000 would take minutes.
 */
const STANDIN_WEBHOOKS = arg('standin-webhooks', 32);
const WARMUP = 100;
const CONCURRENCY = 32;
const PICKUP_JOBS = arg('jobs', 200);
/**
 * Pickup jobs in the system at once (sent, not yet ended): half the 8 slots, so a job always finds an
 * idle slot and the figure is pickup, not queueing. Each sender waits for its job's end before the next.
 */
const PICKUP_IN_FLIGHT = 4;
/** Stop sending pickup jobs after this long even if fewer than PICKUP_JOBS went out (keeps the bench bounded). */
const PICKUP_BUDGET_MS = arg('pickup-seconds', 45) * 1000;
const CRATES = arg('crates', 6);
const MODULES = 6;
const LOG_LINES = 200_000;
const LOG_REPS = 3;

/** Pools: `hooks` has no agents (the webhook benchmark's jobs stay queued), `pool` is pooled (pickup), `build` has one slot (builds, logs). */
const YAML = ['agents:', '  pools:', '    - name: hooks', '      stream: ci-hooks', '    - name: pool', '      mode: pooled', '      slots: 4', '    - name: build', '      mode: pooled', '      slots: 1', ''].join('\n');
const HOOKS_STREAM = 'ci-hooks';

// ---------------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: readonly number[]) => pct(xs, 50);
/** Nearest-rank percentile. */
function pct(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
const ms = (x: number) => (Number.isNaN(x) ? 'n/a' : Math.abs(x) >= 100 ? `${x.toFixed(0)} ms` : `${x.toFixed(1)} ms`);
const secs = (x: number) => `${(x / 1000).toFixed(2)} s`;
const times = (x: number) => `${x.toFixed(2)}×`;
const pad = (s: string, n: number) => s.padEnd(n);
const spread = (xs: readonly number[]) => `p50 ${ms(pct(xs, 50)).padStart(8)}  p95 ${ms(pct(xs, 95)).padStart(8)}  p99 ${ms(pct(xs, 99)).padStart(8)}`;

interface GoalRow {
  readonly goal: string;
  readonly target: string;
  readonly measured: string;
  /** undefined: for information, not a goal. */
  readonly pass?: boolean;
}
const summary: GoalRow[] = [];

// HTTP with keep-alive and little client overhead, so the load generator costs the machine less.
const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 128 });
function http(method: string, url: string, headers: Record<string, string>, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent: httpAgent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs `fn` over `items` with `concurrency` workers; latencies in ms (in item order) and the wall time. */
async function load<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<{ lat: number[]; wallMs: number }> {
  const lat = new Array<number>(items.length);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= items.length) return;
        const t = performance.now();
        await fn(items[i]);
        lat[i] = performance.now() - t;
      }
    }),
  );
  return { lat, wallMs: performance.now() - started };
}

function procMemory(pid: number | undefined): { rss: string; hwm: string } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
    return { rss: `${(kb('VmRSS') / 1024).toFixed(1)} MiB`, hwm: `${(kb('VmHWM') / 1024).toFixed(1)} MiB` };
  } catch {
    return { rss: 'n/a', hwm: 'n/a' };
  }
}

// ---------------------------------------------------------------------------------------------------
// The Gitea stand-in in its own process
// ---------------------------------------------------------------------------------------------------

interface StandIn {
  readonly url: string;
  readonly frontUrl: string;
  readonly child: ChildProcess;
  addRepo(owner: string, name: string, files: Record<string, string>): Promise<{ sha: string }>;
  cache(on: boolean): Promise<void>;
  close(): Promise<void>;
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

async function startStandIn(): Promise<StandIn> {
  const script = fileURLToPath(new URL('./gitea-standin.child.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), script], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<ChildReady>((resolve, reject) => {
    child.once('message', (m) => resolve(m as ChildReady));
    child.once('exit', (code) => reject(new Error(`the Gitea stand-in process exited (${code}) before it was ready`)));
  });
  let seq = 0;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on('message', (m: ChildReply | ChildReady) => {
    if (!('id' in m)) return;
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.ok) w?.resolve(m.result);
    else w?.reject(new Error(m.error));
  });
  const call = (r: DistributiveOmit<ChildRequest, 'id'>) =>
    new Promise<unknown>((resolve, reject) => {
      const id = ++seq;
      waiting.set(id, { resolve, reject });
      child.send({ ...r, id });
    });
  return {
    url: ready.url,
    frontUrl: ready.frontUrl,
    child,
    addRepo: async (owner, name, files) => (await call({ op: 'addRepo', owner, name, files })) as { sha: string },
    cache: async (on) => void (await call({ op: 'cache', on })),
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await Promise.race([call({ op: 'close' }).catch(() => undefined), sleep(10_000)]);
      await Promise.race([exited, sleep(5_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------------

const cleanups: (() => Promise<unknown> | unknown)[] = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        console.error(`cleanup: ${(e as Error).message}`);
      }
    }
  })();
  return cleaning;
}
/** Removes a process's working folder once it has exited (read while it runs: /proc/<pid>/cwd). */
function cwdOf(pid: number | undefined): string | undefined {
  try {
    return pid ? readlinkSync(`/proc/${pid}/cwd`) : undefined;
  } catch {
    return undefined;
  }
}

async function stopAgent(a: AgentProc): Promise<void> {
  const root = dirname(a.workspace);
  if (a.child.exitCode === null && a.child.signalCode === null) {
    a.child.kill('SIGTERM'); // pooled: drain (nothing runs by then) and exit, stopping its sccache server
    await Promise.race([a.exited, sleep(15_000)]);
    if (a.child.exitCode === null && a.child.signalCode === null) await a.kill('SIGKILL');
  }
  rmSync(root, { recursive: true, force: true });
}

/**
 * Runs a start function of test/support/runtime.ts; when it throws, removes the temporary folder it had
 * made by then (new since the call, with `prefix`, and `mine`), ending any process still working in it.
 */
async function sweptOnFailure<T>(prefix: string, mine: (dir: string) => boolean, start: () => Promise<T>): Promise<T> {
  const before = new Set(readdirSync(tmpdir()).filter((n) => n.startsWith(prefix)));
  try {
    return await start();
  } catch (e) {
    for (const n of readdirSync(tmpdir())) {
      const dir = join(tmpdir(), n);
      if (!n.startsWith(prefix) || before.has(n) || !mine(dir)) continue;
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        try {
          const cwd = readlinkSync(`/proc/${pid}/cwd`);
          if (cwd === dir || cwd.startsWith(`${dir}/`)) process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone, or not ours to read
        }
      }
      rmSync(dir, { recursive: true, force: true });
    }
    throw e;
  }
}
/** The API's folder holds the settings file made from this benchmark's config (its `hooks` pool). */
const benchApiDir = (dir: string) => {
  try {
    return readFileSync(join(dir, 'config.yaml'), 'utf8').includes(`stream: ${HOOKS_STREAM}`);
  } catch {
    return false;
  }
};

function stopSccache(port: number): void {
  spawnSync('sccache', ['--stop-server'], { env: { ...process.env, SCCACHE_SERVER_PORT: String(port) }, stdio: 'ignore', timeout: 10_000 });
}

async function main(): Promise<void> {
  if (!REDIS_BINARY) {
    console.log('runtime bench: SKIPPED (neither valkey-server nor redis-server is on PATH)');
    return;
  }
  const t0 = performance.now();
  console.log(`\nruntime bench: ${REDIS_BINARY} (WAITAOF ${HAS_WAITAOF ? 'yes' : 'no'}), node ${process.version}, load average at start ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

  const redis: TestRedis = await startRedis(YAML);
  cleanups.push(() => redis.stop());
  const gitea = await startStandIn();
  cleanups.push(() => gitea.close());
  const bundle = await raibidBundle();
  cleanups.push(() => rmSync(dirname(bundle), { recursive: true, force: true }));
  const apiSettings = HAS_WAITAOF ? {} : { durability: 'none' };
  const api: ApiProc = await sweptOnFailure('raibid-api-', benchApiDir, () => startApiProcess(redis, gitea.url, { yaml: YAML, settings: apiSettings }));
  const apiDir = cwdOf(api.child.pid);
  cleanups.push(async () => {
    await api.kill();
    if (apiDir) rmSync(apiDir, { recursive: true, force: true });
  });

  const conn: Redis = connectRedis({ url: redis.url, username: redis.api.username, password: redis.api.password });
  cleanups.push(() => conn.disconnect());
  const store = new JobStore(conn, { retentionSeconds: 3600 });

  // Jobs that ended, from raibid:events (what the agents publish): no polling while measuring.
  const events = connectRedis({ url: redis.url, username: redis.api.username, password: redis.api.password });
  cleanups.push(() => events.disconnect());
  const finished = new Map<string, FinishedEvent>();
  const finishWaiters = new Map<string, () => void>();
  await events.subscribe(EVENTS_CHANNEL);
  events.on('message', (_c: string, m: string) => {
    const e = JSON.parse(m) as FinishedEvent;
    finished.set(e.id, e);
    finishWaiters.get(e.id)?.();
  });
  const agents: AgentProc[] = [];
  const agentOutput = () => agents.map((a) => `--- ${a.name}\n${a.output().slice(-2000)}`).join('\n');
  const waitFinished = async (ids: readonly string[], timeoutMs: number): Promise<JobRecord[]> => {
    const deadline = Date.now() + timeoutMs;
    for (const id of ids) {
      while (!finished.has(id)) {
        const left = deadline - Date.now();
        if (left <= 0) {
          const r = await store.get(id);
          if (r && ['success', 'failure', 'error', 'cancelled', 'dead'].includes(r.status)) break;
          throw new Error(`job ${id} did not end within ${timeoutMs} ms (status ${r?.status})\n${agentOutput()}\n--- api\n${api.output().slice(-2000)}`);
        }
        await Promise.race([new Promise<void>((resolve) => finishWaiters.set(id, resolve)), sleep(Math.min(left, 2_000))]);
        finishWaiters.delete(id);
      }
    }
    return Promise.all(ids.map(async (id) => (await store.get(id))!));
  };

  const deliveryFor = (base: string, owner: string, name: string, sha: string, ref: string) =>
    signedDelivery(WEBHOOK_SECRET, 'push', pushPayload({ baseUrl: base, repo: { owner: { login: owner }, name }, ref, before: '1'.repeat(40), after: sha, commits: [{ id: sha, message: 'bench change' }], pusher: { login: 'alice' } }), randomUUID());
  const deliver = async (apiUrl: string, d: { headers: Record<string, string>; body: string }) => {
    const r = await http('POST', `${apiUrl}/api/v1/webhooks/gitea`, d.headers, d.body);
    return { status: r.status, body: JSON.parse(r.text) as { id?: string; queued?: boolean; reason?: string; message?: string } };
  };
  /** Pushes a commit and returns the queued job's id. */
  const trigger = async (owner: string, name: string, sha: string, ref: string) => {
    const r = await deliver(api.url, deliveryFor(gitea.url, owner, name, sha, ref));
    if (r.status !== 202 || !r.body.id) throw new Error(`webhook for ${owner}/${name} answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body.id;
  };

  // =================================================================================================
  // 1. Webhook API vs the bare durable write
  // =================================================================================================
  console.log(`\n[1] webhook API: signed push webhooks at concurrency ${CONCURRENCY}, the API as a process; ${STANDIN_WEBHOOKS} through the Gitea stand-in, ${WEBHOOKS} with Gitea answering from memory`);
  const repos: { name: string; sha: string }[] = [];
  for (let r = 0; r < 8; r++) {
    const name = `hooks-${r}`;
    const { sha } = await gitea.addRepo('bench', name, { '.raibid.yaml': 'pool: hooks\nsteps:\n  - name: test\n    command: "true"\n', 'README.md': `repository ${r}\n` });
    repos.push({ name, sha });
  }
  const hookDeliveries = (base: string, n: number, tag: string) =>
    Array.from({ length: n }, (_, i) => {
      const repo = repos[i % repos.length];
      // A branch per push: supersede has nothing to cancel, every webhook queues a job.
      return deliveryFor(base, 'bench', repo.name, repo.sha, `refs/heads/${tag}-${i}`);
    });
  const runWebhooks = async (apiUrl: string, base: string, tag: string, count: number, warmup: number, concurrency = CONCURRENCY) => {
    const codes = new Map<number, number>();
    const why = new Map<number, string>();
    const send = async (d: { headers: Record<string, string>; body: string }) => {
      const r = await http('POST', `${apiUrl}/api/v1/webhooks/gitea`, d.headers, d.body);
      codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
      if (r.status >= 300 && !why.has(r.status)) why.set(r.status, r.text.slice(0, 160));
    };
    await load(hookDeliveries(base, warmup, `${tag}-warm`), concurrency, send);
    codes.clear();
    const { lat, wallMs } = await load(hookDeliveries(base, count, tag), concurrency, send);
    return { lat, wallMs, rate: (count / wallMs) * 1000, codes: [...codes].map(([c, k]) => `${k}×${c}${why.has(c) ? ` ${why.get(c)}` : ''}`).join(', ') };
  };

  const hooks = await runWebhooks(api.url, gitea.url, 'hook', STANDIN_WEBHOOKS, 8);
  console.log(`  webhooks: API → stand-in lookup → Redis + WAITAOF       ${hooks.rate.toFixed(0).padStart(6)} /s   ${spread(hooks.lat)}   answers: ${hooks.codes}`);
  const mem = procMemory(api.child.pid);

  // The bare durable write: what the API must do at least for a job (one XADD, then WAITAOF), same client library.
  const writer = connectRedis({ url: redis.url, username: redis.api.username, password: redis.api.password }, { maxRetriesPerRequest: 2 });
  cleanups.push(() => writer.disconnect());
  await writer.ping();
  let n = 0;
  const write = async () => {
    await writer.xadd(HOOKS_STREAM, '*', 'job', `bench-baseline-${n++}`, 'attempt', '1');
    if (HAS_WAITAOF) {
      const [local] = (await writer.call('WAITAOF', 1, 0, 2000)) as [number, number];
      if (local < 1) throw new Error('WAITAOF did not confirm the write');
    }
  };
  await load(Array.from({ length: WARMUP }), CONCURRENCY, write);
  const baseline = await load(Array.from({ length: WEBHOOKS }), CONCURRENCY, write);
  const baseRate = (WEBHOOKS / baseline.wallMs) * 1000;
  console.log(`  durable write: XADD ${HOOKS_STREAM} + ${HAS_WAITAOF ? 'WAITAOF 1 0 2000' : 'no WAITAOF'} (ioredis)  ${baseRate.toFixed(0).padStart(6)} /s   ${spread(baseline.lat)}`);

  // What the stand-in's contents API costs on its own (the API's pipeline file lookup).
  const contents = (r: { name: string; sha: string }) => `${gitea.url}/api/v1/repos/bench/${r.name}/contents/.raibid.yaml?ref=${r.sha}`;
  const giteaGet = async (r: { name: string; sha: string }) => {
    const res = await http('GET', contents(r), { authorization: `Bearer ${BOT_TOKEN}`, accept: 'application/json' });
    if (res.status !== 200) throw new Error(`contents API answered ${res.status}: ${res.text.slice(0, 200)}`);
  };
  const lookups = Array.from({ length: CONCURRENCY }, (_, i) => repos[i % repos.length]);
  const lookupSeq = await load(lookups.slice(0, 16), 1, giteaGet);
  const lookupPar = await load(lookups, CONCURRENCY, giteaGet);
  console.log(`  stand-in contents GET alone (${lookupSeq.lat.length}), concurrency 1           ${((lookupSeq.lat.length / lookupSeq.wallMs) * 1000).toFixed(0).padStart(6)} /s   ${spread(lookupSeq.lat)}`);
  console.log(`  stand-in contents GET alone (${lookupPar.lat.length}), concurrency ${CONCURRENCY}          ${((lookupPar.lat.length / lookupPar.wallMs) * 1000).toFixed(0).padStart(6)} /s   ${spread(lookupPar.lat)}`);

  // Diagnostic: the same webhooks through a second API whose Gitea lookups are answered from memory.
  // (Kept for [2]: its webhooks answer without waiting for the stand-in's lookup.)
  await gitea.cache(true);
  const apiCached = await sweptOnFailure('raibid-api-', benchApiDir, () => startApiProcess(redis, gitea.frontUrl, { yaml: YAML, settings: apiSettings }));
  const apiCachedDir = cwdOf(apiCached.child.pid);
  cleanups.push(async () => {
    await apiCached.kill();
    if (apiCachedDir) rmSync(apiCachedDir, { recursive: true, force: true });
  });
  const cachedHooks = await runWebhooks(apiCached.url, gitea.frontUrl, 'cached', WEBHOOKS, WARMUP);
  const cachedSeq = await runWebhooks(apiCached.url, gitea.frontUrl, 'cached-seq', 200, 0, 1);
  const cachedMem = procMemory(apiCached.child.pid);
  console.log(`  webhooks: Gitea answers from memory (lookup, statuses)   ${cachedHooks.rate.toFixed(0).padStart(6)} /s   ${spread(cachedHooks.lat)}   answers: ${cachedHooks.codes}`);
  const baselineSeq = await load(Array.from({ length: 200 }), 1, write);
  console.log(`  same, one at a time (200): webhooks, Gitea from memory   ${cachedSeq.rate.toFixed(0).padStart(6)} /s   ${spread(cachedSeq.lat)}`);
  console.log(`  same, one at a time (200): durable writes                ${((200 / baselineSeq.wallMs) * 1000).toFixed(0).padStart(6)} /s   ${spread(baselineSeq.lat)}`);

  const p50Ratio = median(hooks.lat) / median(baseline.lat);
  const rateRatio = baseRate / hooks.rate;
  const cachedRatio = median(cachedHooks.lat) / median(baseline.lat);
  console.log(`  ratio webhook / durable write: p50 ${times(p50Ratio)}, p99 ${times(pct(hooks.lat, 99) / pct(baseline.lat, 99))}, throughput ${times(rateRatio)} lower`);
  const seqRatio = median(cachedSeq.lat) / median(baselineSeq.lat);
  console.log(`  ratio with Gitea answering from memory (the API's own cost): p50 ${times(cachedRatio)}, throughput ${times(baseRate / cachedHooks.rate)} lower; one at a time: p50 ${times(seqRatio)}`);
  console.log(`  API process memory: after its ${STANDIN_WEBHOOKS + 8} webhooks VmRSS ${mem.rss}, peak VmHWM ${mem.hwm}; the second API after ${WEBHOOKS + WARMUP + 200}: VmRSS ${cachedMem.rss}, peak VmHWM ${cachedMem.hwm}`);
  summary.push({ goal: 'webhook p50 / durable-write p50', target: '≤ 2×', measured: `${times(p50Ratio)} (${ms(median(hooks.lat))} / ${ms(median(baseline.lat))})`, pass: p50Ratio <= 2 });
  summary.push({ goal: '  throughput: durable writes / webhooks', target: 'info', measured: `${times(rateRatio)} (${baseRate.toFixed(0)} vs ${hooks.rate.toFixed(0)} /s)` });
  summary.push({ goal: '  same, Gitea answering from memory', target: '≤ 2×', measured: `${times(cachedRatio)} (${ms(median(cachedHooks.lat))})`, pass: cachedRatio <= 2 });
  summary.push({ goal: '  same, one request at a time', target: '≤ 2×', measured: `${times(seqRatio)} (${ms(median(cachedSeq.lat))} / ${ms(median(baselineSeq.lat))})`, pass: seqRatio <= 2 });

  // =================================================================================================
  // 2. Agent pickup latency
  // =================================================================================================
  console.log(`\n[2] agent pickup: 2 pooled agents × 4 slots waiting; up to ${PICKUP_JOBS} jobs (or ${PICKUP_BUDGET_MS / 1000} s) with one step (command: "true"), ${PICKUP_IN_FLIGHT} senders each waiting for its job's end`);
  console.log('  (webhooks to the API whose Gitea lookups answer from memory, so a sender does not wait ~1 s for the stand-in before the 2xx; agents use the stand-in)');
  const pickupCaches = sharedCaches();
  cleanups.push(() => rmSync(dirname(pickupCaches.cargo), { recursive: true, force: true }));
  const pool: AgentProc[] = [];
  for (const name of ['agent-pool-bench1', 'agent-pool-bench2']) {
    const port = await freePort();
    cleanups.push(() => stopSccache(port));
    const a = await sweptOnFailure(`raibid-${name}-`, () => true, () => startAgentProcess(redis, gitea.url, { pool: 'pool', name, yaml: YAML, caches: pickupCaches, env: { SCCACHE_SERVER_PORT: String(port) } }));
    agents.push(a);
    pool.push(a);
    cleanups.push(() => stopAgent(a));
  }
  for (const a of pool) {
    for (let i = 0; ; i++) {
      if ((await fetch(`${a.healthUrl}/readyz`).catch(() => undefined))?.ok) break;
      if (i > 200) throw new Error(`${a.name} did not become ready\n${a.output()}`);
      await sleep(50);
    }
  }
  const pickupRepo = await gitea.addRepo('bench', 'pickup', { '.raibid.yaml': 'pool: pool\nsteps:\n  - name: run\n    command: "true"\n' });
  // Warm-up: one job per slot (starts each agent's sccache server, warms the JIT on both sides).
  await waitFinished(await Promise.all(Array.from({ length: 8 }, (_, i) => trigger('bench', 'pickup', pickupRepo.sha, `refs/heads/warm-${i}`))), 60_000);

  const sent: { id: string; sentAt: number; okAt: number }[] = [];
  const pickupStart = Date.now();
  let nextJob = 0;
  await Promise.all(
    Array.from({ length: PICKUP_IN_FLIGHT }, async () => {
      while (nextJob < PICKUP_JOBS && Date.now() - pickupStart < PICKUP_BUDGET_MS) {
        const d = deliveryFor(gitea.url, 'bench', 'pickup', pickupRepo.sha, `refs/heads/pickup-${nextJob++}`);
        const sentAt = Date.now();
        const r = await deliver(apiCached.url, d);
        const okAt = Date.now();
        if (r.status !== 202 || !r.body.id) throw new Error(`pickup webhook answered ${r.status}: ${JSON.stringify(r.body)}`);
        sent.push({ id: r.body.id, sentAt, okAt });
        await waitFinished([r.body.id], 60_000);
      }
    }),
  );
  const pickupSeconds = (Date.now() - pickupStart) / 1000;
  const pickupRecords = await waitFinished(sent.map((s) => s.id), 60_000);
  const toStarted: number[] = [];
  const toFirstStep: number[] = [];
  const toCommand: number[] = [];
  const queued: number[] = [];
  const answered: number[] = [];
  const runtimes: number[] = [];
  let failed = 0;
  for (const [i, s] of sent.entries()) {
    const rec = pickupRecords[i];
    if (rec.status !== 'success') failed++;
    const log = await store.readLog(s.id);
    const first = log.find((e) => e.kind === 'step');
    const cmd = log.find((e) => e.kind === 'step' && e.step === 'run');
    if (rec.startedAt !== undefined) toStarted.push(rec.startedAt - s.okAt);
    if (rec.startedAt !== undefined) queued.push(rec.startedAt - rec.createdAt);
    if (first) toFirstStep.push(first.time - s.okAt);
    if (cmd) toCommand.push(cmd.time - s.okAt);
    answered.push(s.okAt - s.sentAt);
    if (rec.startedAt !== undefined && rec.finishedAt !== undefined) runtimes.push(rec.finishedAt - rec.startedAt);
  }
  // Most jobs running at once: whether the agents' 8 slots ever filled up (then pickup includes queueing).
  const edges = pickupRecords.flatMap((r) => (r.startedAt !== undefined && r.finishedAt !== undefined ? [[r.startedAt, 1] as const, [r.finishedAt, -1] as const] : [])).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let running = 0;
  let peak = 0;
  for (const [, d] of edges) peak = Math.max(peak, (running += d));
  const p3 = (xs: number[]) => `p50 ${ms(pct(xs, 50)).padStart(8)}  p95 ${ms(pct(xs, 95)).padStart(8)}  max ${ms(Math.max(...xs)).padStart(8)}`;
  console.log(`  ${sent.length} jobs in ${pickupSeconds.toFixed(0)} s (${(sent.length / pickupSeconds).toFixed(1)}/s)`);
  console.log(`  webhook sent → 2xx                                       ${p3(answered)}`);
  console.log(`  job created (API) → agent started it (record.startedAt)  ${p3(queued)}`);
  console.log(`  2xx → agent started it (record.startedAt)                ${p3(toStarted)}`);
  console.log(`  2xx → first step entry (checkout starts)                 ${p3(toFirstStep)}`);
  console.log(`  2xx → step entry of the pipeline's command ("true")      ${p3(toCommand)}   (after checkout + sccache --zero-stats)`);
  console.log(`  job run time (startedAt → finishedAt)                    ${p3(runtimes)}   most jobs at once: ${peak} of 8 slots; ${failed} not successful`);
  console.log('  for scale: act_runner polls every 2 s (mean wait ~1 s before a job is even seen)');
  summary.push({ goal: `pickup p95: 2xx → first step entry (${sent.length} jobs)`, target: '≤ 200 ms', measured: ms(pct(toFirstStep, 95)), pass: pct(toFirstStep, 95) <= 200 });
  summary.push({ goal: '  2xx → pipeline command starts, p95', target: '≤ 200 ms', measured: ms(pct(toCommand, 95)), pass: pct(toCommand, 95) <= 200 });
  for (const a of pool) await stopAgent(a);

  // =================================================================================================
  // 3. Warm vs cold build
  // =================================================================================================
  const fixture = cargoWorkspace(CRATES, MODULES);
  const rustLines = Object.entries(fixture).filter(([p]) => p.endsWith('.rs')).reduce((s, [, t]) => s + t.split('\n').length, 0);
  console.log(`\n[3] warm vs cold build: a Cargo workspace of ${CRATES} library crates (path dependencies) + 1 binary, ${rustLines} lines of Rust; step: cargo build; one agent, slots 1, CARGO_BUILD_JOBS from the manifest`);
  const buildCaches = sharedCaches();
  cleanups.push(() => rmSync(dirname(buildCaches.cargo), { recursive: true, force: true }));
  const sccachePort = await freePort();
  cleanups.push(() => stopSccache(sccachePort));
  const builder = await sweptOnFailure('raibid-agent-build-bench1-', () => true, () => startAgentProcess(redis, gitea.url, { pool: 'build', name: 'agent-build-bench1', yaml: YAML, caches: buildCaches, env: { SCCACHE_SERVER_PORT: String(sccachePort) } }));
  agents.push(builder);
  cleanups.push(() => stopAgent(builder));
  const cargoRepo = await gitea.addRepo('bench', 'cargo', { ...fixture, '.raibid.yaml': 'pool: build\nsteps:\n  - name: build\n    command: cargo build\n' });
  // Diagnostic: the same build copied to a fixed folder first, so consecutive jobs compile at the same path.
  const stableCommand = 'S="$CARGO_HOME/../stable-checkout"; rm -rf "$S" && mkdir -p "$S" && cp -a . "$S/" && cd "$S" && cargo build';
  const stableRepo = await gitea.addRepo('bench', 'cargo-stable', { ...fixture, '.raibid.yaml': `pool: build\nsteps:\n  - name: build\n    command: ${JSON.stringify(stableCommand)}\n` });
  const build = async (repo: string, sha: string, label: string) => {
    const [r] = await waitFinished([await trigger('bench', repo, sha, `refs/heads/${label}`)], 600_000);
    const step = r.steps.find((s) => s.name === 'build');
    if (r.status !== 'success' || !step) {
      const tail = (await store.readLog(r.id)).slice(-15).map((e) => `${e.step} ${e.text}`).join('\n');
      throw new Error(`${label} build: ${r.status} ${r.reason ?? ''}\n${tail}`);
    }
    const line = `  ${pad(label, 34)} step ${secs(step.durationMs).padStart(8)}   job ${secs((r.finishedAt ?? 0) - (r.startedAt ?? 0)).padStart(8)}   sccache hits ${r.cache?.hits ?? 'n/a'}, misses ${r.cache?.misses ?? 'n/a'}${r.cache?.hitRate != null ? ` (${(r.cache.hitRate * 100).toFixed(0)}% hits)` : ''}`;
    console.log(line);
    return { step: step.durationMs, cache: r.cache };
  };
  // "Cold" means empty caches, not a toolchain still on disk: load rustc and std into the page cache first
  // with a tiny crate built outside the agent (its own CARGO_HOME and target, no sccache).
  const scratch = mkdtempSync(join(tmpdir(), 'raibid-bench-rustc-'));
  try {
    mkdirSync(join(scratch, 'src'));
    writeFileSync(join(scratch, 'Cargo.toml'), '[package]\nname = "warmup"\nversion = "0.1.0"\nedition = "2021"\n');
    writeFileSync(join(scratch, 'src', 'main.rs'), 'use std::collections::HashMap;\nfn main() {\n    let m: HashMap<String, Vec<u64>> = HashMap::new();\n    println!("{}", m.len());\n}\n');
    spawnSync('cargo', ['build', '-q'], { cwd: scratch, stdio: 'ignore', timeout: 120_000, env: { ...process.env, CARGO_HOME: join(scratch, 'cargo-home'), RUSTUP_HOME: process.env.RUSTUP_HOME ?? join(homedir(), '.rustup'), PATH: `${join(homedir(), '.cargo', 'bin')}:${process.env.PATH ?? ''}`, RUSTC_WRAPPER: '' } });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const cold = await build('cargo', cargoRepo.sha, 'cold (empty CARGO_HOME, SCCACHE_DIR)');
  const warm = await build('cargo', cargoRepo.sha, 'warm (new job, fresh checkout)');
  const stable1 = await build('cargo-stable', stableRepo.sha, 'fixed path, 1st (diagnostic)');
  const stable2 = await build('cargo-stable', stableRepo.sha, 'fixed path, 2nd (diagnostic)');
  const speedup = cold.step / warm.step;
  const hitRate = warm.cache?.hitRate ?? 0;
  console.log(`  warm speed-up ${times(speedup)}, warm sccache hit rate ${(hitRate * 100).toFixed(0)}%`);
  console.log(`  diagnostic, same path both times: speed-up ${times(stable1.step / stable2.step)}, hit rate ${(((stable2.cache?.hitRate ?? 0) as number) * 100).toFixed(0)}%`);
  summary.push({ goal: 'warm build speed-up (cold / warm step)', target: '≥ 3× (plan 2–5×)', measured: times(speedup), pass: speedup >= 3 });
  summary.push({ goal: 'warm build sccache hit rate', target: '≥ 90% (plan > 70%)', measured: `${(hitRate * 100).toFixed(0)}%`, pass: hitRate >= 0.9 });
  summary.push({ goal: '  diagnostic: fixed build path speed-up / hits', target: 'info', measured: `${times(stable1.step / stable2.step)} / ${(((stable2.cache?.hitRate ?? 0) as number) * 100).toFixed(0)}%` });

  // =================================================================================================
  // 4. Log streaming overhead
  // =================================================================================================
  console.log(`\n[4] log streaming: a step printing ${LOG_LINES.toLocaleString('en')} lines, streamed to Redis vs > /dev/null; step durations, median of ${LOG_REPS}`);
  const variants = [
    { key: 'loop', label: 'shell loop, 56-byte lines', command: `i=1; while [ $i -le ${LOG_LINES} ]; do echo "line $i: the quick brown fox jumps over the lazy dog"; i=$((i+1)); done`, line: (k: number) => `line ${k}: the quick brown fox jumps over the lazy dog` },
    { key: 'seq', label: `seq 1 ${LOG_LINES} (output costs nothing)`, command: `seq 1 ${LOG_LINES}`, line: (k: number) => String(k) },
  ];
  const logRepos = new Map<string, string>();
  for (const v of variants)
    for (const mode of ['stream', 'null'] as const) {
      const command = mode === 'stream' ? v.command : v.key === 'seq' ? `${v.command} > /dev/null` : `{ ${v.command}; } > /dev/null`;
      const { sha } = await gitea.addRepo('bench', `logs-${v.key}-${mode}`, { '.raibid.yaml': `pool: build\nsteps:\n  - name: print\n    command: ${JSON.stringify(command)}\n` });
      logRepos.set(`${v.key}-${mode}`, sha);
    }
  const printJob = async (key: string, mode: 'stream' | 'null', rep: number) => {
    const [r] = await waitFinished([await trigger('bench', `logs-${key}-${mode}`, logRepos.get(`${key}-${mode}`)!, `refs/heads/logs-${key}-${mode}-${rep}`)], 120_000);
    const step = r.steps.find((s) => s.name === 'print');
    if (r.status !== 'success' || !step) throw new Error(`log job ${key}-${mode}: ${r.status} ${r.reason ?? ''}`);
    return { id: r.id, ms: step.durationMs };
  };
  /** Lines of the `print` step in the API's text log, and whether they are exactly the lines printed, in order. */
  const storedLines = async (id: string, line: (k: number) => string) => {
    const res = await http('GET', `${api.url}/api/v1/jobs/${id}/logs`, { authorization: `Bearer ${ADMIN_TOKEN}` });
    let count = 0;
    let inOrder = true;
    let first: string | undefined;
    for (const l of res.text.split('\n')) {
      const m = /^\S+ \[print\] (.*)$/.exec(l);
      if (!m) continue;
      count++;
      first ??= m[1];
      if (inOrder && m[1] !== line(count)) inOrder = false;
    }
    // Entries of the job's log stream (each a batch of lines); the stream is capped at LOG_MAX_ENTRIES.
    const entries = await conn.xlen(logKey(id));
    return { count, inOrder, first, entries, complete: count === LOG_LINES && inOrder };
  };
  for (const v of variants) {
    const streamed: number[] = [];
    const discarded: number[] = [];
    const streamedJobs: string[] = [];
    for (let rep = 0; rep < LOG_REPS; rep++) {
      // Alternate the order, so neither mode always runs first.
      for (const mode of rep % 2 === 0 ? (['stream', 'null'] as const) : (['null', 'stream'] as const)) {
        const j = await printJob(v.key, mode, rep);
        (mode === 'stream' ? streamed : discarded).push(j.ms);
        if (mode === 'stream') streamedJobs.push(j.id);
      }
    }
    const stored = [];
    for (const id of streamedJobs) stored.push(await storedLines(id, v.line));
    const complete = stored.filter((x) => x.complete).length;
    const ratio = median(streamed) / median(discarded);
    const perLine = ((median(streamed) - median(discarded)) * 1000) / LOG_LINES;
    console.log(`  ${pad(v.label, 42)} streamed ${secs(median(streamed)).padStart(8)}  discarded ${secs(median(discarded)).padStart(8)}  ratio ${times(ratio).padStart(7)}  (+${perLine.toFixed(2)} µs/line)   runs: ${streamed.join('/')} vs ${discarded.join('/')} ms`);
    console.log(`  ${pad('', 42)} stored logs (API text log): ${stored.map((x) => x.count.toLocaleString('en')).join(' / ')} lines; complete and in order in ${complete} of ${stored.length}${complete < stored.length ? ` (first stored line: ${stored.map((x) => JSON.stringify(x.first ?? '')).join(' / ')})` : ''}; log entries ${stored.map((x) => x.entries).join(' / ')} (cap ${LOG_MAX_ENTRIES})`);
    if (v.key === 'loop') summary.push({ goal: 'log streaming: streamed / discarded (shell loop)', target: '≤ 1.1×', measured: times(ratio), pass: ratio <= 1.1 });
    else summary.push({ goal: '  same with seq (producer costs ~nothing)', target: 'info', measured: `${times(ratio)} (+${perLine.toFixed(2)} µs/line)` });
    summary.push({ goal: `  stored log has all ${LOG_LINES.toLocaleString('en')} lines (${v.key})`, target: `${stored.length} of ${stored.length} runs`, measured: `${complete} of ${stored.length} (fewest: ${Math.min(...stored.map((x) => x.count)).toLocaleString('en')} lines)`, pass: complete === stored.length });
  }

  // =================================================================================================
  console.log(`\nsummary (load average at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}; ${((performance.now() - t0) / 1000).toFixed(0)} s; a MISS does not fail the run)`);
  const w = [Math.max(...summary.map((r) => r.goal.length)), Math.max(...summary.map((r) => r.target.length)), Math.max(...summary.map((r) => r.measured.length))];
  console.log(`  ${pad('goal', w[0])}  ${pad('target', w[1])}  ${pad('measured', w[2])}  result`);
  for (const r of summary) console.log(`  ${pad(r.goal, w[0])}  ${pad(r.target, w[1])}  ${pad(r.measured, w[2])}  ${r.pass === undefined ? '-' : r.pass ? 'PASS' : 'MISS'}`);
}

process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));
process.once('SIGTERM', () => void cleanup().finally(() => process.exit(143)));
try {
  await main();
} catch (e) {
  console.error(`runtime bench failed: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
} finally {
  await cleanup();
  httpAgent.destroy();
}
// Everything above is closed; anything left (an ioredis reconnect timer) must not keep the process alive.
setTimeout(() => process.exit(), 500).unref();
